# shellcheck shell=bash
# Helpers sourced by the scripts in scripts/ (never executed on its own).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides: REPO, STATE_DIR, DOCKER_SOCK, step/info/warn/die, as_root, apt_ensure,
# docker_ping, wait_for_docker, debian_mirror, elapsed.

if [[ -n "${_CLAWTUI_LIB_SOURCED:-}" ]]; then
    return 0
fi
_CLAWTUI_LIB_SOURCED=1

# shellcheck disable=SC2034 # used by the scripts that source this file
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC2034
STATE_DIR="${XDG_STATE_HOME:-$HOME/.local/state}/clawtui"
DOCKER_SOCK="${CLAWTUI_DOCKER_SOCK:-/var/run/docker.sock}"
export DEBIAN_FRONTEND=noninteractive
# sbin directories are not on a non-login PATH everywhere; dockerd lives in /usr/sbin.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;; esac

_prog="$(basename "${0:-clawtui}")"

# No silent exits: with `set -e`, a failing command ends the script. This trap says which command
# failed, where, and with what status, before the shell exits. -E passes the trap into functions
# and subshells. Inside a command substitution errexit is off, so only the outer failure reports.
set -E
_clawtui_on_err() {
    local rc=$1 cmd=$2
    [[ $- == *e* ]] || return 0 # the caller handles the status itself (set +e, if, ||)
    printf 'ERROR [%s]: command failed with exit %s at %s:%s: %s\n' \
        "$_prog" "$rc" "${BASH_SOURCE[1]:-$0}" "${BASH_LINENO[0]:-?}" "$cmd" >&2
    printf '  fix: read the output above for the cause; rerun with "bash -x %s" to trace it\n' \
        "${BASH_SOURCE[-1]:-$0}" >&2
    printf '  fix: if this is a bug in the script, please report the line above\n' >&2
}
trap '_clawtui_on_err "$?" "$BASH_COMMAND"' ERR

step() { printf '==> [%s] %s\n' "$_prog" "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING [%s]: %s\n' "$_prog" "$*" >&2; }
# die MESSAGE [FIX...]: print the error and how to fix it, then exit 1.
die() {
    printf 'ERROR [%s]: %s\n' "$_prog" "$1" >&2
    shift
    local line
    for line in "$@"; do printf '  fix: %s\n' "$line" >&2; done
    exit 1
}
# elapsed START_SECONDS -> "12s"
elapsed() { printf '%ss' "$((SECONDS - $1))"; }

# Run a command as root (directly when we are root, else through sudo).
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" || die "'sudo $*' failed" "run this script as root, or allow passwordless sudo"
    else
        die "'$*' needs root and sudo is not installed" "run this script as root"
    fi
}

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# apt_ensure PKG...: install the packages that are missing, with at most one apt-get update.
# Services shipped by the packages (sshd, dockerd) are not started by the install: a temporary
# policy-rc.d refuses it (there is no init system here; ensure-docker starts dockerd itself).
apt_ensure() {
    local missing=() p installed
    # One dpkg-query for all packages (arch-qualified names are printed without the ":arch").
    # dpkg-query exits 1 when it has never heard of one of the names (a package that was never
    # installed, e.g. docker.io on a fresh machine): that is an answer here, not an error.
    installed=" $({ dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true; } |
        awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }' | tr '\n' ' ') "
    for p in "$@"; do [[ "$installed" == *" $p "* ]] || missing+=("$p"); done
    if ((${#missing[@]} == 0)); then
        info "apt packages already installed: $*"
        return 0
    fi
    info "missing apt packages: ${missing[*]} (of $#)"
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages ${missing[*]} and apt-get is not available" \
            "install them by hand (this project targets Debian 12 bookworm)"
    local t0=$SECONDS
    local apt_opts=(-y -q -o DPkg::Lock::Timeout=300
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if [[ -z "${_CLAWTUI_APT_UPDATED:-}" ]]; then
        step "apt-get update (missing: ${missing[*]})"
        as_root apt-get -q -o DPkg::Lock::Timeout=300 update ||
            die "apt-get update failed" "check the network and /etc/apt/sources.list*"
        _CLAWTUI_APT_UPDATED=1
    fi
    step "apt-get install ${missing[*]}"
    local policy="${CLAWTUI_POLICY_RC_D:-/usr/sbin/policy-rc.d}" own_policy=""
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        own_policy=1
    fi
    local rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" \
        --no-install-recommends "${missing[@]}" || rc=$?
    [[ -n "$own_policy" ]] && as_root rm -f "$policy"
    ((rc == 0)) || die "apt-get install ${missing[*]} failed (exit $rc)" \
        "read the apt output above; 'apt-get -f install' repairs a half-done install"
    info "installed ${missing[*]} in $(elapsed "$t0")"
}

# docker_ping: true when the Docker engine answers on $DOCKER_SOCK.
docker_ping() {
    [[ -S "$DOCKER_SOCK" ]] || return 1
    if command -v curl >/dev/null 2>&1; then
        [[ "$(curl -fsS --max-time 5 --unix-socket "$DOCKER_SOCK" http://x/_ping 2>/dev/null)" == OK ]]
    else
        docker -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1
    fi
}

# progress N MESSAGE: on a terminal, rewrite one status line; in logs (CI), print every 5th call.
progress() {
    if [[ -t 1 ]]; then
        printf '\r    %s ' "$2"
    elif (($1 % 5 == 0)); then
        printf '    %s\n' "$2"
    fi
}
progress_end() { if [[ -t 1 ]]; then printf '\n'; fi; }

# wait_for_docker SECONDS: poll /_ping, printing progress; returns 1 on timeout.
wait_for_docker() {
    local limit=$1 t0=$SECONDS n=0
    while ! docker_ping; do
        if ((SECONDS - t0 >= limit)); then
            progress_end
            return 1
        fi
        progress "$n" "waiting for the Docker engine on $DOCKER_SOCK ... $((SECONDS - t0))s"
        n=$((n + 1))
        sleep 1
    done
    ((n > 0)) && progress_end
    info "Docker engine answers on $DOCKER_SOCK (after $(elapsed "$t0"))"
}

# docker_server_version: the daemon's version string (via the socket, client-independent).
docker_server_version() {
    { curl -fsS --max-time 5 --unix-socket "$DOCKER_SOCK" http://x/version 2>/dev/null || true; } |
        sed -n 's/.*"Version":"\([^"]*\)".*/\1/p' | head -n1
}

# debian_mirror: the Debian archive URL this machine's apt uses (for debootstrap).
# CLAWTUI_DEBIAN_MIRROR overrides. deb822 (*.sources) first, then one-line sources.list.
debian_mirror() {
    if [[ -n "${CLAWTUI_DEBIAN_MIRROR:-}" ]]; then
        printf '%s\n' "${CLAWTUI_DEBIAN_MIRROR%/}"
        return 0
    fi
    local files=() f url=""
    for f in /etc/apt/sources.list.d/*.sources; do [[ -f "$f" ]] && files+=("$f"); done
    if ((${#files[@]})); then
        # Pick a "deb" stanza whose Suites has a plain codename (bookworm preferred over
        # bookworm-updates / -security) and whose Components has main; print its first URI.
        url="$(awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && comps ~ /(^| )main( |$)/ && uris != "") {
                    split(uris, u, " ")
                    if (suites ~ /(^| )bookworm( |$)/ && best == "") best = u[1]
                    else if (other == "") {
                        n = split(suites, s, " ")
                        for (i = 1; i <= n; i++) if (s[i] ~ /^[a-z]+$/) { other = u[1]; break }
                    }
                }
                types = uris = suites = comps = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                line = $0; key = tolower(line); sub(/:.*/, "", key)
                val = line; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "components") comps = val
            }
            END { flush(); if (best != "") print best; else if (other != "") print other }
        ' "${files[@]}")"
    fi
    if [[ -z "$url" ]]; then
        files=()
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -f "$f" ]] && files+=("$f")
        done
        if ((${#files[@]})); then
            url="$(sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+bookworm[[:space:]].*\bmain\b.*/\2/p' \
                "${files[@]}" | head -n1 || true)"
        fi
    fi
    case "$url" in
        http://* | https://* | file:/*) printf '%s\n' "${url%/}" ;;
        *) return 1 ;;
    esac
}

#!/bin/bash
# clawtui-export-env [OUTPUT]: write part of this process's environment as a profile.d script.
#
# Docker passes `-e` variables to PID 1 and its children, not to the sessions sshd starts, so a
# developer's login shell would never see the credential broker (seed 000, "CRITICAL: Docker ENV
# vars are NOT inherited by SSH sessions"). The entrypoint runs this at every container start.
#
# Exported, when set: CREDENTIAL_BROKER_URL, BROKER_SECRET, every GITHUB_* variable, and the
# names listed (separated by spaces or commas) in CLAWTUI_EXPORT_ENV. Names that are not shell
# identifiers, and names that would change how a shell or the loader behaves (PATH, LD_*, ...),
# are skipped with a warning. Values are single-quoted, which any POSIX shell reads back verbatim.
#
# OUTPUT (default /etc/profile.d/00-clawtui-env.sh) is replaced atomically; it may hold secrets,
# so it is 0640, owned root:dev when this runs as root.
set -euo pipefail

out="${1:-/etc/profile.d/00-clawtui-env.sh}"

warn() { printf 'clawtui-export-env: %s\n' "$*" >&2; }

# 'it'"'"'s' style quoting, done with one substitution: every ' becomes '\''.
quote() {
    local value=$1
    printf "'%s'" "${value//\'/\'\\\'\'}"
}

declare -a names=(CREDENTIAL_BROKER_URL BROKER_SECRET)
while IFS= read -r name; do
    names+=("$name")
done < <(compgen -e | LC_ALL=C sort | grep '^GITHUB_' || true)
IFS=', ' read -r -a extra <<<"${CLAWTUI_EXPORT_ENV:-}"
names+=("${extra[@]}")

declare -A seen=()
body=""
for name in "${names[@]}"; do
    [[ -n "$name" && -z "${seen[$name]:-}" ]] || continue
    seen[$name]=1
    if [[ ! "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        warn "skipping '$name': not a variable name"
        continue
    fi
    case "$name" in
        PATH | HOME | USER | LOGNAME | SHELL | PWD | OLDPWD | IFS | ENV | BASH_ENV | PS1 | PS2 | \
            PS4 | PROMPT_COMMAND | TERM | TMUX | TMUX_PANE | SSH_* | LD_* | BASH_FUNC_* | CLAWTUI_*)
            warn "skipping '$name': clawtui does not export it to login shells"
            continue
            ;;
    esac
    [[ -v "$name" ]] || continue
    body+="export ${name}=$(quote "${!name}")"$'\n'
done

dir=$(dirname -- "$out")
tmp=$(mktemp "$dir/.clawtui-env.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
{
    printf '# written by clawtui-export-env at container start, from the container environment\n'
    printf '%s' "$body"
} >"$tmp"
chmod 0640 "$tmp"
if [[ $(id -u) == 0 ]] && getent group dev >/dev/null; then
    chown root:dev "$tmp"
fi
mv -f -- "$tmp" "$out"
trap - EXIT

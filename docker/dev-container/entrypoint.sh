#!/bin/bash
# PID 1 of the clawtui dev container: do what must not be baked into the image, then be sshd.
#
#   1. /home/dev is a named volume that outlives the container: when it did not come filled
#      from the image (an empty volume made elsewhere, a bind mount), give it to `dev` and copy
#      the skeleton, as `dev`, never writing through links the developer could have planted.
#   2. SSH host keys: generated here, so every box has its own (none are in the image), and
#      kept in a volume next to the home, so a re-created box has the same ones.
#   3. Broker variables → /etc/profile.d (clawtui-export-env), so SSH login shells see them.
#   4. Passwordless sudo only when the container was created with CLAWTUI_DEV_SUDO=1.
set -euo pipefail

log() { printf 'clawtui-dev: %s\n' "$*" >&2; }

home=/home/dev
dev_uid=$(id -u dev)

if [[ $(stat -c %u "$home") != "$dev_uid" ]]; then
    log "giving $home to dev (uid $dev_uid)"
    chown -R -h -P dev:dev "$home"
fi
chmod 0755 "$home"
if [[ ! -e "$home/.profile" && ! -L "$home/.profile" ]]; then
    log "copying the skeleton into $home"
    setpriv --reuid=dev --regid=dev --init-groups -- cp -Rn /etc/skel/. "$home/"
    setpriv --reuid=dev --regid=dev --init-groups -- mkdir -p "$home/repos"
fi

# The engine mounts a volume that outlives the container at $keep (root only): keys found
# there are reused, so a box re-created after `dev rm --keep-home` keeps the key that was
# pinned; new ones are saved there. Only regular files are read or written (no links).
keep=/var/lib/clawtui/ssh-host-keys
if [[ -d $keep && ! -L $keep ]]; then
    chown root:root "$keep"
    chmod 0700 "$keep"
    reused=0
    for key in "$keep"/ssh_host_*_key; do
        [[ -f $key && ! -L $key && -f $key.pub && ! -L $key.pub ]] || continue
        base=$(basename "$key")
        install -m 0600 -o root -g root "$key" "/etc/ssh/$base"
        install -m 0644 -o root -g root "$key.pub" "/etc/ssh/$base.pub"
        reused=$((reused + 1))
    done
    ssh-keygen -A >/dev/null
    for key in /etc/ssh/ssh_host_*_key; do
        base=$(basename "$key")
        [[ -e $keep/$base || -L $keep/$base ]] && continue
        install -m 0600 "$key" "$keep/$base"
        install -m 0644 "$key.pub" "$keep/$base.pub"
    done
    if [[ $reused -gt 0 ]]; then
        log "reusing the SSH host keys kept in $keep"
    fi
else
    ssh-keygen -A >/dev/null
fi
log "SSH host key: $(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)"

/usr/local/sbin/clawtui-export-env /etc/profile.d/00-clawtui-env.sh

if [[ ${CLAWTUI_DEV_SUDO:-0} == 1 ]]; then
    tmp=/etc/sudoers.d/.dev.tmp # sudo ignores names with a dot
    printf 'dev ALL=(ALL) NOPASSWD:ALL\n' >"$tmp"
    chmod 0440 "$tmp"
    visudo -cqf "$tmp"
    mv -f "$tmp" /etc/sudoers.d/dev
    log "passwordless sudo is ON for dev"
else
    rm -f /etc/sudoers.d/dev
fi

mkdir -p /run/sshd
chmod 0755 /run/sshd
log "starting sshd"
exec /usr/sbin/sshd -D -e

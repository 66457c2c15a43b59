#!/bin/bash
# PID 1 of the clawtui dev container: do what must not be baked into the image, then be sshd.
#
#   1. /home/dev is a named volume that outlives the container: when it did not come filled
#      from the image (an empty volume made elsewhere, a bind mount), give it to `dev` and copy
#      the skeleton, as `dev`, never writing through links the developer could have planted.
#   2. SSH host keys: generated here, so every container has its own (none are in the image).
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

ssh-keygen -A >/dev/null
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

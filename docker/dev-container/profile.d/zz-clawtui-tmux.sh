# shellcheck shell=sh
# clawtui dev container: every interactive SSH login lands in the tmux session `main`.
# In /etc/profile.d (login shells only), named zz- so the broker variables are set first.
# `exec` replaces the login shell: detaching closes the SSH session cleanly; `-A` attaches to
# `main` when it exists and creates it otherwise. Not inside tmux, not without a terminal
# (`ssh box cmd`, scp, sftp and `ssh -T` keep working).
if [ -n "${SSH_CONNECTION:-}" ] && [ -z "${TMUX:-}" ] && [ -t 0 ] && command -v tmux >/dev/null 2>&1; then
    exec tmux new-session -A -s main
fi

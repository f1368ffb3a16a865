#!/bin/sh
# Runs before the package is removed or upgraded (Debian: prerm; RPM:
# %preun). Stops Hearth only when it is really being removed: on upgrade
# postinstall restarts it. Works without systemd as PID 1.
set -e

removing=no
case "$1" in
  remove|purge|deconfigure) removing=yes ;;   # Debian
  0) removing=yes ;;                           # RPM: no version left
esac
if [ "$removing" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now hearth.service >/dev/null 2>&1 || true
fi
exit 0

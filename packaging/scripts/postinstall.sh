#!/bin/sh
# Runs after the package is installed or upgraded (Debian: postinst
# configure; RPM: %post). It must work in a container or chroot where
# systemd is not PID 1: then it only says how to start Hearth.
set -e

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
  # An upgrade restarts a running Hearth with the new binary; a first
  # install leaves it to the admin, who checks the config and port 53
  # first (systemd-resolved may hold it).
  if systemctl is-active --quiet hearth.service; then
    systemctl try-restart hearth.service || true
  else
    echo "hearth: installed. Check /etc/hearth/hearth.yaml, then: systemctl enable --now hearth"
  fi
else
  echo "hearth: installed (systemd is not running here: start it with hearth serve --config /etc/hearth/hearth.yaml)"
fi
exit 0

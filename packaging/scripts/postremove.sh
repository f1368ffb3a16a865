#!/bin/sh
# Runs after the package is removed (Debian: postrm; RPM: %postun).
# Removal keeps the data in /var/lib/hearth and the config in /etc/hearth;
# only a Debian purge deletes them. Works without systemd as PID 1.
set -e

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
  # DynamicUser keeps the state in /var/lib/private/hearth behind the
  # /var/lib/hearth symlink; without systemd it is a plain directory.
  rm -rf /var/lib/hearth /var/lib/private/hearth
  # dpkg has already deleted the conffile; keep anything else an admin
  # put there (certificates).
  rmdir /etc/hearth 2>/dev/null || true
fi
exit 0

#!/bin/sh
# outpost .deb: stop and disable the unit; the log in /var/lib/outpost stays (remove it by hand).
set -e
if [ -d /run/systemd/system ]; then
	systemctl stop outpost.service >/dev/null 2>&1 || true
	if [ "$1" = remove ] || [ "$1" = purge ]; then
		systemctl disable outpost.service >/dev/null 2>&1 || true
	fi
fi

#!/bin/sh
# outpost .deb: a system user that owns the log, then the unit enabled and (re)started.
set -e
if ! getent passwd outpost >/dev/null; then
	adduser --system --group --home /var/lib/outpost --no-create-home --shell /usr/sbin/nologin \
		--gecos "Outpost edge MQTT broker" outpost >/dev/null
fi
install -d -o outpost -g outpost -m 0750 /var/lib/outpost
chgrp outpost /etc/outpost/outpost.yaml 2>/dev/null || true
chmod 0640 /etc/outpost/outpost.yaml 2>/dev/null || true
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	systemctl enable outpost.service >/dev/null || true
	systemctl restart outpost.service || true
fi

#!/usr/bin/env bash
# Installs the Debian packages the tests use, when this machine can (root + apt-get).
# Tests that need a missing package skip and name it, so a failure here is not fatal.
set -u
want=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
command -v kcat >/dev/null 2>&1 || want+=(kcat)
command -v chromium >/dev/null 2>&1 || want+=(chromium)              # the status page test
command -v qemu-arm-static >/dev/null 2>&1 || want+=(qemu-user-static) # make test-arm
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: not root or no apt-get; tests needing ${want[*]} will skip" >&2
	exit 0
fi
echo "install-deps: apt-get install ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${want[@]}"; } >/tmp/outpost-install-deps.log 2>&1; then
	echo "install-deps: apt-get failed (see /tmp/outpost-install-deps.log); tests needing ${want[*]} will skip" >&2
fi
# The package may start a system broker on 1883; the tests use their own ports, but stop it anyway.
if command -v service >/dev/null 2>&1; then service mosquitto stop >/dev/null 2>&1 || true; fi
exit 0

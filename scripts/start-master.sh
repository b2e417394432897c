#!/usr/bin/env bash
# start-master.sh — starts the Sluice master on this host (see sluice-config.sh
# for the settings) and waits until it listens on SLUICE_MASTER_URL, which
# also means the cluster secret exists (SLUICE_STATE_DIR/secret, made at its
# first start unless SLUICE_SECRET_FILE points elsewhere).
# usage: scripts/start-master.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/sluice-config.sh"
[ $# -eq 0 ] || sluice_die "no arguments expected (settings come from $SLUICE_CONF_DIR)"

if "$SLUICE_SBIN/sluice-daemon.sh" status master >/dev/null; then
	"$SLUICE_SBIN/sluice-daemon.sh" status master
	exit 0
fi
rm -f "$SLUICE_STATE_DIR/master.url"
"$SLUICE_SBIN/sluice-daemon.sh" start master
for ((i = 0; i < 300; i++)); do
	[ -s "$SLUICE_STATE_DIR/master.url" ] && break
	"$SLUICE_SBIN/sluice-daemon.sh" status master >/dev/null ||
		sluice_die "the master exited; see $SLUICE_LOG_DIR/sluice-master.log"
	sleep 0.1
done
[ -s "$SLUICE_STATE_DIR/master.url" ] ||
	sluice_die "the master does not listen after 30 s; see $SLUICE_LOG_DIR/sluice-master.log"
echo "master listening on $(cat "$SLUICE_STATE_DIR/master.url")"

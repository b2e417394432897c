#!/usr/bin/env bash
# cluster-status.sh — shows every Sluice process of the cluster: the master
# on this host, the worker on each host of conf/workers (over ssh; an
# unreachable host is reported), then the master's own view (`sluice
# workers`). Exit status 0 when every process runs.
# usage: scripts/cluster-status.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/sluice-config.sh"
[ $# -eq 0 ] || sluice_die "no arguments expected"
rc=0
"$SLUICE_SBIN/sluice-daemon.sh" status master || rc=1
status_one() { sluice_ssh "$1" "$(sluice_remote_cmd status worker "$1")"; }
sluice_each_host status_one || rc=1
if "$SLUICE_SBIN/sluice-daemon.sh" status master >/dev/null; then
	args=(--master "$SLUICE_MASTER_URL")
	[ ! -f "$SLUICE_CONF_DIR/sluice-defaults.conf" ] ||
		args+=(--properties-file "$SLUICE_CONF_DIR/sluice-defaults.conf")
	mapfile -t -O ${#args[@]} args < <(sluice_tls_conf master)
	"$SLUICE_BIN_DIR/sluice" "${args[@]}" workers || rc=1
fi
exit $rc

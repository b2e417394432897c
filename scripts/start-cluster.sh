#!/usr/bin/env bash
# start-cluster.sh — starts the master on this host, then a worker on every
# host of conf/workers (start-master.sh, then start-workers.sh).
# usage: scripts/start-cluster.sh [--push-certs [DIR]]
# --push-certs copies each host's certificates first (see start-workers.sh)
# and, when DIR is not SLUICE_TLS_DIR, also the master's (ca.pem,
# master.pem, master.key) into this host's SLUICE_TLS_DIR.
# Exit status as start-workers.sh; 1 when the master does not start.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/sluice-config.sh"
if [ "${1:-}" = --push-certs ]; then
	src=${2:-$SLUICE_TLS_DIR}
	if [ "$(realpath -m "$src")" != "$(realpath -m "$SLUICE_TLS_DIR")" ]; then
		(umask 077 && mkdir -p "$SLUICE_TLS_DIR")
		install -m 0644 "$src/ca.pem" "$src/master.pem" "$SLUICE_TLS_DIR/"
		install -m 0600 "$src/master.key" "$SLUICE_TLS_DIR/"
	fi
fi
"$SLUICE_SBIN/start-master.sh"
exec "$SLUICE_SBIN/start-workers.sh" "$@"

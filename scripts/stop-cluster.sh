#!/usr/bin/env bash
# stop-cluster.sh — stops the workers of conf/workers, then this host's
# master (stop-workers.sh, then stop-master.sh). The master is stopped even
# when some worker host cannot be reached; the exit status says so (3).
# usage: scripts/stop-cluster.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/sluice-config.sh"
rc=0
"$SLUICE_SBIN/stop-workers.sh" || rc=$?
"$SLUICE_SBIN/stop-master.sh" || rc=1
exit $rc

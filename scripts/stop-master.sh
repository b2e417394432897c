#!/usr/bin/env bash
# stop-master.sh — stops the Sluice master of this host by its pid file.
# usage: scripts/stop-master.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/sluice-config.sh"
exec "$SLUICE_SBIN/sluice-daemon.sh" stop master

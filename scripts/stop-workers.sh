#!/usr/bin/env bash
# stop-workers.sh — stops the worker on every host of conf/workers (over ssh,
# by its pid file there; hosts in parallel). An unreachable host is reported
# and skipped. Exit status as start-workers.sh.
# usage: scripts/stop-workers.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/sluice-config.sh"
[ $# -eq 0 ] || sluice_die "no arguments expected"
stop_one() { sluice_ssh "$1" "$(sluice_remote_cmd stop worker "$1")"; }
sluice_each_host stop_one

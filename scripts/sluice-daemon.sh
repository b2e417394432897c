#!/usr/bin/env bash
# sluice-daemon.sh — starts, stops or shows one Sluice process on this host.
#
# usage: sluice-daemon.sh start|stop|status master | worker INSTANCE [MASTER_URL]
#
# The per-host half of the launch scripts (like Spark's spark-daemon.sh):
# start-master.sh runs it locally, start-workers.sh over ssh on each worker
# host. The process runs detached (setsid, nohup) with its output in
# SLUICE_LOG_DIR/sluice-ROLE[-INSTANCE].log and its pid in
# SLUICE_PID_DIR/sluice-ROLE[-INSTANCE].pid. INSTANCE is the worker's host as
# written in conf/workers: its listen address, the name of its certificate
# (SLUICE_TLS_DIR/INSTANCE.pem) and its work dir SLUICE_WORKER_DIR/INSTANCE.
#
#   start   starts the process unless its pid file names a live one; fails
#           (with the log's tail) when it exits within its first second
#   stop    SIGTERM, SIGKILL after SLUICE_STOP_TIMEOUT; removes the pid file.
#           Only a pid whose command is the expected binary is signalled
#   status  "running (pid N)" or "not running"; exit 0 only when running
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/sluice-config.sh"

usage() {
	sed -n '4p' "$0" | sed 's/^# //' >&2
	exit 2
}

[ $# -ge 2 ] || usage
action=$1 role=$2
shift 2
case "$role" in
master)
	name=sluice-master
	bin=$SLUICE_BIN_DIR/sluice-master
	;;
worker)
	[ $# -ge 1 ] || usage
	instance=$(sluice_instance "$1")
	host=$1
	shift
	name=sluice-worker-$instance
	bin=$SLUICE_BIN_DIR/sluice-worker
	;;
*) usage ;;
esac
pidfile=$SLUICE_PID_DIR/$name.pid
logfile=$SLUICE_LOG_DIR/$name.log

# live_pid: the pid of the pid file when that process runs our binary.
live_pid() {
	local pid exe
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile" 2>/dev/null || true)
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1 || true)
	[ "$(basename "${exe:-none}")" = "$(basename "$bin")" ] || return 1
	echo "$pid"
}

props_args() {
	[ -f "$SLUICE_CONF_DIR/sluice-defaults.conf" ] || return 0
	printf '%s\n' --properties-file "$SLUICE_CONF_DIR/sluice-defaults.conf"
}

command_line() {
	local -a args
	if [ "$role" = master ]; then
		args=("$bin" --state-dir "$SLUICE_STATE_DIR" --url "$SLUICE_MASTER_URL")
		mapfile -t -O ${#args[@]} args < <(props_args; sluice_tls_conf master)
	else
		local master=${1:-$SLUICE_MASTER_URL}
		case "$master" in
		tls+tcp://*) SLUICE_TRANSPORT=tls ;;
		*) SLUICE_TRANSPORT=tcp ;;
		esac
		args=("$bin" --master "$master" --url "${master%%://*}://$host:$SLUICE_WORKER_PORT"
			--host "$host" --work-dir "$SLUICE_WORKER_DIR/$instance"
			--slots "$SLUICE_WORKER_SLOTS" --memory "$SLUICE_WORKER_MEMORY")
		mapfile -t -O ${#args[@]} args < <(props_args; sluice_tls_conf "$instance")
	fi
	printf '%s\0' "${args[@]}"
}

do_start() {
	local pid
	if pid=$(live_pid); then
		echo "$name already running (pid $pid)"
		return 0
	fi
	[ -x "$bin" ] || sluice_die "$bin not found (set SLUICE_BIN_DIR or build/install Sluice)"
	if [ "$role" = worker ] && [ ! -r "$SLUICE_SECRET_FILE" ]; then
		sluice_die "no cluster secret at $SLUICE_SECRET_FILE (start-workers.sh copies the master's)"
	fi
	mkdir -p "$SLUICE_PID_DIR" "$SLUICE_LOG_DIR"
	local -a cmd
	mapfile -d '' -t cmd < <(command_line "$@")
	echo "$(date -u +%FT%TZ) starting: ${cmd[*]}" >>"$logfile"
	nohup setsid "${cmd[@]}" >>"$logfile" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$pidfile"
	sleep 1
	if ! kill -0 "$pid" 2>/dev/null; then
		rm -f "$pidfile"
		echo "$name exited at start; last lines of $logfile:" >&2
		tail -n 15 "$logfile" >&2
		return 1
	fi
	echo "$name started (pid $pid, log $logfile)"
}

do_stop() {
	local pid i
	if ! pid=$(live_pid); then
		rm -f "$pidfile"
		echo "$name not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < SLUICE_STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$name (pid $pid) did not stop in ${SLUICE_STOP_TIMEOUT}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	echo "$name stopped (pid $pid)"
}

do_status() {
	local pid
	if pid=$(live_pid); then
		echo "$name running (pid $pid, log $logfile)"
		return 0
	fi
	[ -f "$pidfile" ] && echo "$name not running (stale pid file $pidfile)" ||
		echo "$name not running"
	return 3
}

case "$action" in
start) do_start "$@" ;;
stop) do_stop ;;
status) do_status ;;
*) usage ;;
esac

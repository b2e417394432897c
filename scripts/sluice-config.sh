# scripts/sluice-config.sh — the settings every launch script shares (sourced).
#
# The launch scripts (start-cluster.sh, start-master.sh, start-workers.sh,
# their stop-* twins, cluster-status.sh and the per-host sluice-daemon.sh)
# are Sluice's counterpart of Spark's sbin/: the master runs on the host where
# they are called, a worker on every host of conf/workers, reached over ssh at
# the same install path. This file finds the install, reads the
# configuration directory and gives every setting its default, so that all
# scripts, on every host, agree.
#
# Configuration directory (SLUICE_CONF_DIR, default SLUICE_HOME/conf, or
# /etc/sluice for an installed package):
#   workers               worker hosts, one per line; '#' comments, blank lines
#   sluice-env.sh         NAME=value lines (sourced; also read by the systemd
#                         units as an EnvironmentFile, so keep it to plain
#                         assignments)
#   sluice-defaults.conf  properties file passed to every process
#                         (--properties-file)
#
# Settings (environment or sluice-env.sh; defaults in brackets):
#   SLUICE_MASTER_HOST    address the master listens on and workers dial [localhost;
#                         set it to the master's address for more than one host]
#   SLUICE_MASTER_PORT    master RPC port [7077]
#   SLUICE_TRANSPORT      tls or tcp [tls when SLUICE_TLS_DIR/ca.pem exists, else tcp]
#   SLUICE_TLS_DIR        certificates on every host: ca.pem, master.pem/.key,
#                         HOST.pem/.key per worker host [SLUICE_CONF_DIR/tls]
#   SLUICE_STATE_DIR      master state (SQLite, secret) [SLUICE_HOME/state]
#   SLUICE_SECRET_FILE    cluster secret on every host [SLUICE_STATE_DIR/secret]
#   SLUICE_WORKER_DIR     worker work dirs, one per host below it [SLUICE_HOME/work]
#   SLUICE_WORKER_SLOTS   task slots per worker [nproc]
#   SLUICE_WORKER_MEMORY  worker memory budget [1g]
#   SLUICE_WORKER_PORT    worker RPC port [0 = any free]
#   SLUICE_PID_DIR        pid files [/tmp]
#   SLUICE_LOG_DIR        process logs [SLUICE_HOME/logs]
#   SLUICE_SSH_OPTS       extra ssh options (e.g. "-p 2222 -i KEY")
#   SLUICE_SSH_TIMEOUT    ssh ConnectTimeout, seconds [5]
#   SLUICE_SSH_CMD_TIMEOUT  bound on one whole ssh command, seconds [60]
#   SLUICE_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL on stop [15]
#   SLUICE_BIN_DIR        where sluice-master/-worker/sluice are [found]

SLUICE_SBIN=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# An installed copy carries the paths CMake installed to.
if [ -f "$SLUICE_SBIN/install-paths.sh" ]; then
	. "$SLUICE_SBIN/install-paths.sh"
fi
SLUICE_HOME=${SLUICE_HOME:-$(cd "$SLUICE_SBIN/.." && pwd)}
SLUICE_CONF_DIR=${SLUICE_CONF_DIR:-$SLUICE_HOME/conf}

sluice_die() {
	echo "$(basename "$0"): error: $*" >&2
	exit 1
}

if [ -f "$SLUICE_CONF_DIR/sluice-env.sh" ]; then
	set -a
	. "$SLUICE_CONF_DIR/sluice-env.sh"
	set +a
fi

if [ -z "${SLUICE_BIN_DIR:-}" ]; then
	if [ -x "$SLUICE_HOME/build/bin/sluice-master" ]; then
		SLUICE_BIN_DIR=$SLUICE_HOME/build/bin
	elif [ -x "$SLUICE_HOME/bin/sluice-master" ]; then
		SLUICE_BIN_DIR=$SLUICE_HOME/bin
	elif command -v sluice-master >/dev/null; then
		SLUICE_BIN_DIR=$(dirname "$(command -v sluice-master)")
	else
		SLUICE_BIN_DIR=$SLUICE_HOME/bin
	fi
fi
SLUICE_MASTER_HOST=${SLUICE_MASTER_HOST:-localhost}
SLUICE_MASTER_PORT=${SLUICE_MASTER_PORT:-7077}
SLUICE_TLS_DIR=${SLUICE_TLS_DIR:-$SLUICE_CONF_DIR/tls}
if [ -z "${SLUICE_TRANSPORT:-}" ]; then
	SLUICE_TRANSPORT=tcp
	[ -f "$SLUICE_TLS_DIR/ca.pem" ] && SLUICE_TRANSPORT=tls
fi
case "$SLUICE_TRANSPORT" in
tls) SLUICE_SCHEME=tls+tcp ;;
tcp) SLUICE_SCHEME=tcp ;;
*) sluice_die "SLUICE_TRANSPORT must be tls or tcp, got '$SLUICE_TRANSPORT'" ;;
esac
SLUICE_STATE_DIR=${SLUICE_STATE_DIR:-$SLUICE_HOME/state}
SLUICE_SECRET_FILE=${SLUICE_SECRET_FILE:-$SLUICE_STATE_DIR/secret}
SLUICE_WORKER_DIR=${SLUICE_WORKER_DIR:-$SLUICE_HOME/work}
SLUICE_WORKER_SLOTS=${SLUICE_WORKER_SLOTS:-$(nproc)}
SLUICE_WORKER_MEMORY=${SLUICE_WORKER_MEMORY:-1g}
SLUICE_WORKER_PORT=${SLUICE_WORKER_PORT:-0}
SLUICE_PID_DIR=${SLUICE_PID_DIR:-/tmp}
SLUICE_LOG_DIR=${SLUICE_LOG_DIR:-$SLUICE_HOME/logs}
SLUICE_SSH_OPTS=${SLUICE_SSH_OPTS:-}
SLUICE_SSH_TIMEOUT=${SLUICE_SSH_TIMEOUT:-5}
SLUICE_SSH_CMD_TIMEOUT=${SLUICE_SSH_CMD_TIMEOUT:-60}
SLUICE_STOP_TIMEOUT=${SLUICE_STOP_TIMEOUT:-15}
SLUICE_MASTER_URL=$SLUICE_SCHEME://$SLUICE_MASTER_HOST:$SLUICE_MASTER_PORT
export SLUICE_SECRET_FILE

# sluice_hosts: the hosts of conf/workers (SLUICE_WORKERS_FILE), one per line.
sluice_hosts() {
	local f=${SLUICE_WORKERS_FILE:-$SLUICE_CONF_DIR/workers}
	[ -f "$f" ] || sluice_die "no workers file $f (one host per line; see conf/workers.template)"
	sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$f" | grep -v '^$' || true
}

# sluice_instance HOST: the name of HOST's pid file, log and work dir.
sluice_instance() {
	printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'
}

# sluice_ssh HOST CMD...: runs CMD on HOST, never prompting, bounded. Exit
# status 255 means HOST could not be reached.
sluice_ssh() {
	local host=$1
	shift
	# shellcheck disable=SC2086 # SLUICE_SSH_OPTS is a list of options
	timeout -k 5 "$SLUICE_SSH_CMD_TIMEOUT" ssh -n -o BatchMode=yes \
		-o ConnectTimeout="$SLUICE_SSH_TIMEOUT" $SLUICE_SSH_OPTS "$host" "$@"
}

# sluice_ssh_in HOST CMD...: like sluice_ssh, with this script's stdin.
sluice_ssh_in() {
	local host=$1
	shift
	# shellcheck disable=SC2086
	timeout -k 5 "$SLUICE_SSH_CMD_TIMEOUT" ssh -o BatchMode=yes \
		-o ConnectTimeout="$SLUICE_SSH_TIMEOUT" $SLUICE_SSH_OPTS "$host" "$@"
}

# sluice_remote_cmd ACTION ARGS...: the shell command that runs
# sluice-daemon.sh ACTION ARGS on another host, same install path and the
# same configuration directory.
sluice_remote_cmd() {
	printf 'SLUICE_CONF_DIR=%q %q' "$SLUICE_CONF_DIR" "$SLUICE_SBIN/sluice-daemon.sh"
	printf ' %q' "$@"
}

# sluice_each_host FN: runs FN HOST for every worker host in parallel, each
# one's output prefixed with the host, in conf/workers order. Returns 0 when
# FN succeeded everywhere, 3 when it only failed with 255 (host unreachable:
# reported and skipped), 1 when it failed otherwise on any host.
sluice_each_host() {
	local fn=$1 tmp rc=0 i=0 h r
	local hosts=() f=${SLUICE_WORKERS_FILE:-$SLUICE_CONF_DIR/workers}
	[ -f "$f" ] || sluice_die "no workers file $f (one host per line; see conf/workers.template)"
	mapfile -t hosts < <(sluice_hosts)
	[ ${#hosts[@]} -gt 0 ] || sluice_die "no hosts in ${SLUICE_WORKERS_FILE:-$SLUICE_CONF_DIR/workers}"
	tmp=$(mktemp -d)
	for h in "${hosts[@]}"; do
		(
			r=0
			"$fn" "$h" >"$tmp/$i.out" 2>&1 </dev/null || r=$?
			echo $r >"$tmp/$i.rc"
		) &
		i=$((i + 1))
	done
	wait
	i=0
	for h in "${hosts[@]}"; do
		sed "s|^|$h: |" "$tmp/$i.out"
		r=$(cat "$tmp/$i.rc")
		if [ "$r" = 255 ]; then
			echo "$h: unreachable over ssh: skipped"
			[ $rc = 1 ] || rc=3
		elif [ "$r" != 0 ]; then
			rc=1
		fi
		i=$((i + 1))
	done
	rm -rf "$tmp"
	return $rc
}

# sluice_tls_conf NAME: the --conf arguments giving a process the TLS files
# of NAME (none for plain tcp).
sluice_tls_conf() {
	[ "$SLUICE_TRANSPORT" = tls ] || return 0
	printf '%s\n' --conf "sluice.tls.cert=$SLUICE_TLS_DIR/$1.pem" \
		--conf "sluice.tls.key=$SLUICE_TLS_DIR/$1.key" \
		--conf "sluice.tls.ca=$SLUICE_TLS_DIR/ca.pem"
}

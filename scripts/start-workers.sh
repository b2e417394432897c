#!/usr/bin/env bash
# start-workers.sh — starts a Sluice worker on every host of conf/workers.
#
# usage: scripts/start-workers.sh [--push-certs [DIR]]
#
# Each host is reached with ssh (BatchMode: keys only, never a prompt;
# ConnectTimeout SLUICE_SSH_TIMEOUT) at the same install path, all hosts in
# parallel. On each one: the master's cluster secret is copied to
# SLUICE_SECRET_FILE (mode 0600, through ssh), then sluice-daemon.sh starts
# the worker, dialling SLUICE_MASTER_URL and listening on the host's own
# address. A host that cannot be reached is reported and skipped.
#
# --push-certs [DIR]  first copy ca.pem, HOST.pem and HOST.key from DIR
#                     (certificates made by scripts/gen-certs.sh; default
#                     SLUICE_TLS_DIR) to SLUICE_TLS_DIR on each host. ca.key
#                     is never copied.
#
# Exit status: 0 all started, 3 only unreachable hosts were skipped, 1 a
# worker failed to start on a reachable host.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/sluice-config.sh"

push=""
while [ $# -gt 0 ]; do
	case "$1" in
	--push-certs)
		push=$SLUICE_TLS_DIR
		if [ $# -ge 2 ] && [ "${2#-}" = "$2" ]; then
			push=$2
			shift
		fi
		;;
	*) sluice_die "unknown argument '$1' (usage: start-workers.sh [--push-certs [DIR]])" ;;
	esac
	shift
done
[ -r "$SLUICE_SECRET_FILE" ] ||
	sluice_die "no cluster secret at $SLUICE_SECRET_FILE: start the master first (start-master.sh)"

push_certs() { # push_certs HOST
	local name
	name=$(sluice_instance "$1")
	for f in ca.pem "$name.pem" "$name.key"; do
		[ -f "$push/$f" ] || {
			echo "no $push/$f (make it with: scripts/gen-certs.sh $push $name:ADDRESS)" >&2
			return 1
		}
	done
	tar -C "$push" -cf - ca.pem "$name.pem" "$name.key" |
		sluice_ssh_in "$1" "$(printf 'set -e; umask 077; mkdir -p %q; t=$(mktemp -d %q/.push.XXXXXX); tar -C "$t" -xf -; chmod 0644 "$t"/*.pem; mv -f "$t"/* %q/; rmdir "$t"' \
			"$SLUICE_TLS_DIR" "$SLUICE_TLS_DIR" "$SLUICE_TLS_DIR")" || return
	echo "certificates copied to $SLUICE_TLS_DIR"
}

push_secret() { # push_secret HOST
	sluice_ssh_in "$1" "$(printf 'set -e; umask 077; mkdir -p %q; t=$(mktemp %q.XXXXXX); cat >"$t"; mv -f "$t" %q' \
		"$(dirname "$SLUICE_SECRET_FILE")" "$SLUICE_SECRET_FILE" "$SLUICE_SECRET_FILE")" \
		<"$SLUICE_SECRET_FILE"
}

start_one() { # start_one HOST
	if [ -n "$push" ]; then
		push_certs "$1" || return
	fi
	push_secret "$1" || return
	sluice_ssh "$1" "$(sluice_remote_cmd start worker "$1" "$SLUICE_MASTER_URL")"
}

sluice_each_host start_one

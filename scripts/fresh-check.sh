#!/usr/bin/env bash
# fresh-check.sh — proves that the README's two commands work on a fresh Debian 12.
#
# usage: scripts/fresh-check.sh [--reuse] [--keep] [--work DIR] [--log FILE] [--only demo|test]
#
# A developer's machine cannot show that scripts/setup.sh is complete: what
# was installed by hand earlier hides every gap. This script builds a minimal
# Debian 12 root with Debian's debootstrap (--variant=minbase), adds only git
# and ca-certificates (to get the code), clones the repository's committed
# HEAD into /root/sluice and runs, inside a chroot, as root:
#     scripts/demo.sh      (timeout 45 min)
#     scripts/test.sh      (timeout 120 min)
# Everything else either command needs must come from scripts/setup.sh.
# Each runs with /proc, /sys, /dev, /dev/pts, /dev/shm and a tmpfs /run
# mounted (so `ip netns` works), in private mount and PID namespaces: on any
# exit, timeout or kill the mounts and every process started inside are gone
# (see scripts/lib/chroot.sh). Uncommitted changes are NOT tested.
#
# Options:
#   --reuse      start from the cached base root (WORK/base) when there is one
#                instead of running debootstrap again (saves ~3 minutes);
#                made and saved when missing
#   --keep       keep the base root in WORK/base and the tested root in
#                WORK/root afterwards (for inspection); default: delete both
#                roots except an existing cache
#   --work DIR   where the roots live (default /var/tmp/sluice-fresh-check)
#   --log FILE   full log (default WORK/fresh-check-DATE.log)
#   --only CMD   run only demo or only test
#
# Output: a PASS/FAIL line per command with its exit status, duration and, on
# failure, the last step it printed ("== ...") and any failed ctest tests; the
# same summary ends the log. Exit status 0 only when every command passed.
# The Kafka tests in the chroot use broker ports 21592/21692
# (SLUICE_TEST_KAFKA_PORT) so that they do not meet a broker of the host's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
prog=fresh-check
. scripts/lib/chroot.sh

usage() {
	sed -n '4p' "$0" | sed 's/^# //' >&2
	exit 2
}

reuse=0 keep=0 work=/var/tmp/sluice-fresh-check log="" only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--reuse) reuse=1 ;;
	--keep) keep=1 ;;
	--work | --log | --only)
		[ $# -ge 2 ] || usage
		case "$1" in
		--work) work=$2 ;;
		--log) log=$2 ;;
		--only) only=$2 ;;
		esac
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "$prog: unknown argument '$1'" >&2
		usage
		;;
	esac
	shift
done
case "$only" in "" | demo | test) ;; *) chroot_die "--only takes demo or test, got '$only'" ;; esac

chroot_require_host
mkdir -p "$work"
work=$(realpath "$work")
log=${log:-$work/fresh-check-$(date -u +%Y%m%dT%H%M%SZ).log}
root=$work/root
cache=$work/base
sha=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
	echo "$prog: warning: uncommitted changes are not tested (checking $sha)"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	chroot_kill
	if [ "$keep" -eq 0 ]; then
		chroot_remove "$root" || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$prog: $*" | tee -a "$log"; }

say "checking commit $sha of $repo; log: $log"
chroot_prepare "$root" "$cache" "$reuse" "$keep" git,ca-certificates "$log"
git clone --quiet --no-hardlinks "$repo" "$root/root/sluice" >>"$log" 2>&1
git -C "$root/root/sluice" checkout --quiet --detach "$sha"

CHROOT_ENV=(SLUICE_TEST_KAFKA_PORT=21592)
summary=()
failed=0

# step_of OFFSET: the last "== step" line the command printed after OFFSET.
step_of() { tail -c +"$1" "$log" | grep -a '^== ' | tail -n 1 || true; }
failed_tests_of() { tail -c +"$1" "$log" | grep -a -E '^[[:space:]]+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess|Not Run|Exception|Child aborted)' || true; }

check() { # check NAME SECONDS
	local name=$1 secs=$2 t0 rc=0 off line
	off=$(($(stat -c %s "$log") + 1))
	say "running scripts/$name.sh in the chroot (timeout ${secs}s)"
	t0=$(date +%s)
	chroot_run "$root" "$secs" "$log" "cd /root/sluice && scripts/$name.sh" || rc=$?
	local dur=$(($(date +%s) - t0))
	if [ "$rc" -eq 0 ]; then
		line="PASS scripts/$name.sh (${dur}s)"
	else
		failed=1
		line="FAIL scripts/$name.sh: exit $rc after ${dur}s"
		[ "$rc" -ne 124 ] || line+=" (timeout)"
		line+=$'\n'"     last step: $(step_of "$off")"
		local t
		t=$(failed_tests_of "$off")
		[ -z "$t" ] || line+=$'\n'"     failed tests:"$'\n'"$t"
	fi
	summary+=("$line")
	say "$line"
}

[ "$only" = test ] || check demo 2700
[ "$only" = demo ] || check test 7200

{
	echo "== fresh-check summary (commit $sha, $(date -u +%FT%TZ))"
	printf '%s\n' "${summary[@]}"
	[ "$failed" -eq 0 ] && echo "fresh-check: PASS" || echo "fresh-check: FAIL (log: $log)"
} | tee -a "$log"
exit "$failed"

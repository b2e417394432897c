#!/usr/bin/env bash
# deb-check.sh — builds the .deb and proves it installs and runs on a clean Debian 12.
#
# usage: scripts/deb-check.sh [--reuse] [--keep] [--work DIR] [--deb FILE]
#
# 1. Unless --deb is given: configures build-deb/ with CMAKE_INSTALL_PREFIX=/usr
#    (no tests), builds it and runs `cpack -G DEB` there.
# 2. Makes a minimal Debian 12 root (debootstrap --variant=minbase, as
#    scripts/fresh-check.sh: WORK/base is shared with it, --reuse/--keep
#    mean the same) and, inside it, `apt-get install ./sluice_*.deb`:
#    apt resolves the package's Depends from the Debian mirror.
# 3. Inside the root, checks what the package promises: the binaries'
#    libraries all resolve, the sluice system user exists, the systemd units,
#    configuration, headers and pkg-config file are in place, systemd's
#    own checker (systemd-analyze verify) accepts the units, their
#    ExecStart commands run as user sluice with the default configuration
#    register a worker and run a submitted job, and the installed `sluice standalone` runs the installed generator_wordcount
#    example (2 workers, 6 s): its batches complete with the expected number
#    of records; and, with the package's Suggests (gcc, make, pkg-config), a
#    `sluice new-job` skeleton builds with the system pkg-config and runs.
# Prints PASS/FAIL per step; the full log is WORK/deb-check-DATE.log.
set -euo pipefail
cd "$(dirname "$0")/.."
prog=deb-check
. scripts/lib/chroot.sh

usage() {
	sed -n '4p' "$0" | sed 's/^# //' >&2
	exit 2
}

reuse=0 keep=0 work=/var/tmp/sluice-fresh-check deb=""
while [ $# -gt 0 ]; do
	case "$1" in
	--reuse) reuse=1 ;;
	--keep) keep=1 ;;
	--work | --deb)
		[ $# -ge 2 ] || usage
		[ "$1" = --work ] && work=$2 || deb=$2
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

chroot_require_host
mkdir -p "$work"
work=$(realpath "$work")
log=$work/deb-check-$(date -u +%Y%m%dT%H%M%SZ).log
root=$work/deb-root
failed=0
say() { echo "$prog: $*" | tee -a "$log"; }
step() { # step NAME CMD...: runs CMD, logs, prints PASS/FAIL
	local name=$1
	shift
	if "$@" >>"$log" 2>&1; then
		say "PASS $name"
	else
		say "FAIL $name (exit $?; log: $log)"
		failed=1
		return 1
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	chroot_kill
	[ "$keep" -eq 1 ] || chroot_remove "$root" || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_deb() {
	cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
		-DSLUICE_TESTS=OFF &&
		cmake --build build-deb -j"$(nproc)" &&
		rm -f build-deb/sluice_*.deb &&
		(cd build-deb && cpack -G DEB)
}

if [ -z "$deb" ]; then
	step "build the .deb (build-deb/, prefix /usr, cpack -G DEB)" build_deb || exit 1
	deb=$(ls build-deb/sluice_*.deb)
fi
[ -f "$deb" ] || chroot_die "no package $deb"
say "package $deb: $(dpkg-deb -f "$deb" Depends)"

chroot_prepare "$root" "$work/base" "$reuse" "$keep" git,ca-certificates "$log"
cp "$deb" "$root/tmp/"
debname=/tmp/$(basename "$deb")
CHROOT_ENV=()

in_root() { chroot_run "$root" 900 "$log" "$1"; }
step "apt-get install ./$(basename "$deb") in a clean Debian 12 root (apt resolves Depends)" \
	in_root "apt-get update -qq && apt-get install -y --no-install-recommends $debname" || exit 1
step "every library of the installed binaries resolves" \
	in_root '! ldd /usr/bin/sluice /usr/bin/sluice-master /usr/bin/sluice-worker | grep "not found"' || true
step "postinst made the system user sluice" in_root 'id sluice' || true
step "units, configuration, headers and pkg-config file installed" in_root '
	for f in /usr/lib/systemd/system/sluice-master.service /usr/lib/systemd/system/sluice-worker@.service \
		/etc/sluice/sluice-env.sh /etc/sluice/sluice-defaults.conf /etc/sluice/workers \
		/usr/include/sluice/sluice.h /usr/share/pkgconfig/sluice.pc \
		/usr/share/sluice/examples/generator_wordcount.c /usr/share/sluice/sbin/start-cluster.sh; do
		test -f "$f" || { echo "missing $f"; exit 1; }
	done
	grep -q "^ExecStart=/usr/bin/sluice-master " /usr/lib/systemd/system/sluice-master.service
	dpkg-query -W -f="\${Conffiles}\n" sluice | grep -q /etc/sluice/sluice-defaults.conf' || true
# No systemd runs here (a chroot), but its own checker reads the units as
# it would: syntax, directives, executables (not the user: that is id sluice).
step "systemd-analyze verify accepts sluice-master.service and sluice-worker@1.service" in_root '
	apt-get install -y -qq --no-install-recommends systemd >/dev/null
	cd /usr/lib/systemd/system && out=$(systemd-analyze verify sluice-master.service sluice-worker@1.service 2>&1)
	rc=$?
	echo "$out"
	[ $rc -eq 0 ] && ! echo "$out" | grep -i sluice' || true
# The demo job: 2 workers, 1 s batches of exactly gen.rate lines.
step "installed sluice standalone runs the installed generator_wordcount example" in_root '
	lib=$(dpkg -L sluice | grep "/examples/generator_wordcount.so$")
	echo "running $lib"
	out=$(timeout 120 sluice standalone "$lib" --workers 2 --slots 2 --batch-interval 1s \
		--duration 6s --conf gen.rate=5000 --conf print.num=3)
	echo "$out"
	n=$(echo "$out" | grep -cE "^batch [0-9]+ +DONE +records +5000 ")
	echo "batches with 5000 records: $n"
	[ "$n" -ge 3 ] && ! echo "$out" | grep -qE "^batch [0-9]+ +(FAILED|ERROR)"' || true

# The services as systemd would start them (it cannot run in a chroot): the
# units' ExecStart lines, as user sluice, in the state directories
# StateDirectory= makes, with the installed default configuration. A worker
# registers, reading the master's secret, and a submitted job runs.
step "the units' commands, as user sluice with the default configuration, run a job" in_root '
	unit=/usr/lib/systemd/system
	install -d -o sluice -g sluice -m 0750 /var/lib/sluice /var/lib/sluice-worker /var/lib/sluice-worker/1
	master=$(sed -n "s/^ExecStart=//p" $unit/sluice-master.service | sed "s/\$SLUICE_MASTER_OPTS//")
	worker=$(sed -n "s/^ExecStart=//p" $unit/sluice-worker@.service | sed "s/\$SLUICE_WORKER_OPTS//; s/%i/1/g")
	export SLUICE_SECRET_FILE=$(sed -n "s/^Environment=SLUICE_SECRET_FILE=//p" $unit/sluice-worker@.service)
	echo "master: $master"; echo "worker: $worker"; echo "secret: $SLUICE_SECRET_FILE"
	runuser -u sluice -- $master >/tmp/master.log 2>&1 &
	for i in $(seq 100); do [ -s /var/lib/sluice/master.url ] && break; sleep 0.2; done
	runuser -u sluice -- $worker >/tmp/worker.log 2>&1 &
	as_sluice() { runuser -u sluice -- env SLUICE_SECRET_FILE=$SLUICE_SECRET_FILE sluice "$@"; }
	for i in $(seq 100); do as_sluice workers 2>/dev/null | grep -q " ALIVE " && break; sleep 0.2; done
	as_sluice workers
	lib=$(dpkg -L sluice | grep "/examples/generator_wordcount.so$")
	as_sluice submit "$lib" --name unitjob --batch-interval 1s --conf gen.rate=1000
	ok=0
	for i in $(seq 60); do
		row=$(as_sluice jobs | grep " unitjob ")
		set -- $row
		[ "${5:-0}" -ge 3 ] && { ok=1; break; }
		sleep 0.5
	done
	as_sluice jobs
	tail -n 5 /tmp/master.log /tmp/worker.log
	stat -c "%U %a %n" /var/lib/sluice/secret
	[ $ok -eq 1 ] && [ "$6" = 0 ] && [ "$(stat -c %U /var/lib/sluice/secret)" = sluice ]' || true

# A job author on that machine: the package's Suggests, a skeleton from
# `sluice new-job`, built with the system pkg-config (no PKG_CONFIG_PATH).
step "sluice new-job skeleton builds against the installed headers and runs" in_root '
	apt-get install -y -qq --no-install-recommends gcc libc6-dev make pkg-config >/dev/null
	cd /tmp && rm -rf skel && sluice new-job skel && make -C skel
	out=$(timeout 120 sluice standalone skel/skel.so --workers 1 --batch-interval 1s --duration 4s)
	echo "$out"
	[ "$(echo "$out" | grep -cE "^batch [0-9]+ +DONE +records +600 ")" -ge 2 ] &&
		echo "$out" | grep -qP "^\s+even\t300$"' || true

if [ "$failed" -eq 0 ]; then
	say "PASS"
else
	say "FAIL (log: $log)"
fi
exit "$failed"

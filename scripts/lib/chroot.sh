# scripts/lib/chroot.sh — shared by scripts/fresh-check.sh and scripts/deb-check.sh
# (sourced, not run).
#
# Both scripts need the same thing: a minimal Debian 12 root made by Debian's
# own debootstrap, and a way to run a command inside it as on a real machine
# (with /proc, /sys, /dev, /dev/pts, /dev/shm and /run) that can never leave
# anything behind. The command runs in its own mount and PID namespaces
# (`unshare --mount --pid --fork --kill-child`): the mounts exist only in that
# mount namespace, so they vanish with it and a later `rm -rf` of the root can
# never reach the host's /dev; and every process started inside (daemons,
# brokers, workers) is killed by the kernel when the namespace's first process
# ends, whether the command finished, timed out or was killed. The network is
# the host's (the commands need the Debian mirror and Maven Central).

CHROOT_SUITE=bookworm
CHROOT_MIRROR=${CHROOT_MIRROR:-http://deb.debian.org/debian}
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

chroot_die() {
	echo "${prog:-chroot}: error: $*" >&2
	exit 1
}

# chroot_require_host: root, Linux namespaces, and debootstrap (installed from
# Debian's package when missing: it is a tool of these checks, not of Sluice).
chroot_require_host() {
	[ "$(id -u)" -eq 0 ] || chroot_die "must run as root (debootstrap, chroot and mounts need it)"
	command -v unshare >/dev/null || chroot_die "unshare (util-linux) not found"
	if ! command -v debootstrap >/dev/null; then
		echo "${prog:-chroot}: installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			debootstrap >/dev/null || chroot_die "cannot install debootstrap"
	fi
}

# chroot_bootstrap DIR INCLUDE LOG: a fresh minbase root in DIR with the
# comma-separated packages INCLUDE, apt pointed at bookworm, its updates and
# security (as on an installed machine), and the host's resolver.
chroot_bootstrap() {
	local dir=$1 include=$2 log=$3
	chroot_remove "$dir"
	mkdir -p "$dir"
	touch "$dir/.sluice-chroot" # ours, even half made
	# Own mount and PID namespaces: debootstrap mounts /proc in the target,
	# and an interrupted run must leave neither mounts nor processes.
	chroot_bg unshare --mount --pid --fork --kill-child --propagation private -- \
		timeout 1800 debootstrap --variant=minbase --include="$include" \
		"$CHROOT_SUITE" "$dir" "$CHROOT_MIRROR" >>"$log" 2>&1 ||
		chroot_die "debootstrap failed (see $log)"
	rm -f "$dir/etc/apt/sources.list"
	cat >"$dir/etc/apt/sources.list.d/debian.sources" <<-EOF
		Types: deb
		URIs: $CHROOT_MIRROR
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: http://deb.debian.org/debian-security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	chroot_etc "$dir"
	touch "$dir/.sluice-chroot"
}

# chroot_etc DIR: what belongs to the site rather than to Sluice, as on the
# host: name resolution and the locally added CA certificates (e.g. of a
# TLS-inspecting proxy, without which no HTTPS download works there). Java,
# installed later, imports them through ca-certificates-java.
chroot_etc() {
	cp -L /etc/resolv.conf "$1/etc/resolv.conf"
	cp -L /etc/hosts "$1/etc/hosts"
	# As in any chroot (and Debian's container images): packages must not
	# start services (an sshd would take the host's port 22).
	printf '#!/bin/sh\nexit 101\n' >"$1/usr/sbin/policy-rc.d"
	chmod 0755 "$1/usr/sbin/policy-rc.d"
	if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
		mkdir -p "$1/usr/local/share/ca-certificates"
		cp -L /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"
		chroot "$1" update-ca-certificates >/dev/null 2>&1 ||
			chroot_die "update-ca-certificates failed in $1"
	fi
}

# chroot_prepare ROOT CACHE REUSE KEEP INCLUDE LOG: ROOT becomes a fresh root,
# copied from the cached base CACHE when REUSE=1 and one exists, otherwise
# bootstrapped (and saved as CACHE when KEEP=1 or REUSE=1).
chroot_prepare() {
	local root=$1 cache=$2 reuse=$3 keep=$4 include=$5 log=$6
	chroot_remove "$root"
	if [ "$reuse" -eq 1 ] && [ -f "$cache/.sluice-chroot" ]; then
		echo "${prog:-chroot}: copying the cached base root $cache"
		cp -a "$cache" "$root"
		chroot_etc "$root"
		return
	fi
	echo "${prog:-chroot}: debootstrap --variant=minbase $CHROOT_SUITE into $root (minutes)"
	chroot_bootstrap "$root" "$include" "$log"
	if [ "$keep" -eq 1 ] || [ "$reuse" -eq 1 ]; then
		chroot_remove "$cache"
		cp -a "$root" "$cache"
	fi
}

# chroot_remove DIR: deletes a root this library made (it carries our marker),
# refusing when anything is still mounted below it in this mount namespace.
chroot_remove() {
	local dir=$1
	[ -e "$dir" ] || return 0
	[ -f "$dir/.sluice-chroot" ] || [ -z "$(ls -A "$dir" 2>/dev/null)" ] ||
		chroot_die "$dir exists and was not made by this script; refusing to delete it"
	if findmnt -rn -o TARGET | grep -q "^$(realpath "$dir")/"; then
		chroot_die "something is still mounted under $dir; refusing to delete it"
	fi
	rm -rf "$dir"
}

# chroot_run ROOT SECONDS LOG CMD: runs the shell command CMD as root inside
# ROOT (cwd /root), bounded by SECONDS, output appended to LOG. Returns the
# command's exit status (124 on timeout). Extra environment for the command
# comes from CHROOT_ENV (an array of NAME=VALUE).
chroot_run() {
	local root=$1 secs=$2 log=$3 cmd=$4
	local envv=(HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 TERM=dumb USER=root LOGNAME=root
		DEBIAN_FRONTEND=noninteractive "${CHROOT_ENV[@]}")
	chroot_bg unshare --mount --pid --fork --kill-child --propagation private -- \
		bash -c '
			set -e
			r=$1 secs=$2 cmd=$3
			shift 3
			# The root must be a mount point: `ip netns` (like systemd)
			# remounts "/" as a slave, which fails on a plain directory.
			mount --bind "$r" "$r"
			mount -t proc proc "$r/proc"
			mount -t sysfs sysfs "$r/sys"
			mount --bind /dev "$r/dev"
			mkdir -p "$r/dev/pts" "$r/dev/shm"
			mount --bind /dev/pts "$r/dev/pts"
			mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
			mount -t tmpfs -o mode=755 tmpfs "$r/run"
			mkdir -p "$r/run/lock"
			set +e
			timeout -k 30 "$secs" chroot "$r" /usr/bin/env -i "$@" \
				/bin/bash -c "cd /root && $cmd" </dev/null
			' chroot-run "$root" "$secs" "$cmd" "${envv[@]}" >>"$log" 2>&1
}

# chroot_bg CMD...: runs CMD in the background and waits for it, so that a
# signal's trap runs at once (bash defers traps while a foreground command
# runs) and can end CMD with chroot_kill. Returns CMD's exit status.
chroot_bg() {
	"$@" &
	CHROOT_PID=$!
	local rc=0
	wait "$CHROOT_PID" || rc=$?
	CHROOT_PID=""
	return $rc
}

# chroot_kill: ends a running chroot_run or chroot_bootstrap at once. unshare --kill-child
# passes the SIGKILL to the namespace's first process, and the kernel then
# kills every process of the PID namespace and drops its mounts.
chroot_kill() {
	if [ -n "${CHROOT_PID:-}" ]; then
		kill -KILL "$CHROOT_PID" 2>/dev/null || true
		wait "$CHROOT_PID" 2>/dev/null || true
		CHROOT_PID=""
	fi
}

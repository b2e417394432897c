#!/usr/bin/env bash
# gen-certs.sh — makes the certificates for Sluice's mutual TLS (tls+tcp://).
#
# usage: scripts/gen-certs.sh [--untrusted] [--rsa] [--days N] OUTDIR NAME[:IP[,IP...]] ...
#
# Creates a cluster CA in OUTDIR (ca.pem, ca.key; reused when both exist) and,
# for each NAME, a certificate NAME.pem and key NAME.key signed by that CA:
#   - subject CN=NAME; subjectAltName DNS:NAME and, for each IP, both IP:<ip>
#     and DNS:<ip> (mbedTLS 2.28, nng's TLS engine, matches the host part of
#     the URL a peer dials only against CN/dNSName, so an address dialled as
#     tls+tcp://10.0.0.5:7077 must also appear as the DNS name "10.0.0.5");
#   - extendedKeyUsage serverAuth,clientAuth: every Sluice process is both a
#     TLS server (it listens) and a TLS client (it dials its peers);
#   - EC P-256 keys by default, RSA 2048 with --rsa; keys are mode 0600.
# Running it again is safe: the CA and every certificate that is still valid,
# signed by the CA and carries the requested names are kept; others are
# (re)issued. ca.key stays with the operator: copy it to no node.
#
# --untrusted writes into OUTDIR/untrusted/ instead, with a separate CA that
# the cluster does not trust (for negative tests: a peer presenting such a
# certificate must be refused).
#
# How operators use it: give every host its own NAME with the addresses that
# peers dial it on, e.g.
#   scripts/gen-certs.sh /etc/sluice/tls master:10.0.0.1 worker1:10.0.0.2 \
#       worker2:10.0.0.3 client
# then copy ca.pem plus that host's NAME.pem and NAME.key to each host and
# configure every process (master, workers and the `sluice` client) with
#   --conf sluice.tls.cert=/etc/sluice/tls/NAME.pem
#   --conf sluice.tls.key=/etc/sluice/tls/NAME.key
#   --conf sluice.tls.ca=/etc/sluice/tls/ca.pem
# (or the same keys in a --properties-file), and use tls+tcp:// URLs:
#   sluice-master --url tls+tcp://10.0.0.1:7077 ...
#   sluice-worker --master tls+tcp://10.0.0.1:7077 --url tls+tcp://10.0.0.2:0 ...
#   sluice --master tls+tcp://10.0.0.1:7077 workers
# Peers are authenticated in both directions; the cluster secret is still
# required on top of TLS (see docs/security.md).
set -euo pipefail

prog=$(basename "$0")
usage() {
	sed -n '4p' "$0" | sed 's/^# //' >&2
	echo "Run with --help for details." >&2
	exit 2
}
die() {
	echo "$prog: error: $*" >&2
	exit 1
}
say() { echo "$prog: $*"; }

untrusted=0
keytype=ec
days=825
while [ $# -gt 0 ]; do
	case "$1" in
	--untrusted) untrusted=1 ;;
	--rsa) keytype=rsa ;;
	--days)
		[ $# -ge 2 ] || usage
		days=$2
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	--) shift; break ;;
	-*) echo "$prog: unknown option '$1'" >&2; usage ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 2 ] || usage
if ! [[ "$days" =~ ^[0-9]+$ ]] || [ "$days" -eq 0 ]; then
	die "--days must be a positive number, got '$days'"
fi
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

outdir=$1
shift
if [ "$untrusted" -eq 1 ]; then
	outdir="$outdir/untrusted"
	ca_cn="Sluice UNTRUSTED test CA"
else
	ca_cn="Sluice cluster CA"
fi

# Validate every argument before writing anything.
for spec in "$@"; do
	name=${spec%%:*}
	[[ "$name" =~ ^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$ ]] ||
		die "bad name '$name' in '$spec': use letters, digits, '.', '_' and '-' (max 63)"
	[[ "$name" != "ca" ]] || die "'ca' is reserved for the CA's own files"
	if [[ "$spec" == *:* ]]; then
		ips=${spec#*:}
		[ -n "$ips" ] || die "'$spec': no address after ':'"
		IFS=, read -r -a iplist <<<"$ips"
		for ip in "${iplist[@]}"; do
			[[ "$ip" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || "$ip" =~ ^[0-9A-Fa-f:.]+$ && "$ip" == *:* ]] ||
				die "'$ip' in '$spec' is not an IPv4 or IPv6 address"
		done
	fi
done

umask 077
mkdir -p "$outdir"
tmp=$(mktemp -d "$outdir/.gen-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

newkey() { # newkey OUT
	if [ "$keytype" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
	fi
	chmod 0600 "$1"
}

serial() { echo "0x7$(openssl rand -hex 15)"; }

# ---- CA ----
ca_pem="$outdir/ca.pem"
ca_key="$outdir/ca.key"
if [ -f "$ca_pem" ] && [ -f "$ca_key" ]; then
	say "reusing CA $ca_pem"
elif [ -f "$ca_pem" ] || [ -f "$ca_key" ]; then
	die "found only one of $ca_pem and $ca_key: restore the other or remove both to make a new CA (certificates signed by the old CA then stop working)"
else
	newkey "$tmp/ca.key"
	cat >"$tmp/ca.ext" <<-EOF
		basicConstraints = critical, CA:TRUE, pathlen:0
		keyUsage = critical, keyCertSign, cRLSign
		subjectKeyIdentifier = hash
	EOF
	openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days $((days * 4)) \
		-subj "/CN=$ca_cn" -set_serial "$(serial)" \
		-extensions v3_ca -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\n'; cat "$tmp/ca.ext") \
		-out "$tmp/ca.pem" 2>"$tmp/err" || die "making the CA failed: $(cat "$tmp/err")"
	chmod 0644 "$tmp/ca.pem"
	mv "$tmp/ca.key" "$ca_key"
	mv "$tmp/ca.pem" "$ca_pem"
	say "created CA $ca_pem (key $ca_key: keep it off the cluster nodes)"
fi
chmod 0600 "$ca_key"

# The subjectAltName wanted for a spec, in openssl's config syntax.
san_for() {
	local spec=$1 name=${1%%:*} san
	san="DNS:$name"
	if [[ "$spec" == *:* ]]; then
		IFS=, read -r -a iplist <<<"${spec#*:}"
		for ip in "${iplist[@]}"; do
			san="$san, IP:$ip, DNS:$ip"
		done
	fi
	echo "$san"
}

# The DNS entries of a SAN, one per line, sorted. Comparing those is enough:
# every IP entry has a DNS twin, and openssl prints IPv6 addresses expanded.
san_norm() { tr ',' '\n' | sed 's/^ *//; s/ *$//' | grep '^DNS:' | sort -u || true; }

cert_ok() { # cert_ok NAME SAN: existing cert signed by our CA, valid 30+ days, same names, key matches
	local pem=$1.pem key=$1.key have
	[ -f "$pem" ] && [ -f "$key" ] || return 1
	openssl verify -CAfile "$ca_pem" "$pem" >/dev/null 2>&1 || return 1
	openssl x509 -in "$pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
	have=$(openssl x509 -in "$pem" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | san_norm)
	[ "$have" = "$(echo "$2" | san_norm)" ] || return 1
	[ "$(openssl x509 -in "$pem" -noout -pubkey 2>/dev/null)" = \
		"$(openssl pkey -in "$key" -pubout 2>/dev/null)" ] || return 1
}

for spec in "$@"; do
	name=${spec%%:*}
	san=$(san_for "$spec")
	if cert_ok "$outdir/$name" "$san"; then
		say "keeping $outdir/$name.pem ($san)"
		chmod 0600 "$outdir/$name.key"
		continue
	fi
	newkey "$tmp/$name.key"
	openssl req -new -key "$tmp/$name.key" -subj "/CN=$name" -out "$tmp/$name.csr" \
		-config <(printf '[req]\ndistinguished_name=dn\n[dn]\n') 2>"$tmp/err" ||
		die "certificate request for $name failed: $(cat "$tmp/err")"
	cat >"$tmp/$name.ext" <<-EOF
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature$([ "$keytype" = rsa ] && echo ", keyEncipherment")
		extendedKeyUsage = serverAuth, clientAuth
		subjectAltName = $san
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
	EOF
	openssl x509 -req -in "$tmp/$name.csr" -CA "$ca_pem" -CAkey "$ca_key" \
		-set_serial "$(serial)" -sha256 -days "$days" -extfile "$tmp/$name.ext" \
		-out "$tmp/$name.pem" 2>"$tmp/err" || die "signing $name failed: $(cat "$tmp/err")"
	openssl verify -CAfile "$ca_pem" "$tmp/$name.pem" >/dev/null 2>"$tmp/err" ||
		die "issued certificate for $name does not verify: $(cat "$tmp/err")"
	chmod 0644 "$tmp/$name.pem"
	chmod 0600 "$tmp/$name.key"
	mv "$tmp/$name.key" "$outdir/$name.key"
	mv "$tmp/$name.pem" "$outdir/$name.pem"
	say "issued $outdir/$name.pem + $name.key ($san)"
done

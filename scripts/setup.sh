#!/usr/bin/env bash
# Installs every Debian package Sluice's build, tests, demo and benchmarks
# need. Idempotent and quiet when everything is already there. Run as root
# (or with sudo available).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format valgrind python3
  libnng-dev libmbedtls-dev libprotobuf-c-dev protobuf-c-compiler
  librdkafka-dev liblz4-dev libsqlite3-dev libcjson-dev libcmocka-dev libcurl4-openssl-dev
  zlib1g-dev
  iproute2 openssl curl kcat netcat-openbsd procps openssh-server prometheus python3-aiosmtpd
  python3-venv
  default-jre-headless maven
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A JDK may be present outside Debian's packages; only require java + mvn on PATH.
if command -v java >/dev/null && command -v mvn >/dev/null; then
  missing=("${missing[@]/default-jre-headless/}")
  missing=("${missing[@]/maven/}")
fi
read -r -a missing <<< "${missing[*]:-}"

# schemathesis (PyPI, not in Debian) for tests/integration/test_rest.py, in a
# venv of its own so it never touches the system Python.
VENV=/opt/sluice-venv
python_tools() {
  [ -x "$VENV/bin/st" ] && return 0
  echo "setup: installing schemathesis into $VENV"
  $SUDO /usr/bin/python3 -m venv "$VENV"
  $SUDO "$VENV/bin/pip" install -q schemathesis
}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  python_tools
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
python_tools
echo "setup: done"

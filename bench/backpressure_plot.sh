#!/usr/bin/env bash
# Runs bench/backpressure_bench.py and draws docs/backpressure.png from it.
# Installs Debian's python3-matplotlib first when it is missing (a bench
# dependency only: no test needs it, so scripts/setup.sh does not install it).
# Usage: bench/backpressure_plot.sh [BUILD_DIR] [extra backpressure_bench.py args]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
# Debian's matplotlib is for the system interpreter, whatever python3 is first
# on PATH.
py=/usr/bin/python3
if ! $py -c 'import matplotlib' 2>/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y python3-matplotlib
fi
python3 bench/backpressure_bench.py --build "$build" --out bench/out/backpressure.csv "$@"
$py bench/backpressure_bench.py --from-csv bench/out/backpressure.csv --plot docs/backpressure.png

#!/usr/bin/env bash
# Engine benchmark (not part of the tests): builds a Release build into
# build-bench/ and measures sustained generator word-count throughput with 1
# and 2 workers at a 1 s batch interval, batch start -> first task start, and
# the run time of an empty batch. Prints a table; raw JSON in bench/out/.
#   bench/engine_bench.sh                      # 60 s window per trial (slow)
#   bench/engine_bench.sh --search-window 20   # search with 20 s trials, confirm with 60 s
#   bench/engine_bench.sh --window 20          # quick look
# See bench/engine_bench.py --help and docs/performance.md.
set -euo pipefail
exec python3 "$(dirname "$0")/engine_bench.py" "$@"

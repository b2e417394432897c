#!/usr/bin/env bash
# Sluice demo: installs what is needed, builds, and runs a streaming word
# count in standalone mode (a local master and two workers) on the built-in
# generator source for about 15 seconds, showing each batch's top words and
# its statistics, then stops everything cleanly.
#
#   DEMO_SECONDS  how long to run (default 15)
#   DEMO_RATE     generated lines per second (default 200000; 8 words a line)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== building"
scripts/build.sh build >/dev/null
echo "== running generator_wordcount for ${DEMO_SECONDS:-15}s (standalone: 2 workers x 2 slots)"
exec build/bin/sluice standalone build/lib/generator_wordcount.so \
  --name demo --workers 2 --slots 2 --batch-interval 1s \
  --duration "${DEMO_SECONDS:-15}s" \
  --conf gen.rate="${DEMO_RATE:-200000}" --conf gen.partitions=4 --conf print.num=5

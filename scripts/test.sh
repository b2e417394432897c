#!/usr/bin/env bash
# Installs what is needed, builds the normal and the sanitizer build, and runs
# every test under ctest. Exits non-zero on any failure.
#
#   build/       plain build (gcc): unit, integration, valgrind leak checks
#   build-asan/  clang with AddressSanitizer + UndefinedBehaviorSanitizer and
#                the libFuzzer targets: unit, integration, bounded fuzz runs
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup.sh

echo "== format check"
if ! clang-format --dry-run --Werror $(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*') ; then
  echo "test: sources are not clang-formatted (run: clang-format -i \$(git ls-files '*.c' '*.h'))"
  exit 1
fi

echo "== build (gcc)"
scripts/build.sh build
echo "== build (clang, ASan+UBSan, fuzzers)"
CC=clang scripts/build.sh build-asan -DSLUICE_SANITIZE=ON -DSLUICE_FUZZ=ON

status=0
echo "== tests: plain build"
(cd build && ctest --output-on-failure -j2 --timeout 600) || status=1
echo "== tests: sanitizer build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j2 --timeout 600 -LE valgrind) || status=1

if [ $status -ne 0 ]; then
  echo "test: FAILED"
  exit 1
fi
echo "test: all passed"

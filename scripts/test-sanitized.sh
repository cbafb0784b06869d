#!/usr/bin/env bash
# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer:
# configures BUILD (once) with -DFIRN_SANITIZE=address,undefined, builds it,
# and runs ctest there. Every firn target is instrumented, and the sanitized
# firnc builds the training binaries the tests run with the same flags
# (libMLIR, libHalide and Halide's kernels are not instrumented). Any report
# fails its test (UBSan does not recover), with its stack, and the run.
#
# LeakSanitizer is on: the suite runs clean with it (MLIR's and Halide's
# process-lifetime objects stay reachable, so they are not leaks).
# FIRN_DETECT_LEAKS=0 turns it off.
#
# Environment:
#   FIRN_ASAN_BUILD_DIR  build directory (default: build-asan)
#   FIRN_JOBS            parallel build and test jobs (default: 2)
#   FIRN_DETECT_LEAKS    0 to run without LeakSanitizer (default: 1)
# Extra arguments go to ctest (e.g. -R lit).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR="${FIRN_ASAN_BUILD_DIR:-build-asan}"
JOBS="${FIRN_JOBS:-2}"

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DFIRN_SANITIZE=address,undefined
fi
cmake --build "$BUILD_DIR" -j"$JOBS"

# exitcode 86 makes a report fail even a test that expects a non-zero
# status; the reports in the failing tests' output are counted at the end.
common="halt_on_error=1:print_stacktrace=1:exitcode=86"
export ASAN_OPTIONS="$common:detect_leaks=${FIRN_DETECT_LEAKS:-1}"
export UBSAN_OPTIONS="$common"

LOG="$BUILD_DIR/test-sanitized.log"
status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" "$@" 2>&1 | tee "$LOG" ||
  status=$?
found="$(grep -cE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$LOG" || true)"
echo "test-sanitized: $found sanitizer report(s) (output in $LOG)"
((found == 0)) || status=1
exit "$status"

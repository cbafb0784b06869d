#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (the lit suite
# and the GoogleTest unit tests) through ctest, then the fuzz smoke test.
# Extra arguments go to ctest (e.g. -R lit, -V).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh

BUILD_DIR="${FIRN_BUILD_DIR:-build}"
JOBS="${FIRN_JOBS:-2}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" "$@"

# Then the fuzz targets for a bounded time (clang-19, ASan+UBSan, its own
# build directory: scripts/fuzz-smoke.sh). Not for a filtered run (ctest
# arguments given) or with FIRN_FUZZ_SMOKE=0.
if (($# == 0)) && [[ "${FIRN_FUZZ_SMOKE:-1}" != 0 ]]; then
  ./scripts/fuzz-smoke.sh
fi

#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (the lit suite
# and the GoogleTest unit tests) through ctest. Extra arguments go to ctest
# (e.g. -R lit, -V).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh

BUILD_DIR="${FIRN_BUILD_DIR:-build}"
JOBS="${FIRN_JOBS:-2}"
exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" "$@"

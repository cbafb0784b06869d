#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-19, AddressSanitizer
# and UndefinedBehaviorSanitizer, and fuzzes each for a bounded time, one
# after the other with one worker each. scripts/test.sh runs this (CI); a
# crash fails it and leaves the input as BUILD/tests/fuzz/NAME-crash-* (make
# it a regression test: tests/fuzz/regressions/NAME/).
#
# A target with a known, unfixed defect (a reproducer in
# tests/fuzz/regressions/pending/NAME/) is skipped, loudly: it would find that
# defect again within seconds and fail every run. Moving the reproducer to
# regressions/NAME/ with the fix turns the target on again.
#
# Idempotent: installs clang-19 and libFuzzer only when missing, configures
# the build directory only once (later runs only update FIRN_FUZZ_SECONDS),
# builds only the fuzz targets, and keeps the corpus libFuzzer grew.
#
# Environment:
#   FIRN_FUZZ_BUILD_DIR  build directory (default: build-fuzz)
#   FIRN_FUZZ_SECONDS    how long each target fuzzes (default: 20)
#   FIRN_JOBS            parallel build jobs (default: 2)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR="${FIRN_FUZZ_BUILD_DIR:-build-fuzz}"
SECONDS_EACH="${FIRN_FUZZ_SECONDS:-20}"
JOBS="${FIRN_JOBS:-2}"
PACKAGES=(clang-19 libfuzzer-19-dev libclang-rt-19-dev)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != \
        "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "fuzz-smoke: installing missing packages: ${missing[*]}"
  SUDO=()
  [[ "$(id -u)" -ne 0 ]] && SUDO=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

config=(-DFIRN_FUZZ_SECONDS="$SECONDS_EACH")
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  config+=(-G Ninja -DCMAKE_BUILD_TYPE=Release
           -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19
           -DFIRN_FUZZ=ON -DFIRN_SANITIZE=address,undefined)
fi
cmake -S . -B "$BUILD_DIR" "${config[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" \
  --target firn-fuzz-frontend firn-fuzz-safetensors firn-fuzz-npy

# halt_on_error: the first report is the crash libFuzzer keeps.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
skip=()
for pending in tests/fuzz/regressions/pending/*/; do
  name="$(basename "$pending")"
  if compgen -G "$pending*" >/dev/null; then
    echo "fuzz-smoke: warning: not fuzzing '$name': known defects not fixed yet" \
         "(tests/fuzz/regressions/pending/$name/)" >&2
    skip+=("fuzz-$name")
  fi
done
exclude=()
if ((${#skip[@]} > 0)); then
  exclude=(-E "^($(IFS='|'; echo "${skip[*]}"))\$")
fi
exec ctest --test-dir "$BUILD_DIR" -L fuzz "${exclude[@]}" --output-on-failure -j1

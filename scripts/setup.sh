#!/usr/bin/env bash
# Installs what firn needs to build (Debian packages) and builds it.
#
# Idempotent: installs only the packages that are missing (running apt-get update
# only then), configures only if the build directory has no build.ninja yet, and
# lets Ninja rebuild only what changed. Runs from any directory.
#
# Environment:
#   FIRN_BUILD_DIR  build directory, relative to the repository root or absolute
#                   (default: build)
#   FIRN_JOBS       parallel build jobs (default: 2)
#   FIRN_EXTRA_PACKAGES  more Debian packages to install the same way, separated
#                   by spaces (the benchmarks' PyTorch: bench/run.sh)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR="${FIRN_BUILD_DIR:-build}"
JOBS="${FIRN_JOBS:-2}"

PACKAGES=(
  cmake ninja-build g++ ccache python3
  llvm-19-dev libmlir-19-dev mlir-19-tools llvm-19-tools
  libhalide14-0-dev
  googletest libgtest-dev
  fortunes  # the text examples/gpt trains on (examples/gpt/make_data.py)
  openmpi-bin libopenmpi-dev  # mpirun for data-parallel training and its tests
)
# shellcheck disable=SC2206 # (split on spaces on purpose)
PACKAGES+=(${FIRN_EXTRA_PACKAGES:-})

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing missing packages: ${missing[*]}"
  SUDO=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo)
    else
      echo "setup: error: not root and sudo is not available; install these" \
           "packages first: ${missing[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j"$JOBS"

#!/usr/bin/env bash
# The firn-versus-PyTorch benchmark (issue 6): builds firn, installs Debian's PyTorch and the
# pthread OpenBLAS if missing, runs the matrix-product microbenchmark (bench/matmul) and then
# bench/run.py, which prints the model table.
#
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for this command only: with them set as
# on these machines OpenBLAS picks a kernel at half speed (docs/benchmarks.md). Arguments are
# passed to run.py (--reps N, --only mlp,cnn, --keep DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/setup.sh

missing=()
for pkg in python3-torch python3-numpy libopenblas0-pthread time; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "bench: installing missing packages: ${missing[*]}"
  SUDO=()
  if [[ "$(id -u)" -ne 0 ]]; then SUDO=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The matrix-product microbenchmark: firn's kernels against cblas_sgemm, in one process.
BUILD_DIR="${FIRN_BUILD_DIR:-build}"
cmake --build "$BUILD_DIR" --target firn-matmul-bench -j "${FIRN_JOBS:-2}" >/dev/null
echo "matrix products, firn against OpenBLAS sgemm (2 threads), best and median of 9 alternated rounds:"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BUILD_DIR/bin/firn-matmul-bench"
echo

exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/run.py "$@"

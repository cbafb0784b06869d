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

# The build, and PyTorch (the oracle) if missing.
FIRN_EXTRA_PACKAGES="python3-torch python3-numpy libopenblas0-pthread time" \
  ./scripts/setup.sh

# The matrix-product microbenchmark: firn's kernels against cblas_sgemm, in one process.
BUILD_DIR="${FIRN_BUILD_DIR:-build}"
cmake --build "$BUILD_DIR" --target firn-matmul-bench -j "${FIRN_JOBS:-2}" >/dev/null
echo "matrix products, firn against OpenBLAS sgemm (2 threads), best and median of 9 alternated rounds:"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BUILD_DIR/bin/firn-matmul-bench"
echo

exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/run.py "$@"

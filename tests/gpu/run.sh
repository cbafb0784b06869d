#!/bin/bash
# On the GPU machine (the device tool; see tests/gpu/README.md): every
# PyTorch golden test and the resume tests through the CUDA binaries that
# tests/gpu/prepare.sh built, then the GPU benchmark; a short table last.
# From the repository root, carrying build/gpu-bundle.tar.xz:
#
#   tests/gpu/run.sh            (about 5 minutes; logs in $OUT when set)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/firn-gpu-logs}
mkdir -p "$out"
work=/tmp/firn-gpu
rm -rf $work && mkdir -p $work && tar -C $work -xJf build/gpu-bundle.tar.xz || exit 1
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
export FIRN_TEST_TARGET=cuda FIRN_TEST_BINARIES=$work/binaries FIRN_TEST_SOURCE_DIR=$PWD
timeout 300 $work/firn-e2e-tests --gtest_filter="${FILTER:-$(cat tests/gpu/FILTER)}" \
  > "$out/gpu-tests.log" 2>&1
tests=$?
bench=skipped
if [ "${BENCH:-1}" = 1 ]; then
  PYTHONUNBUFFERED=1 timeout 330 python3 bench/gpu/run.py $work/bench > "$out/gpu-bench.log" 2>&1
  bench=$?
fi
echo "== failed tests (status $tests) =="
grep -E '^\[  FAILED  \] .*\(' "$out/gpu-tests.log" | head -40
grep -E -A12 'Failure' "$out/gpu-tests.log" | head -60
echo "== GPU benchmark (status $bench) =="
[ -f "$out/gpu-bench.log" ] && tail -n 12 "$out/gpu-bench.log"
echo "== tests =="
grep -E '^\[  (PASSED|FAILED)  \] [0-9]+ test' "$out/gpu-tests.log"

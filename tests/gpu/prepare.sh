#!/bin/bash
# Builds, on this (CPU) machine, everything tests/gpu/run.sh runs on the GPU
# machine, which has no firnc: build/gpu-bundle.tar.xz with
#   binaries/cuda/<stem>  the CUDA binary of every model the golden and resume
#                         tests train, and binaries/host/<stem> the CPU
#                         binaries the CPU <-> GPU checkpoint test needs;
#   firn-e2e-tests        the end-to-end test executable (libc and libstdc++
#                         only);
#   bench/<model>/        the GPU benchmark's binaries and data
#                         (bench/gpu/prepare.py).
# The binaries are built by running those tests here with
# FIRN_TEST_TARGET=cuda and FIRN_TEST_BINARIES (tests/e2e/E2ESupport.h): each
# test compiles its model, then fails without a GPU (expected here).
#
#   tests/gpu/prepare.sh      (after ./scripts/setup.sh has built firn)
#
# Then, with the device tool: run `tests/gpu/run.sh` carrying
# build/gpu-bundle.tar.xz (see tests/gpu/run.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
ninja -C build firnc firn-e2e-tests
rm -rf build/gpu build/gpu-bundle.tar.xz
mkdir -p build/gpu/binaries
export FIRN_CACHE_DIR=${FIRN_CACHE_DIR:-$PWD/build/kernel-cache}
FIRN_TEST_TARGET=cuda FIRN_TEST_BINARIES=$PWD/build/gpu/binaries \
  build/tests/e2e/firn-e2e-tests --gtest_filter="$(cat tests/gpu/FILTER)" \
  > build/gpu/prepare.log 2>&1 || true
cp build/tests/e2e/firn-e2e-tests build/gpu/
/usr/bin/python3 bench/gpu/prepare.py build/gpu/bench
echo "binaries: $(ls build/gpu/binaries/cuda | wc -l) CUDA, $(ls build/gpu/binaries/host 2>/dev/null | wc -l) host"
tar -C build/gpu -I "xz -9 -T2" -cf build/gpu-bundle.tar.xz binaries firn-e2e-tests bench
ls -la build/gpu-bundle.tar.xz

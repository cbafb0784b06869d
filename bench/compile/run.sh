#!/usr/bin/env bash
# Compile time, cold kernel cache (issue 10, item 5): firnc -o on the bench CNN, LeNet-5 and
# the ResNet and GPT examples (examples/lenet5.firn, resnet.firn, gpt/gpt.firn), a 12-layer GPT
# of 768 channels and ResNet-18 (bench/compile/models/) and on MLPs of
# Linear(64, 64) + ReLU layers whose depth doubles (10, 20, 40, 80), each in a fresh cache
# directory, wall and CPU seconds. Doubling the depth should at most double the time: the
# blocks share their kernels (compiler/include/firn/Codegen/KernelPartition.h).
# Usage: bench/compile/run.sh [firnc]   (default build/bin/firnc)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
FIRNC="${1:-build/bin/firnc}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mlp() { # depth -> a .firn file
  local n="$1" f="$work/mlp$1.firn"
  {
    echo "model MLP$n {"
    for ((i = 0; i < n; i++)); do echo "  fc$i = Linear(64, 64)"; done
    echo "  forward(x: f32[N, 64]) -> f32[N, 64] {"
    echo "    h = x"
    for ((i = 0; i < n; i++)); do echo "    h = relu(fc$i(h))"; done
    echo "    return h"
    echo "  }"
    echo "}"
    echo "train {"
    echo "  target y: f32[N, 64]"
    echo "  loss = mse(output, y)"
    echo "  optimizer opt = SGD(lr=0.05)"
    echo "}"
  } > "$f"
  echo "$f"
}

measure() { # name file
  local cache="$work/cache-$1"
  /usr/bin/time -o "$work/time" -f "%e %U %S" env FIRN_CACHE_DIR="$cache" "$FIRNC" "$2" \
    -o "$work/exe" >/dev/null
  read -r wall user sys < "$work/time"
  printf "%-12s %8s s wall %8.2f s cpu\n" "$1" "$wall" "$(echo "$user + $sys" | bc)"
}

echo "firnc -o, cold cache, $(nproc) cores, $(date -u +%F)"
measure cnn bench/models/cnn.firn
measure lenet5 examples/lenet5.firn
measure resnet examples/resnet.firn
measure gpt examples/gpt/gpt.firn
measure gpt12 bench/compile/models/gpt12.firn
measure resnet18 bench/compile/models/resnet18.firn
measure mlp-bench bench/models/mlp.firn
for n in 10 20 40 80; do measure "mlp-$n" "$(mlp $n)"; done

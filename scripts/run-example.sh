#!/usr/bin/env bash
# The main job: install what is missing, build firn, then compile the bundled
# digits classifier (examples/digits_mlp.firn) into a native training binary,
# train it on the 8x8 handwritten digits (examples/data/) and report its test
# accuracy. The binary and its checkpoint go to the build directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh

BUILD_DIR="${FIRN_BUILD_DIR:-build}"
DATA=examples/data
MODEL="$BUILD_DIR/digits_mlp"

echo "== firnc examples/digits_mlp.firn -o $MODEL"
"$BUILD_DIR/bin/firnc" examples/digits_mlp.firn -o "$MODEL"
echo "== $MODEL train (20 epochs, batch size 32)"
"$MODEL" train --x "$DATA/digits_train_x.npy" --y "$DATA/digits_train_y.npy" \
  --batch-size 32 --epochs 20 --save "$BUILD_DIR/digits_mlp.safetensors"
echo "== $MODEL eval on the held-out test set"
"$MODEL" eval --init "$BUILD_DIR/digits_mlp.safetensors" \
  --x "$DATA/digits_test_x.npy" --y "$DATA/digits_test_y.npy"

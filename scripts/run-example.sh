#!/usr/bin/env bash
# The main job for now: install what is missing, build, then compile a bundled
# example (seed 002, TinyNet with its middle layer frozen) and print its firn
# dialect IR. Extra arguments go to firnc (e.g. --emit=ast, -o FILE).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh

BUILD_DIR="${FIRN_BUILD_DIR:-build}"
exec "$BUILD_DIR/bin/firnc" examples/seeds/s002_tinynet_frozen_fc2.firn --emit=firn "$@"

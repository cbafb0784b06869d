#!/usr/bin/env bash
# A longer fuzzing campaign: scripts/fuzz-smoke.sh with SECONDS per target
# (default 600: the three targets fuzz for 30 minutes in all). The corpus
# grows in build-fuzz/tests/fuzz/corpus/ and is reused by the next run.
#
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
export FIRN_FUZZ_SECONDS="${1:-600}"
exec "$(dirname "${BASH_SOURCE[0]}")/fuzz-smoke.sh"

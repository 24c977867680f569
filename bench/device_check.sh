#!/usr/bin/env bash
# The benchmark on a GPU or TPU machine: reports/bench-<device>.json and reports/bench-<device>.md.
#
#   bench/device_check.sh cuda     # NVIDIA GPU: installs the 'cuda' extra (jax[cuda12]) into .venv
#   bench/device_check.sh tpu      # Cloud TPU VM: installs the 'tpu' extra (jax[tpu], libtpu)
#   bench/device_check.sh none     # whatever JAX .venv has (e.g. CPU); extra args go to pytest
#   bench/device_check.sh system   # a machine without network whose python3 already has JAX (and its GPU
#                                  # plugin): no venv, no download; see "system mode" below
#
# It stops if JAX does not see the accelerator it installed for. The benchmark itself
# (bench/test_bench_train.py: every implementation at N in $SYMJAX_BENCH_N, default
# 1,16,256,1024,4096, side by side, GEMM peak, compile time) is meant to take under 5 minutes
# on a GPU; the first install downloads ~3 GB of CUDA wheels. Untested: nobody here has a GPU
# or TPU. Set REPORTS_DIR to write elsewhere than reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=${1:-}
case "$extra" in
  cuda) want=gpu ;;
  tpu) want=tpu ;;
  none) want= ;;
  system) exec bash bench/device_system.sh "${@:2}" ;;
  *) echo "usage: bench/device_check.sh cuda|tpu|none|system [pytest args...]" >&2; exit 2 ;;
esac
shift
out=${REPORTS_DIR:-reports}
export SYMJAX_BENCH_N=${SYMJAX_BENCH_N:-1,16,256,1024,4096}

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e ".[test${want:+,$extra}]"
device=$(.venv/bin/python -c '
import re, symjax, jax
d = jax.devices()[0]
kind = re.sub(r"[^a-z0-9]+", "-", d.device_kind.lower()).strip("-")
print(d.platform if kind.startswith(d.platform) else f"{d.platform}-{kind}"[:48])')
if [ -n "$want" ] && [ "${device%%-*}" != "$want" ]; then
  echo "device_check: JAX sees '$device', not a $want device (check the driver and the $extra extra)" >&2
  exit 1
fi
echo "device_check: $device, N = $SYMJAX_BENCH_N"
mkdir -p "$out"
start=$SECONDS
.venv/bin/python -m pytest bench/test_bench_train.py -q --benchmark-only \
  --benchmark-json="$out/bench-$device.json" "$@"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/symjax report --bench "$out/bench-$device.json" --bench-only --out "$tmp" >/dev/null
mv "$tmp/bench.md" "$out/bench-$device.md"
echo "device_check: wrote $out/bench-$device.json and $out/bench-$device.md in $((SECONDS - start)) s of benchmarking"

#!/usr/bin/env bash
# `bench/device_check.sh system`: everything a device check needs, on a machine that reaches no network and
# whose python3 already has JAX with its accelerator plugin, optax, numpy, scipy, pandas, pyarrow, matplotlib,
# tqdm, tabulate, pytest, pytest-benchmark and hypothesis (the H200 image of the device tool). No venv, no
# download: wheels of what that image lacks (mnist1d) are installed from ./.whl when that folder exists, into
# /tmp/site; symjax itself is run from this source tree (PYTHONPATH), not installed.
#
# It writes at most 8 files under $OUT (default reports/device), each well under 16 MiB:
#   bench-<device>.json, bench-<device>.md   the throughput benchmark at N = $SYMJAX_BENCH_N (default
#                                            1,16,256,1024,4096): vmap, bare, the per-run loops, GEMM peak
#   default-results.tar.gz                   results/default of `symjax run` (the default matrix) on it
#   default-report.tar.gz                    its report (default.md and plots; companions absent there)
#   controls.json, controls.md               `symjax controls` (the exact predictions) trained on it
#   device_check.log                         what ran, with the seconds of each part
# MATRIX (default: default) names another matrix for the second part, e.g. smoke for a rehearsal on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
out=${OUT:-reports/device}
matrix=${MATRIX:-default}
export SYMJAX_BENCH_N=${SYMJAX_BENCH_N:-1,16,256,1024,4096} PYTHONUNBUFFERED=1
mkdir -p "$out"
log="$out/device_check.log"
exec > >(tee -a "$log") 2>&1
if compgen -G ".whl/*.whl" >/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
device=$("$py" -c '
import re, symjax, jax
d = jax.devices()[0]
kind = re.sub(r"[^a-z0-9]+", "-", d.device_kind.lower()).strip("-")
print(d.platform if kind.startswith(d.platform) else f"{d.platform}-{kind}"[:48])')
echo "device_check system: $device, jax $("$py" -c 'import jax; print(jax.__version__)'), N = $SYMJAX_BENCH_N"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
part() {  # part NAME COMMAND...: run it, log its seconds, keep going on failure (the log says so)
  local name=$1 start=$SECONDS; shift
  if "$@"; then echo "device_check: $name took $((SECONDS - start)) s"
  else echo "device_check: $name FAILED (exit $?) after $((SECONDS - start)) s"; fi
}
part benchmark "$py" -m pytest bench/test_bench_train.py -q --benchmark-only -p no:cacheprovider \
  --benchmark-json="$out/bench-$device.json" "$@"
if [ -f "$out/bench-$device.json" ]; then
  part bench-report "$py" -m symjax report --bench "$out/bench-$device.json" --bench-only --out "$scratch/bench"
  [ -f "$scratch/bench/bench.md" ] && mv "$scratch/bench/bench.md" "$out/bench-$device.md"
fi
part "matrix $matrix" "$py" -m symjax run --matrix "$matrix" --out "$scratch/results/$matrix" --quiet
if [ -f "$scratch/results/$matrix/config.json" ]; then
  "$py" -c "import json, sys; t = json.load(open(sys.argv[1]))['timing']; print('device_check: training', \
t['train_seconds'], 's, compiling', t['compile_seconds'], 's, backend', t['backend'])" \
    "$scratch/results/$matrix/config.json"
  part "report $matrix" "$py" -m symjax report --results "$scratch/results/$matrix" --out "$scratch/report"
  rm -rf "$scratch/results/$matrix/chunks"
  tar -czf "$out/$matrix-results.tar.gz" -C "$scratch/results" "$matrix"
  [ -d "$scratch/report" ] && tar -czf "$out/$matrix-report.tar.gz" -C "$scratch/report" .
fi
part controls "$py" -m symjax controls --results "$scratch/controls" --out "$scratch/controls-report"
[ -f "$scratch/controls/controls.json" ] && cp "$scratch/controls/controls.json" "$out/controls.json"
[ -f "$scratch/controls-report/controls.md" ] && cp "$scratch/controls-report/controls.md" "$out/controls.md"
ls -la "$out"

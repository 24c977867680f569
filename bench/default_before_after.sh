#!/usr/bin/env bash
# The default matrix's training time with the trainer of BASE and of this checkout, back to back.
#
#   bench/default_before_after.sh [BASE] [ORDER]     # BASE default 1aa56a6 (before issue 11's speed work)
#
# Each side trains the default matrix as issue 11 measured it (lr 0.01, 100 seeds: 2,000 runs; since issue 14
# the default matrix has 5 rates x 30 seeds, so both sides pass --lr 0.01 --seeds 100) from scratch into a temporary folder with
# the package as it is at that revision (exported with git archive and imported ahead of the
# installed one), then the training seconds that symjax itself recorded in config.json are printed.
# ORDER "base-first" (default) or "head-first" says which runs first. It takes two full default
# runs (~15 minutes on 2 cores): run it alone on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-1aa56a6}
order=${2:-base-first}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/base"
git archive --format=tar "$base" symjax | tar -x -C "$tmp/base"
run_side() {  # label, folder whose symjax package is imported
  JAX_ENABLE_COMPILATION_CACHE=false .venv/bin/python -P -c "
import sys; sys.path.insert(0, sys.argv[1])
import symjax; assert symjax.__file__.startswith(sys.argv[1]), symjax.__file__
from symjax.cli import main; sys.exit(main(['run', '--out', sys.argv[2], '--quiet', '--lr', '0.01', '--seeds', '100']))" "$2" "$tmp/results-$1"
  .venv/bin/python -c "
import json, sys; t = json.load(open(sys.argv[2] + '/config.json'))['timing']
print(f'{sys.argv[1]}: train_seconds {t[\"train_seconds\"]}, compile_seconds {t[\"compile_seconds\"]}, groups {t[\"group_seconds\"]}')" "$1" "$tmp/results-$1"
}
head=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- symjax || echo "+changes")
if [ "$order" = head-first ]; then sides="head base"; else sides="base head"; fi
for side in $sides; do
  if [ "$side" = base ]; then run_side "base-$base" "$tmp/base"; else run_side "head-$head" "$PWD"; fi
done

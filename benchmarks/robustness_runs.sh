#!/usr/bin/env bash
# Issue 12's experiments on one dataset (lastfm or lastfm_star), in priority order:
# the answer-noise table (item 3), the two-protocol table and SCPR's faithful rows (item 5).
# Usage: benchmarks/robustness_runs.sh DATASET [DATA_DIR]
# Rows go to benchmarks/results/crs_robustness_DATASET.json; finished runs are skipped on rerun.
set -euo pipefail
d=$1
data=${2:-../shared/data}
out=benchmarks/results/crs_robustness_$d.json
run() { .venv/bin/python benchmarks/train_crs.py --data-dir "$data" --out "$out" --save-dir "${SAVE_DIR:-runs/agents}" "$@"; }
rules="$d:max-entropy:0 $d:abs-greedy:0"
# published protocol, exact answers (noise 0)
run --noise 0 --runs $d:scpr:0 $rules $d:scpr:0:pruned $d:ear:0
# noise 0.1: the noise-aware filter against plain SCPR and the hard filter
run --noise 0.1 --runs $d:scpr:0 $d:scpr:0:pruned $d:scpr:0:noise-aware $rules $d:ear:0
# the other protocol: the env removes candidates holding a declined attribute
run --noise 0 --protocol reject-filter --runs $rules $d:scpr:0 $d:ear:0
# SCPR as close to the released code as the library allows
run --noise 0 --runs $d:scpr:0:faithful
# more seeds at 0 and 0.1, the other noise levels
run --noise 0.1 --runs $d:scpr:1 $d:scpr:2
run --noise 0.05 --runs $d:scpr:0 $d:scpr:0:pruned $d:scpr:0:noise-aware $rules $d:ear:0
run --noise 0.2 --runs $d:scpr:0 $d:scpr:0:pruned $d:scpr:0:noise-aware $rules $d:ear:0
run --noise 0 --runs $d:scpr:1 $d:scpr:2 $d:scpr:1:faithful $d:scpr:2:faithful

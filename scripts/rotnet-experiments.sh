#!/usr/bin/env bash
# The rotation-invariance issue's experiments (README "Rotation-invariant convnets: experiments"), at
# small CPU budgets: every training run has the same time budget and (about) the same parameter count,
# 1 thread per process, at most 2 processes at a time (REFINERY_NUM_THREADS=1, JOBS=2).
#   bash scripts/rotnet-experiments.sh archs    # mnist-rot: plain+aug vs cyclic-pool vs cyclic-roll (2 seeds), dihedral (1 seed); TTA off/on
#   bash scripts/rotnet-experiments.sh pseudo   # mnist-rot: cyclic-roll with soft pseudo-labels from the two cyclic-roll models (2 seeds)
#   bash scripts/rotnet-experiments.sh pseudo-control # the labelled-only network for the pseudo runs' step counts
#   bash scripts/rotnet-experiments.sh ensemble # mnist-rot: single models vs uniform vs fitted-weight ensemble
#   bash scripts/rotnet-experiments.sh fashion  # fashion-rot: plain+aug vs cyclic-pool vs cyclic-roll (1 seed)
#   node scripts/rotnet-table.js                # the README tables from runs/rotnet-exp
# Results: runs/rotnet-exp/<run>/result.json, runs/rotnet-exp/*.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${SKIP_SETUP:-} ]] || bash scripts/setup.sh
export REFINERY_NUM_THREADS=${REFINERY_NUM_THREADS:-1}
out=runs/rotnet-exp
mkdir -p "$out"
refinery() { node dist/src/cli/main.js "$@"; }
MIN=${MINUTES:-5}          # training minutes per model
PARAMS=${PARAMS:-40000}    # parameters per model (the width is chosen to match)
TTA=${TTA:-8}              # TTA transforms for the "on" rows
JOBS=${JOBS:-2}
part=${1:-all}
# parts may be listed: `fashion,pseudo-control`; each part waits for the runs it depends on, no more
want() { [[ $part == all || ,$part, == *,$1,* ]]; }

# run "$@" in the background, at most $JOBS at a time
spawn() {
  while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
  "$@" &
}
drain() { wait || true; }

# train NAME TASK ARCH SEED [extra flags]: skipped when its result exists; then test metrics with and without TTA
train() {
  local name=$1 task=$2 arch=$3 seed=$4; shift 4
  if [[ ! -f $out/$name/result.json ]]; then
    rm -rf "${out:?}/$name"
    refinery train rotnet --name "$name" --runs-dir "$out" --task "$task" --arch "$arch" --seed "$seed" --params "$PARAMS" \
      --max-minutes "$MIN" "$@" > "$out/$name.log" 2>&1
  fi
  local ttas=(1 "$TTA"); [[ -n ${NO_TTA:-} ]] && ttas=(1)
  for t in "${ttas[@]}"; do
    [[ -s $out/$name.tta$t.json ]] || refinery eval rotnet --checkpoint "$out/$name/model.safetensors" --tta "$t" --json 2>/dev/null > "$out/$name.tta$t.json"
  done
}

if want archs; then
  for seed in 0 1; do
    for arch in plain cyclic-pool cyclic-roll; do spawn train "mnist-$arch-s$seed" mnist-rot "$arch" "$seed"; done
  done
  NO_TTA=1 spawn train mnist-dihedral-s0 mnist-rot dihedral 0  # 8 views: its TTA costs 2x the others'; trained and scored without
fi

if want pseudo; then
  drain  # needs the cyclic-roll models
  from=$out/mnist-cyclic-roll-s0/model.safetensors,$out/mnist-cyclic-roll-s1/model.safetensors
  for seed in 0 1; do spawn train "mnist-cyclic-roll-pseudo-s$seed" mnist-rot cyclic-roll "$seed" --pseudo-from "$from" --pseudo-tta 4; done
fi

if want pseudo-control; then
  drain  # needs the pseudo-labelled runs' step counts
  # the machine's load changes over time, so equal minutes can mean unequal steps: the labelled-only
  # cyclic-roll network again, for exactly the steps each pseudo-labelled run made
  for seed in 0 1; do
    steps=$(node -e "console.log(require('./$out/mnist-cyclic-roll-pseudo-s$seed/result.json').step)")
    MIN=60 spawn train "mnist-cyclic-roll-eqsteps-s$seed" mnist-rot cyclic-roll "$seed" --steps "$steps"
  done
fi

if want ensemble; then
  drain  # needs the arch models
  cks=$(ls $out/mnist-{plain,cyclic-pool,cyclic-roll}-s{0,1}/model.safetensors | paste -sd,)
  [[ -s $out/ensemble.json ]] || refinery ensemble --checkpoints "$cks" --tta 1 --json 2>/dev/null > "$out/ensemble.json"
fi

if want fashion; then
  for arch in plain cyclic-pool cyclic-roll; do NO_TTA=1 spawn train "fashion-$arch-s0" fashion-rot "$arch" 0; done
fi
drain

#!/usr/bin/env bash
# The diffusion issue's experiments (README "Diffusion experiments"), in parts:
#   bash scripts/diffusion-experiments.sh ablation   # eps vs x0 x uniform vs likelihood: train 4 small models, FID + bits/dim
#   bash scripts/diffusion-experiments.sh guidance   # CFG gamma sweep, score temperature, samplers x NFE on the shipped model
# Results: runs/experiments/*.jsonl and sample grids under runs/experiments/grids/. Each part runs
# for tens of minutes on 2 cores; REFINERY_NUM_THREADS=1 lets two parts run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=runs/experiments
mkdir -p "$out/grids"
refinery() { node dist/src/cli/main.js "$@"; }
N=${N:-1000}
part=${1:-all}

if [[ $part == ablation || $part == all ]]; then
  # same network, data, optimiser, steps and seed; only the output parameterisation and the weighting differ
  STEPS=${ABLATION_STEPS:-1000}
  for pred in eps x0; do
    for w in uniform likelihood; do
      name=ablation-$pred-$w
      if [[ $w == uniform ]]; then obj=(--weighting eps --noise uniform-t); else obj=(--weighting likelihood --noise likelihood-is); fi
      if [[ ! -f $out/$name.safetensors ]]; then
        refinery train diffusion --name "$name" --prediction "$pred" "${obj[@]}" --channels 16 --steps "$STEPS" \
          --max-minutes 60 --preview-every 500 --guidance 1 --out "$out/$name.safetensors"
      fi
      refinery eval diffusion --checkpoint "$out/$name.safetensors" --n "$N" --guidance 1 --sampler heun --steps 18 \
        --bpd "${BPD_IMAGES:-64}" --grids "$out/grids/$name" --json | tee "$out/$name.jsonl"
    done
  done
fi

if [[ $part == guidance || $part == all ]]; then
  ck=${CHECKPOINT:-checkpoints/fashion-diffusion.safetensors}
  # 1. classifier-free guidance scale (plus the same metrics for N real training images: the floor)
  refinery eval diffusion --checkpoint "$ck" --n "$N" --floor --guidance 0,1,2,3,5 --sampler heun --steps 18 --grids "$out/grids/cfg" --json | tee "$out/cfg.jsonl"
  # 2. score temperature (the conditional score times gamma), same sampler and noise
  refinery eval diffusion --checkpoint "$ck" --n "$N" --temperature 1,2,3,5 --sampler heun --steps 18 --grids "$out/grids/temperature" --json | tee "$out/temperature.jsonl"
  # classifier guidance: the unconditional model steered by the noise-conditional classifier
  refinery eval diffusion --checkpoint "$ck" --n "$N" --classifier-guidance 0,1,2,4 --sampler heun --steps 18 --grids "$out/grids/classifier" --json | tee "$out/classifier.jsonl"
  # 3. samplers at 10, 20 and 50 network evaluations (conditional, gamma = 1)
  refinery eval diffusion --checkpoint "$ck" --n "$N" --guidance 1 --sampler euler,heun,dpmpp-2m --nfe 10,20,50 --grids "$out/grids/samplers" --json | tee "$out/samplers.jsonl"
fi

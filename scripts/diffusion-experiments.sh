#!/usr/bin/env bash
# The diffusion issue's experiments (README "Diffusion experiments"), in parts that can run side by
# side (REFINERY_NUM_THREADS=1 each on a 2-core machine):
#   bash scripts/diffusion-experiments.sh ablation  # eps vs x0 x uniform vs likelihood weighting: 4 small models, FID + bits/dim
#   bash scripts/diffusion-experiments.sh cfg       # classifier-free guidance scale sweep (N=1000) + bits/dim, shipped model
#   bash scripts/diffusion-experiments.sh others    # score temperature, classifier guidance, samplers x NFE (N=500), shipped model
# Results: runs/experiments/*.jsonl (one JSON line per setting) and grids under runs/experiments/grids/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=runs/experiments
mkdir -p "$out/grids"
refinery() { node dist/src/cli/main.js "$@"; }
ck=${CHECKPOINT:-checkpoints/fashion-diffusion.safetensors}
part=${1:-all}

if [[ $part == ablation || $part == all ]]; then
  # same network (16 channels), data, optimiser, 1000 steps and seed; only the output parameterisation
  # and the weighting differ. "uniform": the uniform eps-MSE of DDPM with t ~ U[0.001, 1] (VP linear);
  # "likelihood": Song et al.'s likelihood weighting, importance-sampled (log-uniform sigma).
  STEPS=${ABLATION_STEPS:-1000}
  # control: EDM preconditioning, weighting and log-normal noise levels, same budget
  for pred in eps x0 edm; do
    for w in uniform likelihood edm; do
      if [[ $pred == edm && $w != edm ]] || [[ $pred != edm && $w == edm ]]; then continue; fi
      name=ablation-$pred-$w
      case $w in
        uniform) obj=(--weighting eps --noise uniform-t) ;;
        likelihood) obj=(--weighting likelihood --noise likelihood-is) ;;
        edm) obj=(--weighting edm --noise lognormal) ;;
      esac
      if [[ ! -f $out/$name.safetensors ]]; then
        refinery train diffusion --name "$name" --prediction "$pred" "${obj[@]}" --channels 16 --steps "$STEPS" \
          --max-minutes 60 --preview-every 500 --guidance 1 --out "$out/$name.safetensors"
      fi
      # evaluated alike: 500 conditional samples, D clipped to [-1, 1], Heun and DDPM at 35 evaluations; bits/dim of 64 test images
      refinery eval diffusion --checkpoint "$out/$name.safetensors" --n 500 --guidance 1 --clip --sampler heun,ddpm --nfe 35 \
        --bpd 64 --grids "$out/grids/$name" --json | tee "$out/$name.jsonl"
    done
  done
fi

if [[ $part == cfg || $part == all ]]; then
  # 1. classifier-free guidance scale, plus the same metrics for 1000 real training images (the floor)
  refinery eval diffusion --checkpoint "$ck" --n 1000 --floor --guidance 0,1,2,3,5 --sampler heun --steps 18 --grids "$out/grids/cfg" --json | tee "$out/cfg.jsonl"
  # bits/dim of the test set under the unconditional model (PF-ODE, Hutchinson)
  refinery eval diffusion --checkpoint "$ck" --bpd 64 --bpd-only --json | tee "$out/bpd.jsonl"
fi

if [[ $part == others || $part == all ]]; then
  # 2. score temperature (the conditional score times gamma) against CFG, same sampler and noise
  refinery eval diffusion --checkpoint "$ck" --n 500 --floor --temperature 1,2,3,5 --sampler heun --steps 18 --grids "$out/grids/temperature" --json | tee "$out/temperature.jsonl"
  refinery eval diffusion --checkpoint "$ck" --n 500 --guidance 3 --sampler heun --steps 18 --json | tee -a "$out/temperature.jsonl"
  # classifier guidance: the unconditional model steered by the noise-conditional classifier
  refinery eval diffusion --checkpoint "$ck" --n 500 --classifier-guidance 0,1,2,4,8,16 --sampler heun --steps 18 --grids "$out/grids/classifier" --json | tee "$out/classifier.jsonl"
  # 3. samplers at 10, 20 and 50 network evaluations (conditional, gamma = 1)
  refinery eval diffusion --checkpoint "$ck" --n 500 --guidance 1 --sampler euler,heun,dpmpp-2m --nfe 10,20,50 --grids "$out/grids/samplers" --json | tee "$out/samplers.jsonl"
fi

#!/usr/bin/env bash
# The main job on its built-in defaults: train a class-conditional diffusion model on Fashion-MNIST
# for at most 20 minutes (2 cores), then sample labelled grids at guidance 0, 1, 2, 3, 5 into
# runs/diffusion/ with its HTML report. Extra arguments go to `refinery train diffusion`
# (e.g. --max-minutes 5, --name NAME, --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/cli/main.js train diffusion "$@"

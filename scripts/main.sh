#!/usr/bin/env bash
# The main job on its built-in defaults (until the diffusion job lands: the engine demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/cli/main.js demo "$@"

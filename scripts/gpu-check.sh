#!/usr/bin/env bash
# On a GPU machine that has only Python PyTorch (a CUDA build): builds Refinery against that
# PyTorch's libtorch (scripts/test-libtorch.sh with its torch folder, in build/libtorch-<version>),
# runs the device tests there (they use cuda when it is present; the suite's other tests run too with
# --all), and the diffusion benchmark against the same PyTorch (on the CPU: the benchmark has no device
# option yet, so it checks the build and the op table there, not GPU speed).
#
# usage: scripts/gpu-check.sh [--all]
#   PYTHON   the Python whose torch to use (default python3)
#   NODE_DIR a Node.js folder (bin/node) to use when the machine has no node on PATH: carry the
#            official linux-x64 tarball, unpacked (node 20 or later)
# Needs the checkout's npm packages (node_modules, from `npm ci` or carried along), g++ and make.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
if ! command -v node >/dev/null; then
  [ -n "${NODE_DIR:-}" ] && [ -x "$NODE_DIR/bin/node" ] || { echo "gpu-check: no node on PATH; set NODE_DIR to an unpacked Node.js (bin/node)" >&2; exit 2; }
  export PATH="$NODE_DIR/bin:$PATH"
fi
torch_dir=$("$PYTHON" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
"$PYTHON" -c 'import torch, sys; print("gpu-check: PyTorch", torch.__version__, "CUDA", torch.version.cuda, "devices", torch.cuda.device_count()); sys.exit(0 if torch.cuda.is_available() else 1)' \
  || { echo "gpu-check: this PyTorch sees no CUDA device" >&2; exit 2; }
tests="dist/test/nn/device.test.js dist/test/diffusion/device.test.js dist/test/tensor/ops.test.js dist/test/tensor/autograd.test.js dist/test/cli/device.test.js dist/test/optim/optimizers.test.js dist/test/distributed/process_group.test.js"
if [ "${1:-}" = "--all" ]; then
  bash "$repo/scripts/test-libtorch.sh" "$torch_dir"
else
  # shellcheck disable=SC2086
  bash "$repo/scripts/test-libtorch.sh" "$torch_dir" $tests
fi
ver=$(sed -n "s/^__version__ = '\(.*\)'.*/\1/p" "$torch_dir/version.py" | head -1)
cd "${REFINERY_ALT_DIR:-$repo/build/libtorch-${ver:-other}}/tree"
echo "gpu-check: diffusion benchmark (Refinery on this libtorch vs this PyTorch)"
node dist/bench/main.js diffusion --python "$(command -v "$PYTHON")"
echo "gpu-check: optimizer step on the GPU, foreach vs per-parameter (Refinery vs this PyTorch)"
node dist/bench/main.js optim --device cuda --python "$(command -v "$PYTHON")"

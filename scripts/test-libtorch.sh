#!/usr/bin/env bash
# Builds Refinery against another libtorch and runs the test suite on it, without touching this
# checkout's addon, generated op table or dist/: the tree is copied to a build folder
# (build/libtorch-<version>/tree, git-ignored), the op table regenerated there from that libtorch's
# own declarations (torchgen ships in the wheel beside torch/), the addon built with LIBTORCH, then
# the suite (or the given test files) run.
#
# usage: scripts/test-libtorch.sh [WHEEL.whl | TORCH_DIR] [test files (dist/test/...) ...]
#   WHEEL.whl  a PyTorch wheel, installed offline into a virtual environment in the build folder
#              (default: the newest CPU 2.x wheel in /opt/wheels). --no-deps: only the libtorch in
#              torch/ and torchgen are used, not the Python package's dependencies.
#   TORCH_DIR  an installed torch package (its site-packages/torch), e.g. a GPU machine's PyTorch:
#              TORCH_DIR=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
# REFINERY_ALT_DIR overrides the build folder; REFINERY_NUM_THREADS is passed on (default 2).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$src" ]; then
  src=$(ls /opt/wheels/torch-2.*+cpu-*.whl 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$src" ] || { echo "test-libtorch: no wheel given and none in /opt/wheels (usage: scripts/test-libtorch.sh WHEEL.whl | TORCH_DIR)" >&2; exit 2; }
fi

if [[ "$src" == *.whl ]]; then
  [ -f "$src" ] || { echo "test-libtorch: no such wheel: $src" >&2; exit 2; }
  ver=$(basename "$src" | cut -d- -f2)
  dir=${REFINERY_ALT_DIR:-$repo/build/libtorch-$ver}
  mkdir -p "$dir"
  if [ ! -x "$dir/venv/bin/python" ] || ! "$dir/venv/bin/python" -c 'import sys, os, sysconfig; sys.exit(0 if os.path.isdir(os.path.join(sysconfig.get_paths()["purelib"], "torch", "include")) else 1)'; then
    echo "test-libtorch: installing $(basename "$src") into $dir/venv (offline)"
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --no-index --no-deps "$src"
  fi
  site=$("$dir/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  torch="$site/torch"
else
  torch=$(cd "$src" && pwd)
  site=$(dirname "$torch")
  [ -f "$torch/include/ATen/ATen.h" ] || { echo "test-libtorch: $torch is not a torch package folder (no include/ATen/ATen.h)" >&2; exit 2; }
  ver=$(sed -n "s/^__version__ = '\(.*\)'.*/\1/p" "$torch/version.py" 2>/dev/null | head -1)
  dir=${REFINERY_ALT_DIR:-$repo/build/libtorch-${ver:-other}}
  mkdir -p "$dir"
fi
[ -d "$site/torchgen/packaged/ATen" ] || { echo "test-libtorch: no torchgen beside $torch (a wheel ships it); cannot regenerate the op table" >&2; exit 2; }

# the checkout's files (tracked and untracked, not ignored) over the copy; builds in the copy are kept
tree="$dir/tree"
mkdir -p "$tree"
(cd "$repo" && git ls-files -co --exclude-standard -z | grep -zv '^node_modules$' | tar --null -T - -cf -) | tar -xf - -C "$tree"
# the checkout's npm packages, shared read-only through a link (nothing here runs npm: npm ci would
# replace the link's target)
modules=$(readlink -f "$repo/node_modules")
[ -d "$modules/node-addon-api" ] || { echo "test-libtorch: no npm packages in $repo/node_modules: run scripts/setup.sh there first" >&2; exit 2; }
[ -L "$tree/node_modules" ] || rm -rf "$tree/node_modules"
ln -sfn "$modules" "$tree/node_modules"
cd "$tree"

decl=$(mktemp -d)
trap 'rm -rf "$decl"' EXIT
echo "test-libtorch: op declarations of $torch"
PYTHONPATH="$site" /usr/bin/python3 -m torchgen.gen -s "$site/torchgen/packaged/ATen" -d "$decl" --generate declarations_yaml >/dev/null
/usr/bin/python3 tools/gen_ops.py --declarations "$decl/Declarations.yaml" --allow-missing-guards
# the addon against this libtorch (native/install.js rebuilds when its sources or LIBTORCH changed), then TypeScript
LIBTORCH="$torch" node native/install.js
node scripts/build-ts.js
export REFINERY_NUM_THREADS=${REFINERY_NUM_THREADS:-2}
# tests that build the addon again (the packed-install test) build it against this libtorch too
export LIBTORCH="$torch"
echo "test-libtorch: $(node -p "require('./dist/src/tensor').torchVersion") in $tree"
if [ $# -gt 0 ]; then
  exec node --test --test-concurrency=1 "$@"
fi
exec node --test --test-concurrency=1 $(find dist/test -name '*.test.js' | sort)

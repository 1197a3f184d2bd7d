#!/usr/bin/env bash
# Regenerate ATen's op declarations for a libtorch and the bindings generated from them.
# Usage: scripts/gen-declarations.sh [path-to-torchgen-parent]   (default: Debian's python3-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
TG_PARENT=${1:-/usr/lib/python3/dist-packages}
out=$(mktemp -d)
PYTHONPATH="$TG_PARENT" /usr/bin/python3 -m torchgen.gen -s "$TG_PARENT/torchgen/packaged/ATen" -d "$out" --generate declarations_yaml
/usr/bin/python3 tools/gen_ops.py --declarations "$out/Declarations.yaml"
rm -rf "$out"

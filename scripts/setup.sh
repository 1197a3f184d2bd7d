#!/usr/bin/env bash
# Installs whatever is missing, idempotently, and quickly when nothing is:
# Debian packages, npm dependencies, the native addon, the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."
# one set-up at a time (two shells building the addon at once would trip over each other)
exec 9>.setup.lock
flock 9

APT_PACKAGES="libtorch-dev libopenblas0-pthread python3-torch python3-yaml dataset-fashion-mnist"
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# npm dependencies: reinstall only when the lockfile changed since the last install
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.refinery-lock ] || [ "$(cat node_modules/.refinery-lock)" != "$lock_sum" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.refinery-lock
fi

# native addon: rebuild when its sources, the build files or LIBTORCH changed
native_sum=$( (cat native/binding.gyp native/config.js native/src/* native/generated/*; echo "${LIBTORCH:-}") | sha256sum | cut -d' ' -f1)
stamp=native/build/.refinery-stamp
if [ ! -f native/build/Release/refinery.node ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$native_sum" ]; then
  echo "setup: building the native addon (a few minutes the first time)"
  nodedir=()
  [ -f /usr/include/node/node_api.h ] && nodedir=(--nodedir=/usr)
  if ! (cd native && ../node_modules/.bin/node-gyp configure "${nodedir[@]}" --loglevel=warn && ../node_modules/.bin/node-gyp build -j "$(nproc)" --loglevel=warn) > native-build.log 2>&1; then
    tail -40 native-build.log
    echo "setup: native build failed (full log: native-build.log)" >&2
    exit 1
  fi
  echo "$native_sum" > "$stamp"
fi

# TypeScript: rebuild when any source is newer than the build
ts_sum=$(find src test bench tsconfig.json -type f \( -name '*.ts' -o -name '*.json' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -f dist/.refinery-stamp ] || [ "$(cat dist/.refinery-stamp)" != "$ts_sum" ]; then
  echo "setup: compiling TypeScript"

  node_modules/.bin/tsc -p .
  echo "$ts_sum" > dist/.refinery-stamp
fi

#!/usr/bin/env bash
# Installs whatever is missing, idempotently, and quickly when nothing is:
# Debian packages, npm dependencies, the native addon, the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."
# one set-up at a time (two shells building the addon at once would trip over each other)
exec 9>.setup.lock
flock 9

APT_PACKAGES="libtorch-dev libopenblas0-pthread libgloo-dev python3-torch python3-torchaudio python3-yaml dataset-fashion-mnist fluidsynth timgm6mb-soundfont espeak-ng chromium"
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
  npm ci --no-audit --no-fund --loglevel=error --foreground-scripts
  echo "$lock_sum" > node_modules/.refinery-lock
fi

# native addon: rebuilt when its sources, the build files or LIBTORCH changed (a stamp in native/build);
# the same script is the package's npm `install` step, so `npm ci` above may already have built it
node native/install.js

# TypeScript: recompiled when any source changed (a stamp in dist); also npm's `prepare` step
node scripts/build-ts.js

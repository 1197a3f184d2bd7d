#!/usr/bin/env node
// Builds the native addon (native/build/Release/refinery.node) against the libtorch it finds:
// LIBTORCH=/path (a libtorch tree with include/ and lib/, e.g. the torch folder of a pip wheel),
// else Debian's libtorch-dev. npm runs it as the package's `install` script; scripts/setup.sh runs it
// in a checkout. It skips the build when a stamped build of the same sources and LIBTORCH exists, so
// running it again (npm ci, then setup.sh) costs nothing. REFINERY_SKIP_BUILD=1 defers the build.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync, spawnSync } = require('child_process');

const native = __dirname;
const root = path.dirname(native);
const stampFile = path.join(native, 'build', '.refinery-stamp');
const addon = path.join(native, 'build', 'Release', 'refinery.node');
const logFile = path.join(native, 'build.log');

const INSTALL_LIBTORCH =
  '  Debian/Ubuntu:  apt-get install libtorch-dev libopenblas0-pthread\n' +
  '  any libtorch:   LIBTORCH=/path/to/libtorch npm rebuild refinery   (a folder with include/ and lib/:\n' +
  '                  the libtorch zip from pytorch.org, or the torch folder of a pip wheel,\n' +
  '                  LIBTORCH=$(python3 -c \'import torch, os; print(os.path.dirname(torch.__file__))\'))';

function say(msg) { process.stderr.write(`refinery: ${msg}\n`); }
function fail(msg) { say(msg); process.exit(1); }

/** The sources the addon is built from, and LIBTORCH: the same digest as the build stamp. */
function sourceDigest() {
  const files = ['binding.gyp', 'config.js'];
  for (const dir of ['src', 'generated']) {
    for (const f of fs.readdirSync(path.join(native, dir)).sort()) files.push(path.join(dir, f));
  }
  const h = crypto.createHash('sha256');
  for (const f of files) h.update(fs.readFileSync(path.join(native, f)));
  h.update(`${process.env.LIBTORCH || ''}\n`);
  return h.digest('hex');
}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}

/** The libtorch the build will use, or exit with what to install. */
function findLibtorch() {
  const env = process.env.LIBTORCH;
  if (env) {
    const lib = path.join(env, 'lib');
    if (!fs.existsSync(path.join(env, 'include', 'ATen', 'ATen.h')) || !fs.existsSync(path.join(lib, 'libtorch.so'))) {
      fail(`LIBTORCH=${env} is not a libtorch folder: expected include/ATen/ATen.h and lib/libtorch.so under it.\n` +
        `Point LIBTORCH at a libtorch tree, or unset it to use Debian's libtorch-dev:\n${INSTALL_LIBTORCH}`);
    }
    return env;
  }
  let multiarch = '';
  try { multiarch = execFileSync('gcc', ['-print-multiarch']).toString().trim(); } catch { /* reported below */ }
  const lib = `/usr/lib/${multiarch}/libtorch.so`;
  if (!fs.existsSync('/usr/include/ATen/ATen.h') || !multiarch || !fs.existsSync(lib)) {
    fail(`no libtorch found (LIBTORCH is not set and Debian's libtorch-dev is not installed: no /usr/include/ATen/ATen.h` +
      `${multiarch ? ` or ${lib}` : ''}).\nThe native addon builds against libtorch; install it, then run \`npm rebuild refinery\`:\n` +
      `${INSTALL_LIBTORCH}`);
  }
  return '/usr (Debian libtorch-dev)';
}

/** node-gyp: npm's own (npm_config_node_gyp, set in npm scripts), the checkout's, or npm's bundled one. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try { candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })); } catch { /* not a dependency */ }
  const npm = which('npm');
  if (npm) candidates.push(path.join(path.dirname(fs.realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  return null;
}

function main() {
  if (process.env.REFINERY_SKIP_BUILD) {
    say('REFINERY_SKIP_BUILD is set: the native addon is not built; build it later with `npm rebuild refinery`');
    return;
  }
  const checkout = fs.existsSync(path.join(root, 'scripts', 'setup.sh'));
  if (checkout && process.env._PACOTE_NO_PREPARE_ !== undefined) {
    // npm preparing a git dependency: this clone is only packed; the installed package builds the addon
    return;
  }
  const digest = sourceDigest();
  if (fs.existsSync(addon) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8').trim() === digest) return;

  const torch = findLibtorch();
  const missing = ['g++', 'make', 'python3'].filter((c) => !which(c));
  if (missing.length) fail(`building the native addon needs ${missing.join(', ')} on PATH (Debian/Ubuntu: apt-get install g++ make python3)`);
  const gyp = findNodeGyp();
  if (!gyp) fail('building the native addon needs node-gyp: npm bundles one (run the install through npm), or `npm install -g node-gyp`');

  // Node's headers ship next to the node binary (official tarballs, nvm, Debian and NodeSource packages):
  // use them, so that no download is needed. Else node-gyp fetches them (or uses npm_config_nodedir).
  const args = [gyp];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) {
    args.push(`--nodedir=${prefix}`);
  }
  const jobs = String((os.availableParallelism ? os.availableParallelism() : os.cpus().length) || 1);
  say(`building the native addon against libtorch in ${torch} (${jobs} jobs; a minute or a few; log: ${logFile})`);
  const t0 = Date.now();
  fs.writeFileSync(logFile, '');
  const log = fs.openSync(logFile, 'a');
  for (const step of [['configure'], ['build', '-j', jobs]]) {
    const r = spawnSync(process.execPath, [...args, ...step, '--release', '--loglevel=warn'], { cwd: native, stdio: ['ignore', log, log] });
    if (r.status !== 0) {
      fs.closeSync(log);
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
      fail(`${tail}\nbuilding the native addon failed (node-gyp ${step[0]}; full log: ${logFile}).\n` +
        `It needs libtorch (found: ${torch}), a C++17 compiler and Node's headers. To use another libtorch:\n${INSTALL_LIBTORCH}`);
    }
  }
  fs.closeSync(log);
  fs.writeFileSync(stampFile, `${digest}\n`);
  say(`built the native addon in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

main();

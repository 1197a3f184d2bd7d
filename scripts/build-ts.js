#!/usr/bin/env node
// Compiles the TypeScript (src, test, bench) into dist/ when any source changed since the last build
// (a stamp of their digest), from a clean dist/ so that no output of a deleted source survives.
// Run by scripts/setup.sh and as npm's `prepare` script (npm ci/install in a checkout, npm pack,
// and a git-URL install, where dist/ is not in the repository).
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const stamp = path.join(root, 'dist', '.refinery-stamp');

function walk(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.(ts|json|html|css)$/.test(e.name)) out.push(p);
  }
  return out;
}

// web/: Refinery Studio's front end, bundled into dist/web after the compile (build-web.js)
const files = ['src', 'test', 'bench', 'web'].flatMap((d) => walk(path.join(root, d), [])).concat(path.join(root, 'tsconfig.json')).sort();
const h = crypto.createHash('sha256');
for (const f of files) h.update(`${path.relative(root, f)}\0`).update(fs.readFileSync(f));
const digest = h.digest('hex');
if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === digest) process.exit(0);

console.error('refinery: compiling TypeScript');
for (const d of ['src', 'test', 'bench', 'web']) fs.rmSync(path.join(root, 'dist', d), { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
const r = spawnSync(process.execPath, [tsc, '-p', root], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status || 1);
try {
  require('./build-web').buildWeb(root);
} catch (e) {
  console.error(`refinery: building the web app failed: ${e.message}`);
  process.exit(1);
}
fs.writeFileSync(stamp, `${digest}\n`);

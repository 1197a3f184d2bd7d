#!/usr/bin/env node
// Builds Refinery Studio's front end (web/) into dist/web: type-checks it (tsc, DOM types), bundles
// web/src/main.ts with esbuild into dist/web/assets/app.js, and copies index.html and style.css.
// Nothing is fetched: no CDN, the bundle is self-contained. Run by scripts/build-ts.js.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

function buildWeb(root = path.resolve(__dirname, '..')) {
  const web = path.join(root, 'web');
  const out = path.join(root, 'dist', 'web');
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(web, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('web/: type errors (above)');
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(path.join(out, 'assets'), { recursive: true });
  const esbuild = require(require.resolve('esbuild', { paths: [root] }));
  esbuild.buildSync({
    entryPoints: [path.join(web, 'src', 'main.ts')], bundle: true, format: 'iife', target: 'es2022', minify: true,
    sourcemap: false, outfile: path.join(out, 'assets', 'app.js'), logLevel: 'warning',
  });
  fs.copyFileSync(path.join(web, 'index.html'), path.join(out, 'index.html'));
  fs.copyFileSync(path.join(web, 'style.css'), path.join(out, 'assets', 'style.css'));
}

module.exports = { buildWeb };
if (require.main === module) buildWeb();

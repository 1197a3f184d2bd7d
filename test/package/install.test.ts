// The package as a user gets it: `npm pack`, then the tarball installed into a new project offline,
// which builds the native addon (the package's install step); then, from that project, a tensor op
// from CommonJS and from ESM, every subpath's ESM names, a TypeScript consumer (node16 and bundler
// resolution), the CLI (`--help`, and `sample` with the shipped checkpoint), and the errors for a
// missing addon and a wrong LIBTORCH.
//
// Offline: the consumer installs with `npm ci --offline` against a lockfile that pins refinery's
// dependencies to the versions in this repository's lockfile, whose tarballs `npm ci` put in the npm
// cache (a plain `npm install --offline` would also need the registry's package documents, which
// `npm ci` does not cache). Only when the cache lacks a tarball does it fall back to the registry.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync, SpawnSyncReturns } from 'child_process';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const MINUTE = 60_000;

/** The environment for the nested npm: none of the npm_* variables of an enclosing `npm test`. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !/^npm_config_(cache|registry|userconfig)$/i.test(k)) continue;
    if (k === 'INIT_CWD' || k === 'REFINERY_SKIP_BUILD' || k === '_PACOTE_NO_PREPARE_') continue;
    env[k] = v;
  }
  env.REFINERY_NUM_THREADS = '1';
  return env;
}
const ENV = cleanEnv();

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env = ENV): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 26 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.error, undefined, `${what}: ${r.error}`);
  assert.equal(r.status, 0, `${what} exited ${r.status} (signal ${r.signal})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r.stdout;
}

function filesUnder(dir: string, keep: (f: string) => boolean): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(ROOT, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .filter(keep);
}

/** The consumer's lockfile: refinery from the tarball, its dependencies (transitively) as this repo pins them. */
function consumerLock(tgz: string): object {
  const repoLock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { refinery: tgz } },
    'node_modules/refinery': {
      version: PKG.version, resolved: tgz, hasInstallScript: true, license: PKG.license, os: PKG.os,
      dependencies: PKG.dependencies, bin: PKG.bin,
    },
  };
  // each dependency where Node finds it from the package that needs it: in that package's own
  // node_modules (a version nested under it, e.g. node_modules/ajv/node_modules/fast-uri), else in
  // its parents', else at the top
  const where = (from: string, dep: string): string => {
    for (let base = from; ;) {
      const key = `${base}/node_modules/${dep}`;
      if (base !== '' && repoLock.packages[key]) return key;
      const i = base.lastIndexOf('/node_modules/');
      if (i < 0) return `node_modules/${dep}`;
      base = base.slice(0, i);
    }
  };
  const todo = Object.keys(PKG.dependencies ?? {}).map((d) => `node_modules/${d}`);
  while (todo.length) {
    const key = todo.pop()!;
    if (key in packages) continue;
    const entry = repoLock.packages[key];
    assert.ok(entry, `package-lock.json has no ${key}`);
    packages[key] = entry;
    todo.push(...Object.keys(entry.dependencies ?? {}).map((d) => where(key, d)));
    for (const d of Object.keys(entry.optionalDependencies ?? {})) if (repoLock.packages[where(key, d)]) todo.push(where(key, d));
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

const CJS_CHECK = `
const { tensor } = require('refinery/tensor');
const a = tensor([[1, 2], [3, 4]], { dtype: 'float32' });
console.log(JSON.stringify({ product: a.matmul(a).tolist(), resolved: require.resolve('refinery/tensor') }));
`;

// every subpath: the names an ESM import sees are all those of the CommonJS module
const ESM_CHECK = `
import { createRequire } from 'module';
import { tensor } from 'refinery/tensor';
const require = createRequire(import.meta.url);
const a = tensor([[1, 2], [3, 4]], { dtype: 'float32' });
const missing = {};
const { exports } = require('refinery/package.json');
for (const sub of Object.keys(exports).filter((s) => s !== './package.json')) {
  const spec = sub === '.' ? 'refinery' : 'refinery/' + sub.slice(2);
  const esm = Object.keys(await import(spec));
  const gone = Object.keys(require(spec)).filter((n) => n !== '__esModule' && !esm.includes(n));
  if (gone.length) missing[spec] = gone;
}
console.log(JSON.stringify({ product: a.matmul(a).tolist(), subpaths: Object.keys(exports).length - 1, missing }));
`;

const TS_ESM = `
import { tensor, type Tensor } from 'refinery/tensor';
import { nn, optim } from 'refinery';
const a: Tensor = tensor([[1, 2], [3, 4]]);
const s: number = a.matmul(a).sum().item();
const layer = new nn.Linear(2, 3);
const opt = new optim.Adam(layer, { lr: 1e-3 });
// @ts-expect-error  the types are real: a misspelt method is an error
a.matmull(a);
console.log(s, opt);
`;
const TS_CJS = `
import { tensor } from 'refinery/tensor';
import refinery = require('refinery');
console.log(tensor([1, 2]).sum().item(), refinery.tensor);
`;

test('packed install: npm pack, install offline into a new project (builds the addon), use it from there', { timeout: 30 * MINUTE }, async (t) => {
  const npmV = run('npm', ['--version'], ROOT, MINUTE);
  if (npmV.error || npmV.status !== 0) {
    t.skip(`npm is not runnable here (${npmV.error ?? npmV.stderr.trim()}): cannot pack or install`);
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-pack-'));
  try {
    // 1. pack (scripts skipped: dist/ is what scripts/setup.sh compiled; prepare would recompile it)
    const packed = JSON.parse(ok(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT, 5 * MINUTE), 'npm pack'))[0];
    const tgzPath = path.join(tmp, packed.filename);
    const shipped = new Set<string>(packed.files.map((f: { path: string }) => f.path));
    t.diagnostic(`tarball ${(fs.statSync(tgzPath).size / 1e6).toFixed(2)} MB, ${shipped.size} files, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked`);

    await t.test('the tarball holds what the package needs at run and install time, and nothing else', () => {
      const allowed = /^(package\.json|README\.md|LICENSE|dist\/src\/.+\.(js|d\.ts)|dist\/web\/.+|native\/(binding\.gyp|config\.js|install\.js)|native\/(src|generated)\/.+|checkpoints\/[^/]+\.safetensors|python\/.+\.py)$/;
      const extra = [...shipped].filter((f) => !allowed.test(f));
      assert.deepEqual(extra, [], 'files that no user needs (tests, benches, fixtures, tools, build output)');
      const needed = [
        ...filesUnder(path.join(ROOT, 'dist', 'src'), (f) => /\.(js|d\.ts)$/.test(f)),
        ...filesUnder(path.join(ROOT, 'dist', 'web'), () => true), // Refinery Studio's built front end
        ...filesUnder(path.join(ROOT, 'native', 'src'), () => true),
        ...filesUnder(path.join(ROOT, 'native', 'generated'), () => true),
        ...filesUnder(path.join(ROOT, 'checkpoints'), (f) => f.endsWith('.safetensors')),
        ...filesUnder(path.join(ROOT, 'python'), (f) => f.endsWith(".py")),
        'native/binding.gyp', 'native/config.js', 'native/install.js', 'README.md',
        PKG.bin.refinery,
      ];
      for (const target of Object.values(PKG.exports as Record<string, string | Record<string, string>>)) {
        for (const file of typeof target === 'string' ? [target] : Object.values(target)) needed.push(file.replace(/^\.\//, ''));
      }
      const missing = needed.filter((f) => !shipped.has(f));
      assert.deepEqual(missing, [], 'files the package needs but does not ship');
      const main = fs.readFileSync(path.join(ROOT, PKG.bin.refinery), 'utf8');
      assert.ok(main.startsWith('#!/usr/bin/env node\n'), `${PKG.bin.refinery} starts with a node shebang`);
    });

    // 2. install into a new project, offline; the install step builds the addon
    const proj = path.join(tmp, 'consumer');
    fs.mkdirSync(proj);
    const tgz = `file:../${packed.filename}`;
    fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies: { refinery: tgz } }, null, 2));
    fs.writeFileSync(path.join(proj, 'package-lock.json'), JSON.stringify(consumerLock(tgz), null, 2));
    const npmCi = (mode: string) => run('npm', ['ci', mode, '--no-audit', '--no-fund', '--foreground-scripts'], proj, 25 * MINUTE);
    const t0 = Date.now();
    let inst = npmCi('--offline');
    if (inst.status !== 0 && /ENOTCACHED/.test(inst.stderr + inst.stdout)) {
      t.diagnostic('the npm cache lacks a dependency tarball: installing with --prefer-offline (registry for what is missing)');
      inst = npmCi('--prefer-offline');
      if (inst.status !== 0 && /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH/.test(inst.stderr + inst.stdout)) {
        t.skip(`the npm cache lacks refinery's dependencies and the registry is unreachable: run \`npm ci\` in the repository first\n${inst.stderr}`);
        return;
      }
    }
    const installLog = ok(inst, 'npm ci of the tarball') + inst.stderr;
    const installSeconds = (Date.now() - t0) / 1000;
    const built = /built the native addon in (\d+) s/.exec(installLog);
    t.diagnostic(`install ${installSeconds.toFixed(0)} s (native build ${built ? built[1] : '?'} s)`);
    const installed = path.join(proj, 'node_modules', 'refinery');
    const addon = path.join(installed, 'native', 'build', 'Release', 'refinery.node');
    assert.ok(built, `the install step built the addon\n${installLog}`);
    assert.ok(fs.existsSync(addon), `${addon} exists after install`);

    await t.test('require(): a tensor op runs on the installed package', () => {
      const out = JSON.parse(ok(run(process.execPath, ['-e', CJS_CHECK], proj, 2 * MINUTE), 'CommonJS check'));
      assert.deepEqual(out.product, [[7, 10], [15, 22]]);
      assert.ok(out.resolved.startsWith(installed + path.sep), `refinery/tensor resolves into the consumer's node_modules (${out.resolved})`);
    });

    await t.test('import: ESM named imports of every subpath', () => {
      fs.writeFileSync(path.join(proj, 'check.mjs'), ESM_CHECK);
      const out = JSON.parse(ok(run(process.execPath, ['check.mjs'], proj, 2 * MINUTE), 'ESM check'));
      assert.deepEqual(out.product, [[7, 10], [15, 22]]);
      assert.ok(out.subpaths >= 10, `${out.subpaths} subpaths checked`);
      assert.deepEqual(out.missing, {}, 'CommonJS exports an ESM import does not see');
    });

    await t.test('TypeScript: a consumer type-checks with node16 (ESM and CommonJS) and bundler resolution', (tt) => {
      let tsc: string;
      try {
        tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
      } catch {
        tt.skip('typescript is not installed in the repository (a devDependency)');
        return;
      }
      fs.writeFileSync(path.join(proj, 'index.mts'), TS_ESM);
      fs.writeFileSync(path.join(proj, 'index.cts'), TS_CJS);
      fs.writeFileSync(path.join(proj, 'bundled.ts'), TS_ESM);
      const base = { target: 'ES2022', strict: true, noEmit: true, typeRoots: [path.join(ROOT, 'node_modules', '@types')], types: ['node'] };
      const configs = {
        'tsconfig.node16.json': { compilerOptions: { ...base, module: 'node16', moduleResolution: 'node16' }, files: ['index.mts', 'index.cts'] },
        'tsconfig.bundler.json': { compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' }, files: ['bundled.ts'] },
      };
      for (const [name, config] of Object.entries(configs)) {
        fs.writeFileSync(path.join(proj, name), JSON.stringify(config, null, 2));
        ok(run(process.execPath, [tsc, '-p', name], proj, 5 * MINUTE), `tsc -p ${name}`);
      }
    });

    await t.test('CLI: npx refinery --help, and sample with the checkpoint shipped in the package', () => {
      const help = ok(run('npx', ['--offline', 'refinery', '--help'], proj, 2 * MINUTE), 'npx refinery --help');
      assert.match(help, /refinery/);
      assert.match(help, /\bsample\b/);
      const png = path.join(proj, 'samples.png');
      ok(run('npx', ['--offline', 'refinery', 'sample', '--n', '2', '--steps', '2', '--out', png], proj, 5 * MINUTE), 'npx refinery sample');
      assert.deepEqual([...fs.readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
    });

    await t.test('the install step is idempotent; a missing addon and a wrong LIBTORCH say what to do', () => {
      const installJs = path.join(installed, 'native', 'install.js');
      const again = run(process.execPath, [installJs], proj, MINUTE);
      ok(again, 'install.js again');
      assert.equal(again.stderr, '', 'a stamped build of the same sources is not rebuilt');

      const bad = run(process.execPath, [installJs], proj, MINUTE, { ...ENV, LIBTORCH: path.join(tmp, 'no-libtorch') });
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /LIBTORCH=\S+no-libtorch is not a libtorch folder: expected include\/ATen\/ATen\.h and lib\/libtorch\.so/);
      assert.match(bad.stderr, /apt-get install libtorch-dev libopenblas0-pthread/);

      const away = `${addon}.away`;
      fs.renameSync(addon, away);
      try {
        const r = run(process.execPath, ['-e', "require('refinery/tensor')"], proj, MINUTE);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /refinery: the native addon is not built \(no \S+refinery\.node\)/);
        assert.match(r.stderr, /npm rebuild refinery/);
        assert.match(r.stderr, /apt-get install libtorch-dev libopenblas0-pthread/);
        assert.match(r.stderr, /LIBTORCH=\/path\/to\/libtorch/);
      } finally {
        fs.renameSync(away, addon);
      }
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

// Run folders: config.json written once and checked on resume, the layout, names.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Run, configDiff } from '../../src/train/run';

function tmpRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'run-test-'));
}

test('a new run creates runs/<name>/ with config.json, checkpoints/, metrics.jsonl', () => {
  const root = tmpRoot();
  const run = Run.open({ root, name: 'mnist/mlp-1', config: { lr: 0.1, layers: [784, 10], skip: undefined } });
  assert.equal(run.dir, path.join(root, 'mnist', 'mlp-1'));
  assert.equal(run.resumed, false);
  assert.deepEqual(JSON.parse(fs.readFileSync(run.configPath, 'utf8')), { lr: 0.1, layers: [784, 10] });
  assert.ok(fs.statSync(path.join(run.dir, 'checkpoints')).isDirectory());
  run.metrics().write(1, { loss: 1 });
  run.close();
  assert.deepEqual(run.readMetrics().map((r) => r.loss), [1]);
  assert.equal(run.file('samples', 'grid-1.png'), path.join(run.dir, 'samples', 'grid-1.png'));
  assert.ok(fs.existsSync(path.join(run.dir, 'samples')));
});

test('an existing run: an error without resume; resume with the same config; overwrite starts over', () => {
  const root = tmpRoot();
  Run.open({ root, name: 'a', config: { lr: 0.1, nested: { b: 1, c: 2 } } }).close();
  assert.throws(() => Run.open({ root, name: 'a', config: { lr: 0.1 } }), /run "a" already exists at .*: pass resume: true to continue it, overwrite: true to start it over, or choose another name/);
  // key order does not matter
  const again = Run.open({ root, name: 'a', config: { nested: { c: 2, b: 1 }, lr: 0.1 }, resume: true });
  assert.equal(again.resumed, true);
  again.metrics().write(1, { loss: 1 });
  again.close();
  const fresh = Run.open({ root, name: 'a', config: { lr: 0.5 }, overwrite: true });
  assert.equal(fresh.resumed, false);
  assert.deepEqual(fresh.readMetrics(), []);
  assert.deepEqual(JSON.parse(fs.readFileSync(fresh.configPath, 'utf8')), { lr: 0.5 });
  // resume: true on a run that does not exist yet starts it
  assert.equal(Run.open({ root, name: 'new', config: {}, resume: true }).resumed, false);
});

test('resuming with a different config is an error naming the differences, unless allowed', () => {
  const root = tmpRoot();
  Run.open({ root, name: 'r', config: { lr: 0.1, epochs: 10, model: { width: 64 } } });
  const changed = { lr: 0.01, epochs: 20, model: { width: 64 } };
  assert.throws(() => Run.open({ root, name: 'r', config: changed, resume: true }),
    (err: Error) => {
      assert.match(err.message, /run "r": the config differs from the one it was started with/);
      assert.match(err.message, /lr: 0\.1 -> 0\.01; epochs: 10 -> 20/);
      assert.match(err.message, /allowConfigChange: \["lr", "epochs"\]/);
      return true;
    });
  assert.throws(() => Run.open({ root, name: 'r', config: changed, resume: true, allowConfigChange: ['epochs'] }), /lr: 0\.1 -> 0\.01/);
  const run = Run.open({ root, name: 'r', config: changed, resume: true, allowConfigChange: ['epochs', 'lr'] });
  assert.deepEqual(JSON.parse(fs.readFileSync(run.configPath, 'utf8')), changed);
  const kept = fs.readdirSync(run.dir).filter((f) => /^config\.\d{8}T\d{6}\.json$/.test(f));
  assert.equal(kept.length, 1, 'the config the run started with is kept');
  assert.equal(JSON.parse(fs.readFileSync(path.join(run.dir, kept[0]), 'utf8')).lr, 0.1);
  // a nested key is allowed by its parent
  Run.open({ root, name: 'r', config: { ...changed, model: { width: 128 } }, resume: true, allowConfigChange: ['model'] });
  assert.throws(() => Run.open({ root, name: 'r', config: { ...changed, model: { width: 32 } }, resume: true }), /model\.width: 128 -> 32/);
});

test('run names are relative folder names', () => {
  const root = tmpRoot();
  for (const bad of ['', '..', 'a/../b', '/abs', 'a//b', './a']) {
    assert.throws(() => Run.open({ root, name: bad }), /run name/);
  }
});

test('configDiff lists dotted keys with JSON values', () => {
  assert.deepEqual(configDiff({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 3], d: 'x' } }), [
    { key: 'b.c', old: '[1,2]', new: '[1,3]' },
    { key: 'b.d', old: '(absent)', new: '"x"' },
  ]);
});

// --- the run folder's lock, with real child processes ---

const CHILD = path.join(__dirname, 'lock_child.js');

function startChild(root: string, name: string, resume: boolean): Promise<{ child: import('child_process').ChildProcess; line: string }> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { spawn } = require('child_process') as typeof import('child_process');
  const child = spawn(process.execPath, [CHILD, root, name, resume ? '1' : '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, line: out.trim() });
    });
    child.on('error', reject);
    child.on('exit', (code) => { if (!out.includes('\n')) reject(new Error(`child exited with ${code} before answering`)); });
  });
}

function exited(child: import('child_process').ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.on('exit', () => resolve())));
}

test('a run held by another process: resume and a new run of that name are refused naming the pid; a killed holder\'s lock is taken over', async () => {
  const root = tmpRoot();
  const { child, line } = await startChild(root, 'busy', false);
  assert.equal(line, 'ok');
  const lock = path.join(root, 'busy', '.lock');
  assert.equal(JSON.parse(fs.readFileSync(lock, 'utf8')).pid, child.pid);
  const inUse = new RegExp(`run "busy" \\(.*busy\\) is in use by process ${child.pid} \\(since .*\\): wait for it to finish or stop it`);
  assert.throws(() => Run.open({ root, name: 'busy', config: { a: 1 }, resume: true }), inUse);
  assert.throws(() => Run.open({ root, name: 'busy', config: { a: 1 } }), inUse);
  assert.throws(() => Run.open({ root, name: 'busy', config: { a: 1 }, overwrite: true }), inUse);
  assert.ok(fs.existsSync(path.join(root, 'busy', 'config.json')), 'a refused overwrite deletes nothing');

  child.kill('SIGKILL');
  await exited(child);
  assert.ok(fs.existsSync(lock), 'kill -9 leaves the lock behind');
  const run = Run.open({ root, name: 'busy', config: { a: 1 }, resume: true });
  assert.equal(run.resumed, true);
  assert.equal(JSON.parse(fs.readFileSync(lock, 'utf8')).pid, process.pid);
  // re-entrant within this process; released by the last close()
  const again = Run.open({ root, name: 'busy', config: { a: 1 }, resume: true });
  again.close();
  assert.ok(fs.existsSync(lock));
  run.close();
  assert.ok(!fs.existsSync(lock));
  fs.rmSync(root, { recursive: true });
});

test('a holder that exits normally removes its lock; a lock whose pid now names another process is stale', async () => {
  const root = tmpRoot();
  const { child, line } = await startChild(root, 'r', false);
  assert.equal(line, 'ok');
  child.stdin!.end();
  await exited(child);
  assert.ok(!fs.existsSync(path.join(root, 'r', '.lock')));
  assert.equal(Run.open({ root, name: 'r', config: { a: 1 }, resume: true }).resumed, true);

  // a lock naming a live process (the parent of this one) but another start time: pid reuse
  if (fs.existsSync(`/proc/${process.ppid}/stat`)) {
    fs.mkdirSync(path.join(root, 'reused'));
    fs.writeFileSync(path.join(root, 'reused', '.lock'), JSON.stringify({ pid: process.ppid, host: os.hostname(), procStart: '1', since: 'then' }));
    assert.equal(Run.open({ root, name: 'reused', config: {} }).resumed, false);
  }
  fs.rmSync(root, { recursive: true });
});

test('two processes starting the same new run at once: exactly one gets it', async () => {
  const root = tmpRoot();
  const both = await Promise.all([startChild(root, 'race', false), startChild(root, 'race', false)]);
  const lines = both.map((b) => b.line);
  assert.equal(lines.filter((l) => l === 'ok').length, 1, lines.join('\n'));
  assert.match(lines.find((l) => l !== 'ok')!, /error: run "race" (\(.*\) is in use by process \d+|already exists)/);
  for (const b of both) b.child.stdin!.end();
  await Promise.all(both.map((b) => exited(b.child)));
  fs.rmSync(root, { recursive: true });
});

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  SYSTEMS, BATCH, TARGET, runNnBench, runRefinery, formatTable, compare, checkParams, expectedParams, parseNnArgs,
  type NnSystemResult, type SystemName,
} from '../../bench/nn';
import { findRepoRoot } from '../../bench/engine';
import { memory, getNumThreads } from '../../src/tensor';

test('bench nn: Refinery side, tiny batch, one step: a well-formed report', () => {
  const live0 = memory().liveTensors;
  const report = runNnBench({ only: ['refinery'], reps: 1, warmup: 1, threads: 1, tiny: true, log: null, pauseMs: 0 });
  assert.equal(report.bench, 'nn');
  assert.equal(report.size, 'tiny');
  assert.equal(report.batch, BATCH.tiny);
  assert.equal(report.threads, 1);
  assert.equal(report.reps, 1);
  assert.equal(report.warmup, 1);
  assert.deepEqual(report.order, ['refinery']);
  assert.deepEqual(Object.keys(report.systems).sort(), [...SYSTEMS].sort());
  const ref = report.systems.refinery;
  assert.equal(ref.available, true);
  assert.equal(ref.threads, 1);
  assert.equal(ref.iters, 1);
  assert.equal(ref.batch, BATCH.tiny);
  assert.match(String(ref.version), /libtorch/);
  assert.ok(typeof ref.ms === 'number' && Number.isFinite(ref.ms) && ref.ms > 0, 'ms');
  assert.ok(Number.isFinite(ref.firstLoss) && Number.isFinite(ref.finalLoss), 'losses');
  // the architecture: 458,730 learnable scalars plus 320 BatchNorm running statistics
  assert.deepEqual(expectedParams(), { trainable: 458730, nonTrainable: 320 });
  assert.deepEqual(ref.params, expectedParams());
  assert.equal(report.params.match, true);
  assert.equal(report.params.trainable.refinery, 458730);
  assert.equal(report.params.trainable.pytorch, null);
  for (const s of ['pytorch', 'tfjs'] as SystemName[]) {
    assert.equal(report.systems[s].available, false);
    assert.ok(report.systems[s].error);
  }
  const c = report.comparison;
  assert.equal(c.refineryMs, ref.ms);
  assert.equal(c.pytorchMs, null);
  assert.equal(c.ratioVsPytorch, null);
  assert.equal(c.pytorchTarget, 'n/a');
  assert.equal(c.tfjsTarget, 'n/a');
  assert.ok(report.notes.some((n) => /tiny/.test(n)));
  const table = formatTable(report);
  assert.match(table, /pytorch: n\/a/);
  assert.match(table, /parameters: MATCH/);
  assert.match(table, /batch 8/);
  JSON.parse(JSON.stringify(report)); // serialisable
  assert.equal(memory().liveTensors, live0, 'the benchmark frees every tensor it makes');
});

test('bench nn: runRefinery restores the thread count and works without warmup', () => {
  const before = getNumThreads();
  const r = runRefinery({ threads: 1, reps: 2, warmup: 0, tiny: true });
  assert.equal(getNumThreads(), before);
  assert.equal(r.system, 'refinery');
  assert.equal(r.iters, 2);
  assert.ok(Number.isFinite(r.firstLoss) && Number.isFinite(r.finalLoss));
});

test('bench nn: ratio, speed-up, target marks and the parameter check', () => {
  const mk = (system: SystemName, ms: number, trainable = 458730): NnSystemResult => ({
    system, available: true, ms, params: { trainable, nonTrainable: 320 },
  });
  const ok = compare({ refinery: mk('refinery', 10), pytorch: mk('pytorch', 10), tfjs: mk('tfjs', 40) });
  assert.equal(ok.ratioVsPytorch, 1);
  assert.equal(ok.pytorchTarget, 'met');
  assert.equal(ok.speedupVsTfjs, 4);
  assert.equal(ok.tfjsTarget, 'met');
  const slow = compare({ refinery: mk('refinery', 11.5), pytorch: mk('pytorch', 10), tfjs: mk('tfjs', 30) });
  assert.ok(slow.ratioVsPytorch! > TARGET.maxRatioVsPytorch);
  assert.equal(slow.pytorchTarget, 'missed');
  assert.equal(slow.tfjsTarget, 'missed');
  const none = compare({ refinery: mk('refinery', 10), pytorch: { system: 'pytorch', available: false }, tfjs: { system: 'tfjs', available: false } });
  assert.equal(none.pytorchTarget, 'n/a');
  assert.equal(none.tfjsTarget, 'n/a');
  assert.equal(checkParams({ refinery: mk('refinery', 1), pytorch: mk('pytorch', 1), tfjs: mk('tfjs', 1) }).match, true);
  assert.equal(checkParams({ refinery: mk('refinery', 1), pytorch: mk('pytorch', 1, 458731), tfjs: mk('tfjs', 1) }).match, false);
});

test('bench nn: option parsing and the peers are present', () => {
  const o = parseNnArgs(['--threads', '2', '--reps', '5', '--warmup', '0', '--only', 'refinery,tfjs', '--tfjs-backend', 'cpu', '--tiny', '--json']);
  assert.equal(o.threads, 2);
  assert.equal(o.reps, 5);
  assert.equal(o.warmup, 0);
  assert.deepEqual(o.only, ['refinery', 'tfjs']);
  assert.equal(o.tfjsBackend, 'cpu');
  assert.equal(o.tiny, true);
  assert.equal(o.json, true);
  assert.throws(() => parseNnArgs(['--only', 'jax']), /--only/);
  assert.throws(() => parseNnArgs(['--bogus']), /unknown option/);
  assert.throws(() => parseNnArgs(['--reps', '0']), /--reps/);
  assert.throws(() => parseNnArgs(['--warmup', '-1']), /--warmup/);
  assert.throws(() => parseNnArgs(['--tfjs-backend', 'webgl']), /--tfjs-backend/);
  const fs = require('fs') as typeof import('fs');
  const path = require('path') as typeof import('path');
  for (const f of ['torch_nn.py', 'tfjs_nn.js']) assert.ok(fs.existsSync(path.join(findRepoRoot(), 'bench', 'peers', f)), f);
});

test('bench main.js nn --tiny --only refinery --json: the CLI prints one report', () => {
  const path = require('path') as typeof import('path');
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const main = path.join(findRepoRoot(), 'dist', 'bench', 'main.js');
  const r = spawnSync(process.execPath, [main, 'nn', '--tiny', '--only', 'refinery', '--reps', '1', '--warmup', '1', '--threads', '1', '--json'],
    { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout.trim());
  assert.equal(rep.bench, 'nn');
  assert.equal(rep.systems.refinery.available, true);
  assert.equal(rep.params.match, true);
  const bad = spawnSync(process.execPath, [main, 'nn', '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option --bogus/);
});

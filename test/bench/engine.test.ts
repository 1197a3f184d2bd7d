import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  WORKLOADS, SYSTEMS, runEngineBench, runRefinery, formatTable, compare, findRepoRoot, parseEngineArgs,
  type SystemResult, type SystemName,
} from '../../bench/engine';
import { memory, getNumThreads } from '../../src/tensor';

test('bench engine: Refinery side with tiny workloads gives a well-formed report', () => {
  const live0 = memory().liveTensors;
  const report = runEngineBench({ only: ['refinery'], reps: 1, threads: 1, tiny: true, log: null, pauseMs: 0 });
  assert.equal(report.bench, 'engine');
  assert.equal(report.size, 'tiny');
  assert.equal(report.threads, 1);
  assert.equal(report.reps, 1);
  assert.equal(report.addReps, 1);
  assert.deepEqual(report.order, ['refinery']);
  assert.deepEqual(Object.keys(report.systems).sort(), [...SYSTEMS].sort());
  const ref = report.systems.refinery;
  assert.equal(ref.available, true);
  assert.equal(ref.threads, 1);
  assert.match(String(ref.version), /libtorch/);
  for (const w of WORKLOADS) {
    const r = ref.results![w];
    assert.ok(typeof r.ms === 'number' && Number.isFinite(r.ms) && r.ms >= 0, `${w}.ms`);
    assert.equal(r.iters, 1);
  }
  const add = ref.results!.add;
  assert.ok(add.variant === 'scope' || add.variant === 'dispose');
  const variants = add.variants as Record<string, { ms: number }>;
  assert.equal(add.ms, Math.min(variants.scope.ms, variants.dispose.ms));
  assert.ok(Number.isFinite(ref.results!.mlp.final_loss as number));
  for (const s of ['pytorch', 'tfjs'] as SystemName[]) {
    assert.equal(report.systems[s].available, false);
    assert.ok(report.systems[s].error);
  }
  assert.equal(report.comparison.length, WORKLOADS.length);
  for (const row of report.comparison) {
    assert.equal(typeof row.refineryMs, 'number');
    assert.equal(row.pytorchMs, null);
    assert.equal(row.ratioVsPytorch, null);
    assert.equal(row.pytorchTarget, 'n/a');
    assert.equal(row.tfjsTarget, row.workload === 'add' ? 'none' : 'n/a');
  }
  const table = formatTable(report);
  assert.match(table, /pytorch: n\/a/);
  assert.match(table, /\(d\) mlp step/);
  JSON.parse(JSON.stringify(report)); // serialisable
  assert.equal(memory().liveTensors, live0, 'the benchmark frees every tensor it makes');
});

test('bench engine: runRefinery restores the thread count', () => {
  const before = getNumThreads();
  const r = runRefinery({ threads: 1, reps: 1, tiny: true });
  assert.equal(getNumThreads(), before);
  assert.equal(r.system, 'refinery');
  assert.equal(r.threads, 1);
  assert.deepEqual(Object.keys(r.results!).sort(), [...WORKLOADS].sort());
});

test('bench engine: ratios, speed-ups and target marks', () => {
  const mk = (system: SystemName, ms: number): SystemResult => ({
    system, available: true,
    results: { add: { ms, iters: 1 }, matmul: { ms, iters: 1 }, conv: { ms, iters: 1 }, mlp: { ms, iters: 1 } },
  });
  const rows = compare({ refinery: mk('refinery', 10), pytorch: mk('pytorch', 10), tfjs: mk('tfjs', 40) });
  const add = rows.find((r) => r.workload === 'add')!;
  assert.equal(add.ratioVsPytorch, 1);
  assert.equal(add.pytorchTarget, 'met');
  assert.equal(add.tfjsTarget, 'none');
  const mm = rows.find((r) => r.workload === 'matmul')!;
  assert.equal(mm.speedupVsTfjs, 4);
  assert.equal(mm.tfjsTarget, 'met');
  const slow = compare({ refinery: mk('refinery', 11), pytorch: mk('pytorch', 10), tfjs: { system: 'tfjs', available: false } });
  assert.equal(slow[1].pytorchTarget, 'missed');
  assert.equal(slow[1].tfjsTarget, 'n/a');
});

test('bench engine: option parsing and repo root', () => {
  const o = parseEngineArgs(['--threads', '2', '--reps', '4', '--only', 'refinery,pytorch', '--skip-tfjs', '--json']);
  assert.equal(o.threads, 2);
  assert.equal(o.reps, 4);
  assert.equal(o.addReps, 3);
  assert.deepEqual(o.only, ['refinery', 'pytorch']);
  assert.equal(o.skipTfjs, true);
  assert.equal(o.json, true);
  assert.throws(() => parseEngineArgs(['--only', 'jax']), /--only/);
  assert.throws(() => parseEngineArgs(['--bogus']), /unknown option/);
  assert.throws(() => parseEngineArgs(['--reps', '0']), /--reps/);
  const fs = require('fs') as typeof import('fs');
  assert.ok(fs.existsSync(require('path').join(findRepoRoot(), 'bench', 'peers', 'torch_engine.py')));
});

test('bench main.js: unknown suite is a clear error listing the valid ones', () => {
  const path = require('path') as typeof import('path');
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const main = path.join(findRepoRoot(), 'dist', 'bench', 'main.js');
  const r = spawnSync(process.execPath, [main, 'nope'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown suite "nope"; valid: engine/);
});

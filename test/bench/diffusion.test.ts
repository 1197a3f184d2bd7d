import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import {
  DIFFUSION_SYSTEMS, BATCH, TARGET, runDiffusionBench, formatTable, compare, checkParams, expectedParams, benchConfig,
  parseDiffusionArgs, type DiffusionSystemResult, type DiffusionSystem,
} from '../../bench/diffusion';
import { findRepoRoot } from '../../bench/common';
import { UNet } from '../../src/diffusion/unet';
import { namedTensors, numParams } from '../../src/nn';
import { Generator, memory } from '../../src/tensor';

const PYTHON = '/usr/bin/python3';
/** Whether the PyTorch peer can run here (the interpreter exists and imports torch). */
const hasTorch = fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

test('bench diffusion: the expected parameter counts are those of UNet', () => {
  assert.deepEqual(expectedParams(benchConfig(1)), { trainable: 1191425, nonTrainable: 16 });
  assert.deepEqual(expectedParams(benchConfig(2)), { trainable: 1742433, nonTrainable: 16 });
  for (const k of [1, 2]) {
    const g = new Generator(0);
    const net = new UNet({ ...benchConfig(k), generator: g });
    assert.equal(numParams(net), expectedParams(benchConfig(k)).trainable, `numResBlocks ${k}`);
    for (const [, t] of namedTensors(net)) t.dispose();
    g.dispose();
  }
});

test('bench diffusion: Refinery side, tiny batches, one step each: a well-formed report', () => {
  const live0 = memory().liveTensors;
  const report = runDiffusionBench({ only: ['refinery'], reps: 1, warmup: 0, threads: 1, tiny: true, log: null, pauseMs: 0 });
  assert.equal(report.bench, 'diffusion');
  assert.equal(report.size, 'tiny');
  assert.equal(report.batch, BATCH.tiny.train);
  assert.equal(report.sampleBatch, BATCH.tiny.sample);
  assert.deepEqual(report.order, ['refinery']);
  assert.deepEqual(Object.keys(report.systems).sort(), [...DIFFUSION_SYSTEMS].sort());
  const ref = report.systems.refinery;
  assert.equal(ref.available, true);
  assert.equal(ref.threads, 1);
  for (const w of ['train', 'sample'] as const) {
    assert.ok(ref[w] && Number.isFinite(ref[w]!.ms) && ref[w]!.ms > 0, `${w} ms`);
    assert.equal(ref[w]!.iters, 1);
  }
  assert.ok(Number.isFinite(ref.train!.firstLoss) && Number.isFinite(ref.train!.finalLoss), 'losses');
  assert.deepEqual(ref.params, expectedParams());
  assert.equal(report.params.match, true);
  assert.equal(report.systems.pytorch.available, false);
  assert.equal(report.comparison.train.ratioVsPytorch, null);
  assert.equal(report.comparison.sample.status, 'n/a');
  assert.match(formatTable(report), /parameters: MATCH/);
  JSON.parse(JSON.stringify(report));
  assert.equal(memory().liveTensors, live0, 'the benchmark frees every tensor it makes');
});

test('bench diffusion: ratios, target marks and the parameter check', () => {
  const mk = (system: DiffusionSystem, train: number, sample: number, trainable = 1191425): DiffusionSystemResult => ({
    system, available: true, params: { trainable, nonTrainable: 16 },
    train: { ms: train, minMs: train, iters: 1, batch: 64 }, sample: { ms: sample, minMs: sample, iters: 1, batch: 128 },
  });
  const c = compare({ refinery: mk('refinery', 10, 12), pytorch: mk('pytorch', 10, 10) });
  assert.equal(c.train.ratioVsPytorch, 1);
  assert.equal(c.train.status, 'met');
  assert.ok(c.sample.ratioVsPytorch! > TARGET.maxRatioVsPytorch);
  assert.equal(c.sample.status, 'missed');
  assert.equal(checkParams({ refinery: mk('refinery', 1, 1), pytorch: mk('pytorch', 1, 1) }).match, true);
  assert.equal(checkParams({ refinery: mk('refinery', 1, 1), pytorch: mk('pytorch', 1, 1, 1191424) }).match, false);
});

test('bench diffusion: option parsing', () => {
  const o = parseDiffusionArgs(['--threads', '1', '--reps', '3', '--warmup', '0', '--only', 'pytorch', '--num-res-blocks', '2',
    '--batch', '8', '--sample-batch', '16', '--sigma', '0.5', '--json']);
  assert.deepEqual([o.threads, o.reps, o.warmup, o.numResBlocks, o.batch, o.sampleBatch, o.sigma, o.json], [1, 3, 0, 2, 8, 16, 0.5, true]);
  assert.deepEqual(o.only, ['pytorch']);
  assert.equal(parseDiffusionArgs(['--tiny']).batch, BATCH.tiny.train);
  assert.throws(() => parseDiffusionArgs(['--only', 'tfjs']), /TF\.js/);
  assert.throws(() => parseDiffusionArgs(['--sigma', '-1']), /--sigma/);
  assert.throws(() => parseDiffusionArgs(['--bogus']), /unknown option/);
  assert.ok(fs.existsSync(path.join(findRepoRoot(), 'bench', 'peers', 'torch_unet.py')));
});

test('bench main.js diffusion --tiny --json: both systems end to end, same parameter count', () => {
  const main = path.join(findRepoRoot(), 'dist', 'bench', 'main.js');
  const only = hasTorch ? [] : ['--only', 'refinery']; // no torch here: Refinery alone
  const r = spawnSync(process.execPath, [main, 'diffusion', '--tiny', '--reps', '1', '--warmup', '0', '--threads', '1', ...only, '--json'],
    { encoding: 'utf8', env: { ...process.env, REFINERY_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout.trim());
  assert.equal(rep.bench, 'diffusion');
  assert.equal(rep.systems.refinery.available, true);
  assert.equal(rep.params.match, true);
  assert.equal(rep.params.trainable.refinery, 1191425);
  if (hasTorch) {
    assert.equal(rep.systems.pytorch.available, true, rep.systems.pytorch.error);
    assert.equal(rep.params.trainable.pytorch, rep.params.trainable.refinery);
    assert.equal(rep.params.nonTrainable.pytorch, rep.params.nonTrainable.refinery);
    for (const w of ['train', 'sample']) {
      assert.ok(rep.systems.pytorch[w].ms > 0 && rep.systems.pytorch[w].cpuMs > 0, `pytorch ${w}`);
      assert.ok(rep.systems.refinery[w].cpuMs > 0, `refinery ${w} CPU time`);
      assert.ok(rep.comparison[w].ratioVsPytorch > 0, `${w} ratio`);
    }
  }
  const bad = spawnSync(process.execPath, [main, 'diffusion', '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option --bogus/);
});

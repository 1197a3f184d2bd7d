// metrics.jsonl: records written and read back exactly (non-finite values included), a partial
// line from a crash ignored and cut, truncation for resumed runs.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MetricsWriter, metricNames, readMetrics, truncateMetrics } from '../../src/train/metrics';

function tmpFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metrics-test-')), 'run', 'metrics.jsonl');
}

test('round trip: step, epoch, time and named values, one JSON object per line', () => {
  const file = tmpFile();
  const w = new MetricsWriter(file);
  const before = Date.now() / 1000;
  w.write(1, { 'train/loss': 2.302585092994046, lr: 0.1 }, { epoch: 0 });
  w.write(2, { 'train/loss': 1 / 3, lr: 0.1 }, { epoch: 0, time: 1234.5 });
  w.write(3, { 'eval/accuracy': 0.875 });
  w.write(4, { 'train/loss': NaN, big: Infinity, small: -Infinity });
  w.close();
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.length, 5);
  assert.equal(lines[4], '');
  assert.deepEqual(JSON.parse(lines[1]), { step: 2, time: 1234.5, epoch: 0, 'train/loss': 1 / 3, lr: 0.1 });
  assert.deepEqual(JSON.parse(lines[3]), { step: 4, time: JSON.parse(lines[3]).time, 'train/loss': 'NaN', big: 'Infinity', small: '-Infinity' });

  const recs = readMetrics(file);
  assert.equal(recs.length, 4);
  assert.equal(recs[0]['train/loss'], 2.302585092994046); // exact, not rounded
  assert.equal(recs[0].epoch, 0);
  assert.ok(recs[0].time >= before && recs[0].time <= Date.now() / 1000 + 1);
  assert.equal(recs[1]['train/loss'], 1 / 3);
  assert.equal(recs[2].epoch, undefined);
  assert.ok(Number.isNaN(recs[3]['train/loss']));
  assert.equal(recs[3].big, Infinity);
  assert.equal(recs[3].small, -Infinity);
  assert.deepEqual(metricNames(recs), ['train/loss', 'lr', 'eval/accuracy', 'big', 'small']);
});

test('appends to an existing file; a partial last line (crash) is ignored by the reader and cut by the writer', () => {
  const file = tmpFile();
  const w = new MetricsWriter(file);
  w.write(1, { loss: 1 });
  w.write(2, { loss: 0.5 });
  w.close();
  fs.appendFileSync(file, '{"step":3,"time":1,"lo'); // a write cut short
  assert.deepEqual(readMetrics(file).map((r) => r.step), [1, 2]);
  const w2 = new MetricsWriter(file);
  w2.write(3, { loss: 0.25 });
  w2.close();
  assert.deepEqual(readMetrics(file).map((r) => [r.step, r.loss]), [[1, 1], [2, 0.5], [3, 0.25]]);
});

test('keepUpToStep / truncateMetrics drop the records a resumed run writes again', () => {
  const file = tmpFile();
  const w = new MetricsWriter(file);
  for (let s = 1; s <= 10; s++) w.write(s, { loss: 1 / s });
  w.close();
  truncateMetrics(file, 8);
  assert.equal(readMetrics(file).length, 8);
  const w2 = new MetricsWriter(file, { keepUpToStep: 5 });
  w2.write(6, { loss: 42 });
  w2.close();
  assert.deepEqual(readMetrics(file).map((r) => [r.step, r.loss]), [[1, 1], [2, 0.5], [3, 1 / 3], [4, 0.25], [5, 0.2], [6, 42]]);
});

test('errors: reserved names, non-numbers, malformed lines, closed writer; a missing file reads as []', () => {
  const file = tmpFile();
  assert.deepEqual(readMetrics(file), []);
  const w = new MetricsWriter(file);
  assert.throws(() => w.write(1, { step: 3 }), /"step" is reserved/);
  assert.throws(() => w.write(1, { loss: '0.5' as unknown as number }), /metric "loss" must be a number/);
  assert.throws(() => w.write(1.5, { loss: 1 }), /step must be an integer/);
  w.close();
  assert.throws(() => w.write(1, { loss: 1 }), /was closed/);
  fs.writeFileSync(file, '{"step":1,"time":0}\nnot json\n{"step":2,"time":0}\n');
  assert.throws(() => readMetrics(file), /metrics\.jsonl:2: not a JSON object/);
});

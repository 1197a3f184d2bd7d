import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { DataLoader } from '../../src/data/loader';
import { fashionMnist } from '../../src/data/datasets';
import { Generator, functions as torch, memory, scope, Tensor } from '../../src/tensor';

// N samples whose image encodes its index (x[i] = [i, 1000 + i]) and whose label is i, so pairing is checkable.
function toy(n: number): { images: Tensor; labels: Tensor } {
  return scope(() => {
    const labels = torch.arange(n, { dtype: 'int64' });
    const images = torch.stack([labels.float(), labels.float().add(1000)], 1); // [N, 2]
    return { images, labels };
  });
}

// Every batch of an epoch as plain arrays of sample indices (checking that images and labels stay paired).
function indices(loader: DataLoader<{ images: Tensor; labels: Tensor }>, epoch: number, startBatch = 0): number[][] {
  const out: number[][] = [];
  for (const b of loader.epoch(epoch, { startBatch })) {
    const labels = b.labels.tolist() as number[];
    const images = b.images.tolist() as number[][];
    assert.deepEqual(images, labels.map((i) => [i, 1000 + i]));
    out.push(labels);
  }
  return out;
}

test('same seed gives the same order; epochs differ; epoch k is randperm(N) seeded seed + k', () => {
  const data = toy(103);
  const a = new DataLoader(data, { batchSize: 10, shuffle: true, seed: 7 });
  const b = new DataLoader(data, { batchSize: 10, shuffle: true, seed: 7 });
  const e0 = indices(a, 0);
  assert.deepEqual(indices(b, 0), e0);
  const e1 = indices(a, 1);
  assert.notDeepEqual(e1, e0);
  assert.notDeepEqual(indices(new DataLoader(data, { batchSize: 10, shuffle: true, seed: 8 }), 0), e0);
  // seed 7, epoch 1 is the order of seed 8, epoch 0 (seed + epoch), and does not depend on earlier epochs
  assert.deepEqual(indices(new DataLoader(data, { batchSize: 10, shuffle: true, seed: 8 }), 0), e1);
  assert.deepEqual(indices(new DataLoader(data, { batchSize: 10, shuffle: true, seed: 7 }), 1), e1);
  const g = new Generator(7 + 3);
  const perm = scope(() => torch.randperm(103, { generator: g }).tolist());
  g.dispose();
  assert.deepEqual(indices(a, 3).flat(), perm);
  data.images.dispose();
  data.labels.dispose();
});

test('every sample exactly once per epoch; batch sizes; dropLast; no shuffle keeps the order', () => {
  const data = toy(103);
  const loader = new DataLoader(data, { batchSize: 10, shuffle: true, seed: 0 });
  assert.equal(loader.length, 11);
  assert.equal(loader.numSamples, 103);
  const e = indices(loader, 2);
  assert.deepEqual(e.map((x) => x.length), [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
  assert.deepEqual([...e.flat()].sort((x, y) => x - y), Array.from({ length: 103 }, (_, i) => i));

  const dropping = new DataLoader(data, { batchSize: 10, shuffle: true, seed: 0, dropLast: true });
  assert.equal(dropping.length, 10);
  const d = indices(dropping, 2);
  assert.deepEqual(d.map((x) => x.length), new Array(10).fill(10));
  assert.deepEqual(d, e.slice(0, 10)); // the same order, without the short tail
  assert.equal(new Set(d.flat()).size, 100);

  const exact = new DataLoader(data, { batchSize: 103, dropLast: true });
  assert.equal(exact.length, 1);
  const plain = new DataLoader(data, { batchSize: 25 });
  assert.equal(plain.shuffle, false);
  assert.deepEqual(indices(plain, 0).flat(), Array.from({ length: 103 }, (_, i) => i));
  assert.deepEqual(indices(plain, 5), indices(plain, 0));
  data.images.dispose();
  data.labels.dispose();
});

test('resuming at batch i of epoch k gives exactly the remaining batches; batch(k, i) agrees', () => {
  const data = toy(57);
  const loader = new DataLoader(data, { batchSize: 8, shuffle: true, seed: 3 });
  const full = indices(loader, 4);
  for (const i of [0, 1, 5, 7, 8]) assert.deepEqual(indices(loader, 4, i), full.slice(i), `startBatch ${i}`);
  const b = loader.batch(4, 2);
  assert.deepEqual(b.labels.tolist(), full[2]);
  assert.deepEqual(b.images.shape, [8, 2]);
  b.images.dispose();
  b.labels.dispose();
  assert.throws(() => loader.epoch(4, { startBatch: 9 }), /startBatch must be an integer in 0\.\.8, got 9/);
  assert.throws(() => loader.epoch(-1), /epoch must be a non-negative integer, got -1/);
  assert.throws(() => loader.batch(0, 8), /batch index must be in 0\.\.7, got 8/);
  data.images.dispose();
  data.labels.dispose();
});

test('batches are freed when the next one is requested or the loop ends; keep() and scopes are respected', () => {
  const data = toy(40);
  const loader = new DataLoader(data, { batchSize: 8, shuffle: true, seed: 1 });
  const base = memory().liveTensors;
  let previous: Tensor | null = null;
  for (const b of loader.epoch(0)) {
    if (previous) assert.ok(previous.isDisposed, 'the previous batch is freed');
    previous = b.images;
    assert.ok(memory().liveTensors <= base + 3); // the order + one batch
  }
  assert.ok(previous!.isDisposed);
  assert.equal(memory().liveTensors, base);

  // break frees the current batch too; a kept tensor survives and belongs to the caller
  let kept: Tensor | null = null;
  for (const b of loader.epoch(1)) {
    kept = b.labels.keep();
    break;
  }
  assert.ok(!kept!.isDisposed);
  assert.equal(memory().liveTensors, base + 1);
  kept!.dispose();

  // a scope around each step: the loader's epoch state survives the scope, the batch does not
  const it = loader.epoch(2);
  const seen: number[] = [];
  for (;;) {
    const done = scope(() => {
      const r = it.next();
      if (r.done) return true;
      seen.push(...(r.value.labels.tolist() as number[]));
      r.value.images.mul(2).sum(); // temporaries of the step
      return false;
    });
    if (done) break;
    assert.ok(memory().liveTensors <= base + 1);
  }
  assert.equal(seen.length, 40);
  assert.equal(memory().liveTensors, base);
  data.images.dispose();
  data.labels.dispose();
});

test('constructor validation', () => {
  const data = toy(10);
  const other = torch.zeros([9]);
  assert.throws(() => new DataLoader({ images: data.images, labels: other }, { batchSize: 2 }), /data.labels has 9 samples but data.images has 10/);
  assert.throws(() => new DataLoader(data, { batchSize: 0 }), /batchSize must be a positive integer, got 0/);
  assert.throws(() => new DataLoader(data, { batchsize: 2 } as never), /DataLoader: unknown option 'batchsize'.*batchSize/);
  assert.throws(() => new DataLoader(data, { batchSize: 1.5 }), /batchSize must be a positive integer/);
  assert.throws(() => new DataLoader(data, { batchSize: 2, seed: -1 }), /seed must be a non-negative integer/);
  assert.throws(() => new DataLoader(data, { batchSize: 11, dropLast: true }),
    (e: Error) => e instanceof RangeError && e.message === 'DataLoader: batchSize 11 exceeds the 10 examples with dropLast, so no batch would be complete; use a batchSize of at most 10 or dropLast: false');
  assert.equal(new DataLoader(data, { batchSize: 10, dropLast: true }).length, 1, 'a batch of all the examples is complete');
  assert.equal(new DataLoader(data, { batchSize: 11 }).length, 1, 'without dropLast the one short batch is kept');
  assert.throws(() => new DataLoader(data, { batchSize: 2, dropLast: 'yes' as never }), /DataLoader: dropLast must be a boolean, got "yes"/);
  assert.throws(() => new DataLoader(data, { batchSize: 2, shuffle: 1 as never }), /DataLoader: shuffle must be a boolean, got 1/);
  assert.throws(() => new DataLoader({}, { batchSize: 2 }), /at least one tensor/);
  assert.throws(() => new DataLoader({ x: [1, 2] as never }, { batchSize: 2 }), /data.x is not a Tensor/);
  other.dispose();
  data.images.dispose();
  data.labels.dispose();
});

test('Fashion-MNIST, batch 128: one indexSelect per tensor per batch (time reported, not asserted)', (t) => {
  const { images, labels } = fashionMnist('train');
  const loader = new DataLoader({ images, labels }, { batchSize: 128, shuffle: true, seed: 0 });
  assert.equal(loader.length, 469);
  const base = memory().liveTensors;
  const perBatch: number[] = [];
  for (let epoch = 0; epoch < 3; epoch++) {
    let last = process.hrtime.bigint();
    let n = 0;
    for (const b of loader.epoch(epoch)) {
      const now = process.hrtime.bigint();
      perBatch.push(Number(now - last) / 1e6);
      if (n === 0) {
        assert.deepEqual(b.images.shape, [128, 1, 28, 28]);
        assert.equal(b.images.dtype, 'uint8');
        assert.deepEqual(b.labels.shape, [128]);
      }
      n++;
      last = process.hrtime.bigint();
    }
    assert.equal(n, 469);
  }
  assert.equal(memory().liveTensors, base);
  perBatch.sort((a, b) => a - b);
  const median = perBatch[perBatch.length >> 1];
  const p90 = perBatch[Math.floor(perBatch.length * 0.9)];
  t.diagnostic(`Fashion-MNIST batch 128 (uint8): median ${(median * 1000).toFixed(0)} us, p90 ${(p90 * 1000).toFixed(0)} us per batch over 3 epochs`);
  images.dispose();
  labels.dispose();
});

// The data pipeline of the rotation issue: realtime augmentation (src/data/augmented_loader.ts)
// against affineTransform with the documented per-batch seeds, exact resume, other tensors untouched;
// pseudo-label mixing (src/data/pseudo_labels.ts): batch composition and targets; TTA
// (src/data/tta.ts) against the mean of hand-applied transforms; the rotated tasks (src/data/rotated.ts).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, memory, scope, tensor } from '../../src/tensor';
import {
  AugmentedLoader, DataLoader, PLANKTON_AUGMENTATION, PseudoLabelLoader, affineTransform, batchSeed, disposeTask, predictTTA,
  quasiRandomAffine, randomAffine, rotatedTask, ttaTransforms,
} from '../../src/data';

const images = (n: number, seed: number) => torch.rand([n, 1, 9, 9], { generator: new Generator(seed) });

test('AugmentedLoader: batch i of epoch k is affineTransform with randomAffine from batchSeed(seed, k, i); resume is exact', () => scope(() => {
  const x = images(20, 1), labels = torch.arange(20, { dtype: 'int64' });
  const base = new DataLoader({ images: x, labels }, { batchSize: 6, shuffle: true, seed: 3 });
  const aug = new AugmentedLoader(base, { ranges: PLANKTON_AUGMENTATION, seed: 5 });
  assert.equal(aug.length, base.length);
  const clones = (it: Iterable<Record<string, Tensor>>) => { const out: Record<string, Tensor>[] = []; for (const b of it) out.push({ images: b.images.clone(), labels: (b.labels ?? b.targets).clone() }); return out; };
  const all = clones(aug.epoch(2));
  all.forEach((b, i) => {
    const raw = base.batch(2, i);
    assert.ok(b.labels.equal(raw.labels), `batch ${i}: labels untouched`);
    const g = new Generator(batchSeed(5, 2, i));
    const want = affineTransform(raw.images, randomAffine(raw.images.shape[0], PLANKTON_AUGMENTATION, g));
    g.dispose();
    assert.ok(b.images.equal(want), `batch ${i}: images`);
  });
  const resumed = clones(aug.epoch(2, { startBatch: 2 }));
  assert.equal(resumed.length, all.length - 2);
  resumed.forEach((b, j) => assert.ok(b.images.equal(all[j + 2].images), `resumed batch ${j + 2}`));
  // distinct seeds for neighbouring (seed, epoch, batch)
  const seeds = new Set([0, 1, 2].flatMap((s) => [0, 1, 2].flatMap((k) => [0, 1, 2].map((i) => batchSeed(s, k, i)))));
  assert.equal(seeds.size, 27);
  assert.ok([...seeds].every((v) => Number.isSafeInteger(v) && v >= 0));
  // flat memory over an epoch
  [...aug.epoch(0)];
  const before = memory().liveTensors;
  for (const b of aug.epoch(1)) void b;
  assert.equal(memory().liveTensors, before);
  assert.throws(() => new AugmentedLoader(base, { ranges: { ...PLANKTON_AUGMENTATION, zoom: [0, 1] } }), /zoom is log-uniform and must be > 0/);
  assert.throws(() => new AugmentedLoader(base, { ranges: PLANKTON_AUGMENTATION, seed: -1 }), /AugmentedLoader: seed must be a non-negative integer, got -1/);
  assert.throws(() => [...new AugmentedLoader(base, { ranges: PLANKTON_AUGMENTATION, key: 'labels' }).epoch(0)], /batch\.labels must be an \(N, C, H, W\) image tensor, got shape \[6\]/);
}));

test('PseudoLabelLoader: 2/3 labelled with one-hot targets, 1/3 pseudo-labelled with their probabilities; deterministic', () => scope(() => {
  // image j of each set is filled with a value that identifies it: labelled 0..19, pseudo 100..129
  const lab = { images: torch.arange(20).reshape([20, 1, 1, 1]).expand([20, 1, 3, 3]).contiguous(), labels: torch.arange(20, { dtype: 'int64' }).remainder(4) };
  const pimg = torch.arange(100, 130).reshape([30, 1, 1, 1]).expand([30, 1, 3, 3]).contiguous();
  const probs = torch.rand([30, 4], { generator: new Generator(2) }).softmax(1);
  const loader = new PseudoLabelLoader(lab, { images: pimg, probs }, { batchSize: 9, seed: 1 });
  assert.equal(loader.labelledPerBatch, 6);
  assert.equal(loader.pseudoPerBatch, 3);
  assert.equal(loader.length, 3); // 20 labelled / 6 per batch, last partial dropped
  const seen = new Set<number>();
  const clones = (it: Iterable<Record<string, Tensor>>) => { const out: Tensor[] = []; for (const b of it) out.push(b.images.clone()); return out; };
  for (let k = 0; k < 4; k++) {
    for (const b of loader.epoch(k)) {
      assert.deepEqual(b.images.shape, [9, 1, 3, 3]);
      assert.deepEqual(b.targets.shape, [9, 4]);
      const ids = Array.from(b.images.select(2, 0).select(2, 0).flatten().dataSync() as ArrayLike<number>);
      ids.forEach((id, r) => {
        const row = b.targets.i(r);
        if (r < 6) {
          assert.ok(id < 20, 'labelled rows first');
          assert.ok(row.equal(torch.oneHot(lab.labels.i(id), 4).float()), `row ${r}: one-hot of label`);
        } else {
          assert.ok(id >= 100, 'pseudo rows last');
          seen.add(id);
          assert.ok(row.equal(probs.i(id - 100)), `row ${r}: the pseudo-label of image ${id}`);
        }
      });
    }
  }
  assert.equal(seen.size, 30, '12 batches x 3 cycle through all 30 pseudo-labelled images');
  const a = clones(loader.epoch(2)), r = clones(loader.epoch(2, { startBatch: 1 }));
  assert.equal(r.length, 2);
  r.forEach((im, j) => assert.ok(im.equal(a[j + 1]), `resumed batch ${j + 1}`));
  assert.throws(() => new PseudoLabelLoader(lab, { images: pimg, probs }, { batchSize: 9, pseudoFraction: 1 }), /pseudoFraction must be in \[0, 1\), got 1/);
  assert.throws(() => new PseudoLabelLoader(lab, { images: pimg, probs: probs.narrow(0, 0, 5) }, { batchSize: 9 }), /pseudo\.probs must be \(N, K\) with N = 30/);
}));

test('predictTTA: n = 1 is softmax of the logits; n transforms are the mean over the Halton set', () => scope(() => {
  const x = images(7, 3);
  const W = torch.randn([81, 5], { generator: new Generator(4) });
  const logits = (t: Tensor) => t.flatten(1).matmul(W);
  const p1 = predictTTA(logits, x, { batchSize: 3 });
  assert.ok(p1.equal(logits(x).softmax(1)) || (p1.sub(logits(x).softmax(1)).abs().max().item() as number) < 1e-6);
  const set = ttaTransforms(4, PLANKTON_AUGMENTATION);
  assert.deepEqual(set, quasiRandomAffine(4, PLANKTON_AUGMENTATION));
  const p4 = predictTTA(logits, x, { n: 4, ranges: PLANKTON_AUGMENTATION, batchSize: 3 });
  const want = set.map((t) => logits(affineTransform(x, new Array(7).fill(t))).softmax(1)).reduce((a, b) => a.add(b)).div(4);
  // float32: the sum of 4 probabilities in a different grouping, ~4u relative
  assert.ok((p4.sub(want).abs().max().item() as number) < 1e-6);
  assert.ok((p4.sum(1).sub(1).abs().max().item() as number) < 1e-6, 'rows sum to 1');
  assert.throws(() => ttaTransforms(3), /tta: n = 3 transforms need the ranges they tile/);
  assert.throws(() => ttaTransforms(0), /tta: n must be a positive integer, got 0/);
  assert.throws(() => predictTTA(logits, x.flatten(1)), /predictTTA: images must be \(N, C, H, W\)/);
  assert.throws(() => predictTTA((t) => t.flatten(), x), /logits must return \(B, K\) for a batch of 7, got shape \[567\]/);
}));

test('rotatedTask mnist-rot: disjoint splits of the 10,000 digits, 31x31 in [0, 1], reproducible', () => scope(() => {
  const t = rotatedTask('mnist-rot');
  try {
    assert.deepEqual([t.train, t.valid, t.test, t.unlabelled].map((s) => s.labels.shape[0]), [2000, 1000, 4000, 3000]);
    assert.deepEqual(t.train.images.shape, [2000, 1, 31, 31]);
    assert.ok((t.train.images.min().item() as number) >= 0 && (t.train.images.max().item() as number) <= 1);
    // every class in the small training set (>= 150 of each of 10 when ~200 expected)
    const counts = Array.from(torch.bincount(t.train.labels, null, 10).dataSync() as ArrayLike<number | bigint>, Number);
    assert.ok(counts.every((c) => c >= 150), `${counts}`);
    // the 28x28 digits fit: the frame's border rows hold almost none of the ink at any angle
    const edge = (t.test.images.narrow(2, 0, 1).sum().item() as number) + (t.test.images.narrow(2, 30, 1).sum().item() as number);
    const ink = t.test.images.sum().item() as number;
    assert.ok(edge / ink < 1e-3, `${edge / ink} of the ink on the top and bottom rows`);
    // rotations: the mean image is nearly rotation invariant (uniform angles), unlike MNIST's
    const mean = t.test.images.mean(0);
    const asym = mean.sub(mean.rot90(1, [1, 2])).abs().max().item() as number;
    assert.ok(asym < 0.08, `mean image changes by ${asym} under a 90° rotation`);
    const again = rotatedTask('mnist-rot');
    assert.ok(again.test.images.equal(t.test.images) && again.unlabelled.labels.equal(t.unlabelled.labels), 'same task every time');
    disposeTask(again);
  } finally {
    disposeTask(t);
  }
  assert.throws(() => rotatedTask('cifar-rot' as never), /rotatedTask: name must be one of mnist-rot, fashion-rot, got "cifar-rot"/);
}));

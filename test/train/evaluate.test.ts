// classifierMetrics: accuracy and mean log loss against a hand computation, whatever the batch size;
// the model's training mode restored; bad batch sizes and label shapes named.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Tensor, functions as torch, memory, scope, tensor } from '../../src/tensor';
import { Linear } from '../../src/nn';
import { classifierMetrics } from '../../src/train/evaluate';

test('classifierMetrics: accuracy and mean log loss equal the hand computation for every batch size', () => {
  scope(() => {
    // logits = x W^T with W = I: the logits are the inputs themselves
    const model = new Linear(3, 3, { W: torch.eye(3, { dtype: 'float64' }), b: null, dtype: 'float64' });
    const rows = [[2, 0, 0], [0, 1, 0], [0, 0, 3], [1, 0, 0], [0, 2, 1]];
    const labels = [0, 1, 0, 1, 2];
    const images = tensor(rows, { dtype: 'float64' });
    const y = tensor(labels, { dtype: 'int64' });
    // by hand: the argmax is the label in rows 0 and 1 only (rows 2, 3, 4 pick 2, 0, 1)
    const nll = rows.map((r, i) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0)) - r[labels[i]]);
    const want = nll.reduce((a, b) => a + b, 0) / rows.length;
    model.train(true);
    for (const batchSize of [1, 2, 5, 1000]) {
      const m = classifierMetrics(model, images, y, { batchSize });
      assert.equal(m.n, 5);
      assert.equal(m.accuracy, 2 / 5, `batch ${batchSize}`);
      // float64 logits, a sum of 5 terms of size ~1: a few ulps of 1
      assert.ok(Math.abs(m.logLoss - want) < 1e-14, `batch ${batchSize}: ${m.logLoss} vs ${want}`);
      assert.equal(model.training, true, 'training mode restored');
    }
    const before = memory().liveTensors;
    const shifted = classifierMetrics(model, images, y, { logits: (x: Tensor) => model(x).mul(0).add(tensor([0, 0, 1], { dtype: 'float64' })) });
    assert.equal(shifted.accuracy, 1 / 5, 'the logits function is used: always class 2');
    assert.equal(memory().liveTensors, before, 'no tensors left behind');
    assert.throws(() => classifierMetrics(model, images, y, { batchSize: 0 }), /classifierMetrics: batchSize must be a positive integer, got 0/);
    assert.throws(() => classifierMetrics(model, images, tensor([0, 1], { dtype: 'int64' })), /classifierMetrics: labels has shape \[2\], expected \[5\] \(one per image\)/);
  });
});

// clipGradNorm against torch.nn.utils.clip_grad_norm_ (test/optim/fixtures.json): the global norm
// before clipping, gradients scaled in place, parameters without a gradient ignored.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as path from 'path';
import { memory, scope, tensor } from '../../src/tensor';
import { Parameter } from '../../src/nn';
import { clipGradNorm } from '../../src/optim';

interface ClipCase { maxNorm: number; normType: number | 'inf'; shapes: number[][]; grads: (number[] | null)[]; total: number; clipped: (number[] | null)[] }
const FIXTURE = path.resolve(__dirname, '../../../test/optim/fixtures.json');
const fixture: { torch: string; clip: ClipCase[] } = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));

function withGrads(shapes: number[][], grads: (number[] | null)[]): Parameter[] {
  return scope(() => shapes.map((s, k) => {
    const p = Parameter.from(tensor(new Float32Array(s.reduce((a, b) => a * b, 1)), { shape: s }));
    const g = grads[k];
    if (g) p.grad = tensor(g, { dtype: 'float32', shape: s });
    return p;
  }));
}

for (const c of fixture.clip) {
  test(`clipGradNorm(maxNorm ${c.maxNorm}, normType ${c.normType}) matches torch ${fixture.torch}`, () => {
    const ps = withGrads(c.shapes, c.grads);
    const total = clipGradNorm(ps, c.maxNorm, { normType: c.normType === 'inf' ? Infinity : c.normType });
    // float32 rounding in any summation order (Higham's γ_n): the n-term sum of |g|^p is good to n·u
    // relative (u = 2^-24), the norm of the per-parameter norms and the root add a few u; the clipped
    // gradients g·maxNorm/(total + 1e-6) add two roundings more. ε = 2u per term leaves 2x.
    // A wrong norm type, a missing root or no clipping is off by far more.
    const n = c.shapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
    const rel = (n + c.shapes.length + 4) * 2 ** -23;
    assert.ok(Math.abs(total - c.total) <= rel * c.total, `total norm ${total} vs ${c.total} (rel tol ${rel})`);
    ps.forEach((p, k) => scope(() => {
      const g = p.grad;
      if (c.clipped[k] === null) return assert.equal(g, null);
      g!.dataSync().forEach((v, j) => assert.ok(Math.abs(v - c.clipped[k]![j]) <= (rel + 2 * 2 ** -23) * Math.abs(c.clipped[k]![j]), `grad ${k}[${j}]: ${v} vs ${c.clipped[k]![j]}`));
    }));
    ps.forEach((p) => p.dispose());
  });
}

test('clipGradNorm: hand-computed norms, no gradients, a single parameter, no leaks', () => {
  const [a, b] = withGrads([[2], [1]], [[3, 4], [12]]); // global norm 13
  const before = memory().liveTensors;
  assert.equal(clipGradNorm([a, b], 100), 13, 'returns the norm; below maxNorm nothing changes');
  scope(() => assert.deepEqual(a.grad!.dataSync(), [3, 4]));
  assert.ok(Math.abs(clipGradNorm([a, b], 1.3) - 13) < 1e-5);
  scope(() => {
    const c = 1.3 / (13 + 1e-6);
    a.grad!.dataSync().forEach((v, k) => assert.ok(Math.abs(v - [3, 4][k] * c) < 1e-6));
    assert.ok(Math.abs(b.grad!.item() - 12 * c) < 1e-6);
  });
  assert.ok(Math.abs(clipGradNorm(a, 1) - 0.5) < 1e-6, 'a single Parameter');
  assert.equal(memory().liveTensors, before, 'no tensor left behind');
  const [c] = withGrads([[3]], [null]);
  assert.equal(clipGradNorm([c], 1), 0, 'no gradients: norm 0');
  assert.throws(() => clipGradNorm([a], -1), /maxNorm must be >= 0/);
});

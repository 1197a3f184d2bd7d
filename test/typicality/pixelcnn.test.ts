// The PixelCNN is causal (logits at pixel i ignore pixels >= i) and its likelihood normalises.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, functions as torch, noGrad, scope, tensor } from '../../src/tensor';
import { numParams, params } from '../../src/nn';
import { PixelCNN, causalMask, quantize } from '../../src/typicality/pixelcnn';

test('causal masks A and B', () => {
  assert.deepEqual(causalMask(3, 'A'), [[1, 1, 1], [1, 0, 0], [0, 0, 0]]);
  assert.deepEqual(causalMask(3, 'B'), [[1, 1, 1], [1, 1, 0], [0, 0, 0]]);
});

test('causality: the logits at pixel i have zero gradient w.r.t. inputs at pixels >= i', () => {
  const H = 6, W = 6;
  const model = new PixelCNN({ levels: 4, channels: 8, blocks: 3, firstKernel: 5, kernel: 3 }, { generator: new Generator(0) });
  // the learnable weights sit under the mask expressions; the masks are not parameters
  assert.ok(params(model).every((p) => p.requiresGrad));
  const g = new Generator(1);
  for (const i of [0, 7, 14, 20, 35]) {
    scope(() => {
      // the model consumes integer levels; feed a float input through the same scaling to get d/dx
      const x = torch.rand([2, 1, H, W], { generator: g }).mul(3).requiresGrad_(true);
      const logits = model.forward(x); // x.float() is x itself: gradients flow to x
      const r = Math.floor(i / W), c = i % W;
      logits.i(':', ':', r, c).sum().backward();
      const grad = x.grad!.reshape([2, H * W]).abs().sum(0).toTypedArray() as Float32Array;
      for (let j = 0; j < H * W; j++) {
        if (j >= i) assert.equal(grad[j], 0, `pixel ${i}: non-zero gradient from input pixel ${j}`);
      }
      if (i > 0) assert.ok(grad[i - 1] > 0, `pixel ${i} should see pixel ${i - 1}`);
    });
  }
  g.dispose();
});

test('normalisation: a 2x2, 2-level PixelCNN sums to 1 over all 16 images', () => {
  const model = new PixelCNN({ levels: 2, channels: 8, blocks: 2, firstKernel: 3, kernel: 3 }, { generator: new Generator(3) });
  // perturb the output bias so the distribution is far from uniform
  noGrad(() => model.out.b && (model.out.b as ReturnType<typeof tensor>).add_(tensor([1.5, -0.5])));
  const total = scope(() => {
    const imgs: number[][][][] = [];
    for (let k = 0; k < 16; k++) imgs.push([[[k & 1, (k >> 1) & 1], [(k >> 2) & 1, (k >> 3) & 1]]]);
    const x = tensor(imgs, { dtype: 'int64' });
    const lp = noGrad(() => model.logProb(x));
    const p = lp.exp().toTypedArray() as Float32Array;
    assert.ok(Math.max(...p) / Math.min(...p) > 1.5, 'distribution should not be uniform');
    return p.reduce((a, b) => a + b, 0);
  });
  assert.ok(Math.abs(total - 1) < 1e-5, `sum of p = ${total}`);
});

test('bits/dim, loss, quantize and greedy completion', () => {
  const model = new PixelCNN({ levels: 256, channels: 8, blocks: 1 }, { generator: new Generator(4) });
  assert.ok(numParams(model) > 0);
  scope(() => {
    const x = torch.randint(0, 256, [3, 1, 8, 8], { generator: new Generator(5), dtype: 'uint8' });
    const q = quantize(x, 256);
    const bpd = noGrad(() => model.bitsPerDim(q)).toTypedArray() as Float32Array;
    const loss = noGrad(() => model.loss(q)).item();
    // the same n = 3·64 float32 per-pixel terms summed in two orders: each within γ_n ≈ n·2^-24 relative
    // (Higham), so they differ by ≤ 2n·2^-24·loss (≈ 1e-4 at 8 bits/dim); nats for bits (×0.69) or a per-image sum (×64) is far off
    const mean = bpd.reduce((a, b) => a + b, 0) / 3;
    assert.ok(Math.abs(mean - loss) <= 2 * 192 * 2 ** -24 * loss, `mean bits/dim ${mean} vs loss ${loss}`);
    // near-uniform at initialisation: about 8 bits/dim
    assert.ok(bpd.every((v) => v > 7 && v < 9.5), `bpd ${Array.from(bpd)}`);
    assert.deepEqual(Array.from(quantize(tensor([0, 127, 128, 255], { dtype: 'uint8' }), 2).toTypedArray() as BigInt64Array), [0n, 0n, 1n, 1n]);
    // greedy completion keeps the given prefix and is at least as likely pixel-wise as the start
    const done = model.complete(q, { from: 32 });
    assert.deepEqual(Array.from(done.reshape([3, 64]).narrow(1, 0, 32).toTypedArray() as BigInt64Array),
      Array.from(q.reshape([3, 64]).narrow(1, 0, 32).toTypedArray() as BigInt64Array));
    const before = noGrad(() => model.logProb(q)).toTypedArray() as Float32Array;
    const after = noGrad(() => model.logProb(done)).toTypedArray() as Float32Array;
    for (let k = 0; k < 3; k++) assert.ok(after[k] > before[k]);
    done.dispose();
  });
});

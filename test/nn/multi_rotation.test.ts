// Galaxy Zoo multi-rotation slice and merge (src/nn/layers/multi_rotation.ts): the 16 views are
// the corner crops of the image and of its 45° copy, flipped, each with the image centre at the same
// pixel, toward its bottom-right; a D4 transform of the input permutes the views (0° half bit for bit, 45° half up
// to interpolation rounding, bound derived below); the merge layer's blocks; bad input.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, gradcheck, scope } from '../../src/tensor';
import * as nn from '../../src/nn';
import { DIHEDRAL, MULTI_ROTATION_VIEWS, MultiRotationMerge, MultiRotationSlice } from '../../src/nn';
import { affineTransform } from '../../src/data';

const G = DIHEDRAL, V = MULTI_ROTATION_VIEWS;
const view = (t: Tensor, v: number): Tensor => t.chunk(V, 0)[v];
/** rot45 T_h = T_{φ(h)} rot45: a flip reverses the 45° rotation, r^k s -> r^k s r^3 (see the layer's header). */
const phi = (h: number): number => (h >= 4 ? G.mul(h, 3) : h);

function maxDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  return a.sub(b).abs().max().item() as number;
}

test('MultiRotationSlice: 16 corner crops, each with the image centre at the same place toward its bottom-right', () => scope(() => {
  const S = 9, p = 6;
  const x = torch.arange(S * S, { dtype: 'float64' }).reshape([1, 1, S, S]).add(1); // distinct, nonzero
  const y = new MultiRotationSlice({ cropSize: p })(x);
  assert.deepEqual(y.shape, [V, 1, p, p]);
  const centre = x.i(0, 0, 4, 4).item() as number;
  // pixel (4, 4) of each crop, toward its bottom-right corner (the 45° copy samples its centre exactly)
  for (let v = 0; v < V; v++) assert.equal(view(y, v).i(0, 0, 4, 4).item(), centre, `view ${v}: the image centre at (4, 4)`);
  // the 0° rotations: the four corners of x, each rotated (values of the top-left, top-right, bottom-right, bottom-left corners)
  const corner = (r0: number, c0: number) => x.i(0, 0).narrow(0, r0, p).narrow(1, c0, p);
  const sorted = (t: Tensor) => Array.from(t.flatten().dataSync() as ArrayLike<number>).sort((a, b) => a - b);
  assert.ok(view(y, 0).i(0, 0).equal(corner(0, 0)), 'view 0 is the top-left crop as it is');
  const corners = [corner(0, 0), corner(0, S - p), corner(S - p, S - p), corner(S - p, 0)].map(sorted);
  for (let g = 0; g < 8; g++) {
    const vals = sorted(view(y, g));
    assert.equal(corners.filter((c) => c.every((v, i) => v === vals[i])).length, 1, `view ${g} holds exactly one corner's values`);
    assert.ok(view(y, g).equal(G.apply(x, g).narrow(2, 0, p).narrow(3, 0, p)), `view ${g} is TL(T_g x)`);
  }
  // views 8..15: the 45° copy, against augment.ts's independent affine resampler (rotation -45° there is
  // counter-clockwise on screen, the direction of torch's rot90(x, 1))
  const r45 = affineTransform(x, [{ rotation: -45 }]);
  for (let g = 0; g < 8; g++) {
    const want = G.apply(r45, g).narrow(2, 0, p).narrow(3, 0, p);
    assert.ok(maxDiff(view(y, 8 + g), want) < 1e-9, `view ${8 + g} is TL(T_g R45 x)`);
  }
}));

test('MultiRotationSlice: a D4 transform of the input permutes the 16 views (0° bit for bit, 45° to rounding)', () => scope(() => {
  // float64. The 45° copy of T_h x samples at positions that equal those of the 45° copy of x
  // transformed, up to the rounding of the grid coordinates (a few ulp of |coordinate| <= S, i.e.
  // ~1e-14 pixels); a bilinear value moves by that times the local slope (< 2·max|x| < 10 here).
  for (const [S, p] of [[11, 7], [12, 8]]) {
    const x = torch.randn([2, 3, S, S], { generator: new Generator(1), dtype: 'float64' });
    const slice = new MultiRotationSlice({ cropSize: p });
    const y = slice(x);
    assert.deepEqual(y.shape, [2 * V, 3, p, p]);
    for (let h = 0; h < 8; h++) {
      const yh = slice(G.apply(x, h));
      for (let g = 0; g < 8; g++) {
        assert.ok(view(yh, g).equal(view(y, G.mul(g, h))), `${S}: T_${h}: view ${g} = view ${G.mul(g, h)} exactly`);
        assert.ok(maxDiff(view(yh, 8 + g), view(y, 8 + G.mul(g, phi(h)))) < 1e-12, `${S}: T_${h}: 45° view ${g} = view ${G.mul(g, phi(h))}`);
      }
    }
  }
}));

test('MultiRotationMerge: (16N, F) -> (N, 16F) by view; a network before it makes rotations permute blocks', () => scope(() => {
  const x = torch.arange(V * 2 * 3, { dtype: 'float32' }).reshape([V * 2, 3]); // row v·2 + n
  const m = new MultiRotationMerge()(x);
  assert.deepEqual(m.shape, [2, V * 3]);
  for (let n = 0; n < 2; n++) for (let v = 0; v < V; v++) assert.ok(m.i(n).narrow(0, 3 * v, 3).equal(x.i(v * 2 + n)), `example ${n} block ${v}`);
  assert.deepEqual(new MultiRotationMerge()(torch.zeros([V * 2, 2, 3, 3])).shape, [2, V * 18], 'feature maps are flattened');

  const gen = new Generator(2);
  const net = new nn.Sequential(new MultiRotationSlice({ cropSize: 7 }), new nn.Conv2d(1, 4, 3, { generator: gen, dtype: 'float64' }),
    new nn.LeakyReLU(1 / 3), new nn.MaxPool2d(3, { stride: 2 }), new nn.Flatten(), new MultiRotationMerge()); // 7 -> 5 -> 2
  const xi = torch.randn([3, 1, 11, 11], { generator: new Generator(3), dtype: 'float64' });
  const out = net(xi), F = 4 * 2 * 2;
  assert.deepEqual(out.shape, [3, V * F]);
  const block = (t: Tensor, v: number) => t.narrow(1, F * v, F);
  for (const h of [1, 2, 4, 7]) {
    const oh = net(G.apply(xi, h));
    for (let g = 0; g < 8; g++) {
      assert.ok(block(oh, g).equal(block(out, G.mul(g, h))), `T_${h}: block ${g}`);
      // conv + max pool of views that differ by <= 1e-12 differ by <= that times Σ|w| + 1e-15 (< 1e-11)
      assert.ok(maxDiff(block(oh, 8 + g), block(out, 8 + G.mul(g, phi(h)))) < 1e-10, `T_${h}: block ${8 + g}`);
    }
  }
}));

test('MultiRotationSlice: float64 gradcheck through both copies', () => scope(() => {
  const x = torch.randn([1, 1, 5, 5], { generator: new Generator(4), dtype: 'float64' }).requiresGrad_(true);
  const r = gradcheck((t: Tensor) => new MultiRotationSlice({ cropSize: 3, padding: 'border' })(t), [x]);
  assert.ok(r.ok, `gradcheck failed (max error ${r.maxError})`);
}));

test('multi-rotation layers: clear errors for non-square input, crop sizes, batch sizes and options', () => scope(() => {
  assert.throws(() => new MultiRotationSlice({ cropSize: 3 })(torch.zeros([1, 1, 5, 6])), /MultiRotationSlice: input must be square .* 5x6/);
  assert.throws(() => new MultiRotationSlice({ cropSize: 6 })(torch.zeros([1, 1, 5, 5])), /MultiRotationSlice: cropSize 6 exceeds the input size 5x5/);
  assert.throws(() => new MultiRotationSlice({ cropSize: 3 })(torch.zeros([1, 5, 5])), /MultiRotationSlice: input must be \(N, C, S, S\), got shape \[1, 5, 5\]/);
  assert.throws(() => new MultiRotationSlice({ cropSize: 0 }), /MultiRotationSlice: cropSize must be a positive integer, got 0/);
  assert.throws(() => new MultiRotationSlice(undefined as never), /options \{ cropSize \} are required/);
  assert.throws(() => new MultiRotationSlice({ cropSize: 3, padding: 'wrap' as never }), /option padding must be 'zeros', 'border' or 'reflection', got "wrap"/);
  assert.throws(() => new MultiRotationMerge()(torch.zeros([8, 3])), /MultiRotationMerge: batch size 8 .* divisible by the 16 views/);
}));

// Affine augmentation (src/data/augment.ts): matrices against hand-computed ones; the batched
// affine_grid + grid_sample path against an independent float64 bilinear sampler written here from
// the forward matrix; exact identity; 90° rotation and flip against rot90/flip; seeded sampling;
// Halton values against the known radical inverses.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, functions as torch, gradcheck, memory, scope } from '../../src/tensor';
import {
  AffineParams, PLANKTON_AUGMENTATION, affineMatrix, affineTransform, halton, haltonSequence, quasiRandomAffine, randomAffine,
} from '../../src/data';

const close = (a: number[][], b: number[][], tol = 1e-12) =>
  a.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - b[i][j]) <= tol, `[${i}][${j}]: ${v} vs ${b[i][j]}`)));

test('affineMatrix: each factor and their composition against hand-computed matrices', () => {
  close(affineMatrix({}), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
  close(affineMatrix({ rotation: 90 }), [[0, -1, 0], [1, 0, 0], [0, 0, 1]]);
  close(affineMatrix({ rotation: 30 }), [[Math.sqrt(3) / 2, -0.5, 0], [0.5, Math.sqrt(3) / 2, 0], [0, 0, 1]]);
  close(affineMatrix({ zoom: 2, stretch: 1.25 }), [[2.5, 0, 0], [0, 1.6, 0], [0, 0, 1]]);
  close(affineMatrix({ shear: 45 }), [[1, 1, 0], [0, 1, 0], [0, 0, 1]]);
  close(affineMatrix({ flip: true }), [[-1, 0, 0], [0, 1, 0], [0, 0, 1]]);
  close(affineMatrix({ translation: [3, -2] }), [[1, 0, 3], [0, 1, -2], [0, 0, 1]]);
  // T · R(90) · Sh(45) · S(2·1.25, 2/1.25) · F = [[0,-1],[1,0]]·[[1,1],[0,1]]·diag(-2.5, 1.6)
  //   = [[0,-1],[1,1]]·diag(-2.5, 1.6) = [[0, -1.6], [-2.5, 1.6]]
  close(affineMatrix({ rotation: 90, shear: 45, zoom: 2, stretch: 1.25, flip: true, translation: [3, -2] }),
    [[0, -1.6, 3], [-2.5, 1.6, -2], [0, 0, 1]]);
});

/** Independent reference: out(p) = in(M⁻¹ p) with bilinear interpolation and zeros outside, float64. */
function reference(img: number[][], p: AffineParams, oh: number, ow: number): number[][] {
  const h = img.length, w = img[0].length;
  const [[a, b, tx], [d, e, ty]] = affineMatrix(p);
  const det = a * e - b * d;
  const at = (y: number, x: number) => (y >= 0 && y < h && x >= 0 && x < w ? img[y][x] : 0);
  return Array.from({ length: oh }, (_, i) => Array.from({ length: ow }, (_, j) => {
    const xo = j - (ow - 1) / 2 - tx, yo = i - (oh - 1) / 2 - ty; // centred output pixel, minus t
    const xs = (e * xo - b * yo) / det + (w - 1) / 2, ys = (-d * xo + a * yo) / det + (h - 1) / 2;
    const x0 = Math.floor(xs), y0 = Math.floor(ys), fx = xs - x0, fy = ys - y0;
    return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
  }));
}

test('affineTransform: a batch of general transforms equals the float64 reference sampler', () => scope(() => {
  const params: AffineParams[] = [
    { rotation: 30, zoom: 1.2, stretch: 1.1, shear: 10, translation: [1.5, -2], flip: true },
    { rotation: 200, zoom: 0.7, translation: [-0.25, 3] },
    { shear: -20, stretch: 1 / 1.3 },
  ];
  for (const [h, w, oh, ow] of [[9, 9, 9, 9], [7, 10, 7, 10], [8, 11, 6, 13]]) {
    const x = torch.randn([3, 2, h, w], { generator: new Generator(1), dtype: 'float64' });
    const y = affineTransform(x, params, { outputSize: [oh, ow] });
    assert.deepEqual(y.shape, [3, 2, oh, ow]);
    for (let n = 0; n < 3; n++) {
      for (let c = 0; c < 2; c++) {
        const img = x.i(n, c).tolist() as number[][];
        // float64 grid: the coordinates are off by ~1e-15 pixels, the values by that times a gradient of O(10)
        close(y.i(n, c).tolist() as number[][], reference(img, params[n], oh, ow), 1e-11);
      }
    }
  }
}));

test('affineTransform: identity returns the input exactly (float32, odd and even sizes); 90° and flip are rot90 and flip', () => scope(() => {
  for (const [h, w] of [[28, 28], [7, 9], [15, 15]]) {
    const x = torch.randn([4, 3, h, w], { generator: new Generator(2) });
    const p: AffineParams[] = [{}, { rotation: 0, zoom: 1 }, { rotation: 1e-3 }, {}];
    const y = affineTransform(x, p);
    for (const n of [0, 1, 3]) assert.ok(y.i(n).equal(x.i(n)), `${h}x${w}: image ${n} is not returned exactly`);
    assert.ok(!y.i(2).equal(x.i(2)), 'a non-identity transform is resampled');
  }
  const x = torch.randn([1, 1, 9, 9], { generator: new Generator(3), dtype: 'float64' });
  // R(90°) with y down maps (x, y) to (-y, x): clockwise on screen, which is torch's rot90 with k = -1
  close(affineTransform(x, [{ rotation: 90 }]).i(0, 0).tolist() as number[][], x.rot90(-1, [2, 3]).i(0, 0).tolist() as number[][], 1e-12);
  close(affineTransform(x, [{ flip: true }]).i(0, 0).tolist() as number[][], x.flip([3]).i(0, 0).tolist() as number[][], 1e-12);
}));

test('randomAffine: seeded, within the plankton ranges; quasiRandomAffine tiles them with Halton points', () => {
  const a = randomAffine(64, PLANKTON_AUGMENTATION, new Generator(5));
  assert.deepEqual(randomAffine(64, PLANKTON_AUGMENTATION, new Generator(5)), a);
  assert.notDeepEqual(randomAffine(64, PLANKTON_AUGMENTATION, new Generator(6)), a);
  for (const p of a) {
    assert.ok(p.rotation! >= 0 && p.rotation! < 360);
    assert.ok(p.zoom! >= 1 / 1.6 && p.zoom! <= 1.6 && p.stretch! >= 1 / 1.3 && p.stretch! <= 1.3);
    assert.ok(Math.abs(p.shear!) <= 20 && p.translation!.every((t) => Math.abs(t) <= 10));
  }
  assert.ok(a.some((p) => p.flip) && a.some((p) => !p.flip), 'flips drawn both ways in 64 draws (fails with probability 2^-63)');
  const q = quasiRandomAffine(70, PLANKTON_AUGMENTATION);
  assert.equal(q.length, 70);
  // point 1 is (1/2, 1/3, 1/5, 1/7, 1/11, 1/13, 1/17): rotation 180°, zoom 1.6^(2/3 - 1), ...
  assert.equal(q[0].rotation, 180);
  assert.ok(Math.abs(q[0].zoom! - Math.exp(Math.log(1.6) * (2 / 3 - 1))) < 1e-14);
  assert.equal(q[0].flip, false);
  assert.equal(q[1].flip, false); // halton(2, 17) = 2/17 < 1/2
});

test('halton: the radical inverses in bases 2 and 3, and the sequence', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((i) => halton(i, 2)), [1 / 2, 1 / 4, 3 / 4, 1 / 8, 5 / 8, 3 / 8, 7 / 8]);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => halton(i, 3)), [1 / 3, 2 / 3, 1 / 9, 4 / 9, 7 / 9, 2 / 9, 5 / 9, 8 / 9]);
  assert.equal(halton(0, 2), 0);
  assert.equal(halton(11, 5), 7 / 25); // 11 = 21 in base 5 -> 0.12 in base 5 = 1/5 + 2/25
  assert.deepEqual(haltonSequence(3, 2), [[1 / 2, 1 / 3], [1 / 4, 2 / 3], [3 / 4, 1 / 9]]);
});

test('augmentation: clear errors for bad input', () => scope(() => {
  const x = torch.zeros([2, 1, 5, 5]);
  assert.throws(() => affineTransform(x, [{}]), /affineTransform: params must hold one transform per image \(2\), got 1/);
  assert.throws(() => affineTransform(torch.zeros([5, 5]), []), /affineTransform: images must be \(N, C, H, W\), got shape \[5, 5\]/);
  assert.throws(() => affineTransform(x, [{}, { zoom: 0 }]), /params\[1\]\.zoom must be > 0, got 0/);
  assert.throws(() => affineTransform(x, [{}, { shear: 90 }]), /params\[1\]\.shear must be within \(-90, 90\)/);
  assert.throws(() => affineTransform(x, [{}, { translation: [1] as never }]), /params\[1\]\.translation must be \[tx, ty\]/);
  assert.throws(() => affineTransform(x, [{}, {}], { padding: 'wrap' as never }), /option padding must be 'zeros', 'border' or 'reflection', got "wrap"/);
  assert.throws(() => randomAffine(4, { ...PLANKTON_AUGMENTATION, zoom: [0, 2] }, new Generator(0)), /zoom is log-uniform and must be > 0/);
  assert.throws(() => halton(-1, 2), /halton: index must be a non-negative integer, got -1/);
  assert.throws(() => halton(3, 1), /halton: base must be an integer >= 2, got 1/);
  assert.throws(() => haltonSequence(3, 0), /haltonSequence: dims must be an integer in 1\.\.12, got 0/);
}));

test('affineTransform: float64 gradcheck through the images (identity and resampled in one batch); flat memory', () => scope(() => {
  const x = torch.randn([2, 1, 5, 6], { generator: new Generator(9), dtype: 'float64' }).requiresGrad_(true);
  // for a fixed grid the output is linear in the images: the identity bypass (where) and grid_sample's backward are checked
  const f = (t: typeof x) => affineTransform(t, [{}, { rotation: 17, zoom: 1.1, translation: [0.3, -0.2] }]);
  const r = gradcheck(f, [x]);
  assert.ok(r.ok, `gradcheck failed (max error ${r.maxError})`);
  scope(() => f(x).square().sum().backward()); // warm-up: x.grad exists from here on
  const before = memory().liveTensors;
  for (let k = 0; k < 3; k++) scope(() => f(x).square().sum().backward());
  assert.equal(memory().liveTensors, before, 'live tensors grew');
}));

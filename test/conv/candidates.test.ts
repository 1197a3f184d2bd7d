// Every convolution candidate against independent references: a direct-sum float64 convolution
// written out here (not libtorch), the bilinearity identities <gy, conv(x, w)> = <dx, x> = <dW, w>
// that define the two gradients, libtorch's float64 result for float32 runs, and finite differences
// through the custom autograd function.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, gradcheck, scope, tensor } from '../../src/tensor';
import {
  BUILTIN_CANDIDATES, CONV_OPS, ConvArgs, ConvOp, ConvProblem, agreementTolerance, chosenConv, convProblem, runOp, whyNot,
} from '../../src/conv';
import { libtorch } from '../../src/conv/candidates/libtorch';
import { swap } from '../../src/conv/candidates/swap';
import { winogradF4 } from '../../src/conv/candidates/winograd';
import { fft } from '../../src/conv/candidates/fft';

interface Case { x: number[]; w: number[]; stride: number[]; padding: number[]; dilation: number[]; groups: number; transposed?: boolean; outputPadding?: number[] }

// shapes, strides, paddings, dilations and groups; each also run transposed
const GRID: Case[] = [
  { x: [2, 3, 9, 8], w: [4, 3, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 },
  { x: [2, 3, 10, 9], w: [4, 3, 3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 },
  { x: [1, 2, 7, 7], w: [3, 2, 3, 3], stride: [1, 1], padding: [2, 2], dilation: [1, 1], groups: 1 },
  { x: [2, 4, 11, 10], w: [6, 2, 3, 3], stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2 },
  { x: [2, 4, 8, 8], w: [4, 1, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 4 },
  { x: [2, 3, 12, 12], w: [4, 3, 5, 5], stride: [1, 1], padding: [2, 2], dilation: [1, 1], groups: 1 },
  { x: [2, 3, 12, 11], w: [4, 3, 5, 3], stride: [1, 1], padding: [1, 3], dilation: [2, 1], groups: 1 },
  { x: [2, 5, 7, 6], w: [4, 5, 1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 },
  { x: [2, 3, 10, 9], w: [4, 3, 3, 3], stride: [3, 2], padding: [2, 1], dilation: [1, 1], groups: 1 },
  { x: [2, 3, 9, 9], w: [2, 3, 4, 2], stride: [2, 2], padding: [1, 0], dilation: [1, 1], groups: 1 },
];

function argsOf(c: Case, transposed: boolean): ConvArgs {
  return { dims: 2, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups, transposed, outputPadding: c.outputPadding ?? [0, 0] };
}

/** x and w for case c (a transposed case keeps the kernel and hyper-parameters, with weight [in, out/groups, k]). */
function tensorsOf(c: Case, transposed: boolean, g: Generator): { x: Tensor; w: Tensor; p: ConvProblem } {
  const x = transposed ? torch.randn([c.x[0], c.w[0], 5, 6], { generator: g, dtype: 'float64' }) : torch.randn(c.x, { generator: g, dtype: 'float64' });
  const w = transposed ? torch.randn([c.w[0], c.x[1] / c.groups, ...c.w.slice(2)], { generator: g, dtype: 'float64' }) : torch.randn(c.w, { generator: g, dtype: 'float64' });
  const p = convProblem(x, w, argsOf(c, transposed));
  assert.ok(p, `problem for ${JSON.stringify(c)}`);
  return { x, w, p };
}

/** Direct-sum 2-d correlation in float64 (the definition; independent of libtorch). */
function directConv(x: Tensor, w: Tensor, p: ConvProblem): Tensor {
  const [n, c, h, wd] = p.inputShape;
  const [o, cg, kh, kw] = p.weightShape;
  const [, , ho, wo] = p.outputShape;
  const xs = x.dataSync();
  const ws = w.dataSync();
  const out = new Float64Array(n * o * ho * wo);
  const og = o / p.groups;
  for (let b = 0; b < n; b++) for (let oc = 0; oc < o; oc++) {
    const grp = Math.floor(oc / og);
    for (let i = 0; i < ho; i++) for (let j = 0; j < wo; j++) {
      let s = 0;
      for (let ci = 0; ci < cg; ci++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
        const hi = i * p.stride[0] + u * p.dilation[0] - p.padding[0];
        const wi = j * p.stride[1] + v * p.dilation[1] - p.padding[1];
        if (hi < 0 || hi >= h || wi < 0 || wi >= wd) continue;
        s += xs[((b * c + grp * cg + ci) * h + hi) * wd + wi] * ws[((oc * cg + ci) * kh + u) * kw + v];
      }
      out[((b * o + oc) * ho + i) * wo + j] = s;
    }
  }
  return tensor(Array.from(out), { dtype: 'float64' }).reshape(p.outputShape);
}

const dot = (a: Tensor, b: Tensor) => a.mul(b).sum().item();
const relErr = (a: Tensor, b: Tensor) => a.double().sub(b.double()).norm().item() / b.double().norm().item();

test('libtorch (the reference of every other check) equals the direct sum on every grid case', () => scope(() => {
  const g = new Generator(1);
  for (const c of GRID) {
    const { x, w, p } = tensorsOf(c, false, g);
    assert.ok(relErr(runOp(libtorch, 'forward', p, { x, w }), directConv(x, w, p)) < 1e-13, JSON.stringify(c));
  }
}));

test('every applicable candidate computes forward and both gradients of every grid case (and its transpose) in float64', () => scope(() => {
  const g = new Generator(2);
  let checked = 0;
  for (const c of GRID) for (const transposed of [false, true]) scope(() => {
    const { x, w, p } = tensorsOf(c, transposed, g);
    const gy = torch.randn(p.outputShape, { generator: g, dtype: 'float64' });
    // independent references: the direct sum (regular forward) and bilinearity for the gradients
    const y = runOp(libtorch, 'forward', p, { x, w });
    if (!transposed) assert.ok(relErr(y, directConv(x, w, p)) < 1e-13);
    const gyY = dot(gy, y);
    for (const cand of BUILTIN_CANDIDATES) for (const op of CONV_OPS) {
      if (whyNot(cand, op, p)) continue;
      const out = runOp(cand, op, p, { x, w, gy });
      const what = `${cand.name}.${op} on ${transposed ? 'transposed ' : ''}${JSON.stringify(c)}`;
      const ref = op === 'forward' ? y : runOp(libtorch, op, p, { x, w, gy });
      assert.deepEqual(out.shape, ref.shape, what);
      const tol = agreementTolerance(op, p, cand);
      assert.ok(relErr(out, ref) <= tol, `${what}: relative error ${relErr(out, ref)} > ${tol}`);
      // <gy, y> = <dx, x> = <dW, w>: y is linear in x and in w
      if (op === 'gradInput') assert.ok(Math.abs(dot(out, x) - gyY) <= 1e-10 * (Math.abs(gyY) + out.norm().item() * x.norm().item()), `${what}: <dx, x> != <gy, y>`);
      if (op === 'gradWeight') assert.ok(Math.abs(dot(out, w) - gyY) <= 1e-10 * (Math.abs(gyY) + out.norm().item() * w.norm().item()), `${what}: <dW, w> != <gy, y>`);
      checked++;
    }
  });
  assert.ok(checked > 150, `only ${checked} (candidate, op, case) triples ran`);
}));

test('float32 candidates stay within the derived rounding bound of the float64 result', () => scope(() => {
  const g = new Generator(3);
  for (const c of [GRID[0], GRID[3], GRID[5], GRID[7], GRID[8]]) for (const transposed of [false, true]) scope(() => {
    const { x, w, p } = tensorsOf(c, transposed, g);
    const gy = torch.randn(p.outputShape, { generator: g, dtype: 'float64' });
    const [x32, w32, gy32] = [x.float(), w.float(), gy.float()];
    const p32 = { ...p, dtype: 'float32' as const };
    for (const op of CONV_OPS) {
      const ref = runOp(libtorch, op, p, { x, w, gy });
      for (const cand of BUILTIN_CANDIDATES) {
        if (whyNot(cand, op, p32)) continue;
        const out = runOp(cand, op, p32, { x: x32, w: w32, gy: gy32 });
        assert.equal(out.dtype, 'float32');
        const tol = agreementTolerance(op, p32, cand);
        const e = relErr(out, ref);
        assert.ok(e <= tol, `${cand.name}.${op} float32 on ${JSON.stringify(c)}: ${e} > ${tol}`);
      }
    }
  });
}));

test('swapping trick identities: forward by the weight-gradient kernel, weight gradient by the forward kernel, input gradient by a padded forward', () => scope(() => {
  const g = new Generator(4);
  const x = torch.randn([3, 2, 11, 10], { generator: g, dtype: 'float64' });
  const w = torch.randn([4, 2, 3, 2], { generator: g, dtype: 'float64' });
  for (const [stride, padding, dilation] of [[[1, 1], [0, 0], [1, 1]], [[2, 3], [1, 2], [1, 1]], [[1, 2], [2, 0], [2, 3]]]) scope(() => {
    const p = convProblem(x, w, { dims: 2, stride, padding, dilation, groups: 1, transposed: false, outputPadding: [0, 0] })!;
    const y = directConv(x, w, p);
    assert.ok(relErr(runOp(swap, 'forward', p, { x, w }), y) < 1e-13);
    if (padding.every((v) => v === 0) && stride.every((v) => v === 1)) {
      // the identity itself, on libtorch's weight-gradient kernel: y = (dW of (x^T, gy := w^T))^T
      const yt = torch.convolutionBackward(w.transpose(0, 1), x.transpose(0, 1), torch.zeros([4, 3, ...p.outputShape.slice(2)], { dtype: 'float64' }),
        null, dilation, [0, 0], stride, false, [0, 0], 1, [false, true, false])[1];
      assert.ok(relErr(yt.transpose(0, 1), y) < 1e-13);
      // and dW = (forward of (x^T, w := gy^T))^T
      const gy0 = torch.randn(p.outputShape, { generator: g, dtype: 'float64' });
      const dwRef = runOp(libtorch, 'gradWeight', p, { x, w, gy: gy0 });
      const dwFwd = torch.convolution(x.transpose(0, 1), gy0.transpose(0, 1), null, dilation, [0, 0], stride, false, [0, 0], 1).transpose(0, 1);
      assert.ok(relErr(dwFwd, dwRef) < 1e-13);
    }
    const gy = torch.randn(p.outputShape, { generator: g, dtype: 'float64' });
    const gyY = dot(gy, y);
    const dw = runOp(swap, 'gradWeight', p, { x, w, gy });
    const dx = runOp(swap, 'gradInput', p, { x, w, gy });
    assert.ok(Math.abs(dot(dw, w) - gyY) < 1e-10 * Math.abs(gyY) + 1e-10);
    assert.ok(Math.abs(dot(dx, x) - gyY) < 1e-10 * Math.abs(gyY) + 1e-10);
  });
}));

test('gradcheck through the custom autograd function with mixed implementations per operation', () => {
  const g = new Generator(5);
  const mixes: [ConvOp, typeof libtorch][][] = [
    [['forward', swap], ['gradInput', winogradF4], ['gradWeight', fft]],
    [['forward', winogradF4], ['gradInput', swap], ['gradWeight', swap]],
  ];
  for (const mix of mixes) for (const transposed of [false, true]) scope(() => {
    const pick = new Map(mix);
    const x = torch.randn(transposed ? [2, 3, 4, 5] : [2, 2, 6, 5], { generator: g, dtype: 'float64' }).requiresGrad_();
    const w = torch.randn(transposed ? [3, 2, 3, 3] : [3, 2, 3, 3], { generator: g, dtype: 'float64' }).requiresGrad_();
    const b = torch.randn([transposed ? 2 : 3], { generator: g, dtype: 'float64' }).requiresGrad_();
    const args: ConvArgs = { dims: 2, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, transposed, outputPadding: [0, 0] };
    const used: string[] = [];
    const fn = (xi: Tensor, wi: Tensor, bi: Tensor) => {
      const p = convProblem(xi, wi, args)!;
      return chosenConv(xi, wi, bi, p, (op, pp) => {
        const c = pick.get(op)!;
        assert.equal(whyNot(c, op, pp), null, `${c.name} applies to ${op}`);
        used.push(`${op}:${c.name}`);
        return c;
      });
    };
    const r = gradcheck(fn, [x, w, b], { eps: 1e-6, atol: 1e-7, rtol: 1e-6 });
    assert.ok(r.ok, `gradcheck ${mix.map(([o, c]) => `${o}=${c.name}`).join(',')}${transposed ? ' transposed' : ''}: max error ${r.maxError}`);
    for (const [op, c] of mix) assert.ok(used.includes(`${op}:${c.name}`), `${op} ran ${c.name}`);
  });
});

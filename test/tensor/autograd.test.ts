// Autograd semantics: requiresGrad, backward, accumulation, retainGraph, higher-order gradients,
// grad modes, detach, retainGrad, leaves and gradFn names, allowUnused, and custom functions
// (applyFunction) including their error paths and memory.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as v8 from 'v8';
import * as vm from 'vm';
import {
  F, Generator, Tensor, applyFunction, enableGrad, functions as torch, grad, gradcheck, isGradEnabled,
  keep, memory, noGrad, scope, tensor,
} from '../../src/tensor';
import type { CustomFunction, FunctionContext } from '../../src/tensor';

const gen = new Generator(7);
const randn = (...shape: number[]): Tensor => torch.randn(shape, { generator: gen, dtype: 'float64' });
const f64 = (data: number[] | number[][], requiresGrad = false): Tensor => tensor(data, { dtype: 'float64', requiresGrad });

function close(actual: Tensor | null, expected: number[] | number[][] | number, msg?: string, tol = 1e-10): void {
  assert.ok(actual !== null, `${msg ?? 'value'}: got null`);
  const exp = typeof expected === 'number' ? [expected] : (expected as (number | number[])[]).flat();
  const got = actual.dataSync();
  assert.equal(got.length, exp.length, `${msg ?? 'value'}: ${got.length} elements, expected ${exp.length}`);
  got.forEach((v, k) => assert.ok(Math.abs(v - exp[k]) <= tol * Math.max(1, Math.abs(exp[k])), `${msg ?? 'value'}[${k}]: ${v} vs ${exp[k]}`));
}

/** Runs body in a scope and checks that it leaves no live tensor behind. */
function noLeak(name: string, body: () => void): void {
  const before = memory().liveTensors;
  scope(body);
  assert.equal(memory().liveTensors, before, `${name}: leaked ${memory().liveTensors - before} tensors`);
}

// ---------------------------------------------------------------- requiresGrad, leaves, gradFn
test('requiresGrad: defaults, options, setter, propagation, integer tensors', () => noLeak('requiresGrad', () => {
  const a = f64([1, 2]);
  assert.equal(a.requiresGrad, false);
  const b = f64([1, 2], true);
  assert.equal(b.requiresGrad, true);
  a.requiresGrad = true;
  assert.equal(a.requiresGrad, true);
  a.requiresGrad_(false);
  assert.equal(a.requiresGrad, false);
  assert.equal(a.requiresGrad_(), a, 'requiresGrad_ returns this');
  assert.equal(torch.zeros([2], { dtype: 'float64', requiresGrad: true }).requiresGrad, true);
  assert.equal(a.add(b).requiresGrad, true, 'op on a requiring input requires grad');
  assert.equal(f64([1]).add(f64([2])).requiresGrad, false);
  assert.throws(() => tensor([1, 2]).requiresGrad_(), (e: unknown) => e instanceof Error && /floating point|complex/i.test(e.message));
  const y = b.mul(2);
  assert.throws(() => { y.requiresGrad = false; }, (e: unknown) => e instanceof Error && /leaf/.test(e.message));
}));

test('isLeaf, .grad on leaves only, gradFn names', () => noLeak('leaves', () => {
  const x = f64([1, 2, 3], true);
  const c = f64([4, 5, 6]);
  assert.equal(x.isLeaf, true);
  assert.equal(c.isLeaf, true, 'a tensor that does not require grad is a leaf');
  assert.equal(x.gradFn, null);
  const s = x.add(c), m = x.mul(c), e = x.exp(), v = x.view([3, 1]), r = x.sum(), mean = x.mean();
  assert.equal(s.isLeaf, false);
  assert.equal(c.mul(2).isLeaf, true, 'result of ops on non-requiring tensors is a leaf');
  assert.equal(s.gradFn, 'AddBackward0');
  assert.equal(m.gradFn, 'MulBackward0');
  assert.equal(e.gradFn, 'ExpBackward0');
  assert.equal(v.gradFn, 'ViewBackward0');
  assert.equal(r.gradFn, 'SumBackward0');
  assert.equal(mean.gradFn, 'MeanBackward0');
  assert.equal(x.view([3, 1]).mm(f64([[1, 2]])).gradFn, 'MmBackward0');
  assert.equal(x.i([0, 2]).gradFn, 'SliceBackward0');
  assert.equal(x.detach().gradFn, null);
  const y = x.mul(x).sum();
  y.backward();
  close(x.grad, [2, 4, 6], 'leaf grad');
  assert.equal(c.grad, null, 'a leaf that does not require grad gets no grad');
  assert.equal(s.grad, null, 'a non-leaf gets no grad without retainGrad');
  assert.equal(y.grad, null);
}));

// ---------------------------------------------------------------- backward
test('backward: scalar without gradOutput, non-scalar with gradOutput, implicit grad only for scalars', () => noLeak('backward', () => {
  const x = f64([1, -2, 3], true);
  x.pow(2).sum().backward();
  close(x.grad, [2, -4, 6]);
  x.zeroGrad();
  const y = x.mul(f64([1, 10, 100]));
  y.backward(f64([1, 2, 3]));
  close(x.grad, [1, 20, 300], 'vector-Jacobian product');
  x.zeroGrad();
  assert.throws(() => x.mul(2).backward(), (e: unknown) => e instanceof Error && /implicitly created only for scalar/.test(e.message));
  assert.throws(() => x.mul(2).backward(f64([1, 2])), (e: unknown) => e instanceof Error && /shape/i.test(e.message));
  assert.equal(x.grad, null, 'failed backward left no grad');
  assert.throws(() => f64([1, 2]).sum().backward(), (e: unknown) => e instanceof Error && /does not require grad/.test(e.message));
}));

test('gradients accumulate across backward calls; zeroGrad resets; grad can be set', () => noLeak('accumulate', () => {
  const x = f64([1, 2], true);
  x.mul(3).sum().backward();
  close(x.grad, [3, 3]);
  x.mul(x).sum().backward();
  close(x.grad, [3 + 2, 3 + 4], 'second backward adds');
  x.zeroGrad();
  assert.equal(x.grad, null);
  x.mul(5).sum().backward();
  close(x.grad, [5, 5], 'fresh after zeroGrad');
  x.grad = f64([100, 200]);
  x.sum().backward();
  close(x.grad, [101, 201], 'accumulates into an assigned grad');
  x.grad = null;
  assert.equal(x.grad, null);
  // the same leaf used twice in one graph sums both paths
  const w = f64([2], true);
  w.mul(3).add(w.mul(w)).sum().backward();
  close(w.grad, [3 + 4]);
  // backward(inputs): only the given leaves accumulate
  const a = f64([1], true), b = f64([1], true);
  a.mul(b).mul(3).sum().backward(null, { inputs: [a] });
  close(a.grad, [3]);
  assert.equal(b.grad, null);
}));

test('retainGraph: a second backward fails with a JS Error without it, works with it', () => noLeak('retainGraph', () => {
  const x = f64([1, 2], true);
  const y = x.exp().mul(x).sum();
  y.backward();
  assert.throws(() => y.backward(), (e: unknown) => e instanceof Error && /backward through the graph a second time/.test(e.message));
  x.zeroGrad();
  const z = x.exp().mul(x).sum();
  z.backward(null, { retainGraph: true });
  z.backward(null, { retainGraph: true });
  z.backward();
  const d = (v: number) => Math.exp(v) * (v + 1);
  close(x.grad, [3 * d(1), 3 * d(2)], 'three backward passes accumulate');
  // grad() follows the same rule
  const u = x.sin().mul(x).sum();
  grad(u, x, { retainGraph: true });
  grad(u, x);
  assert.throws(() => grad(u, x), /second time/);
}));

// ---------------------------------------------------------------- grad()
test('grad(): does not touch .grad, gradOutputs, several inputs/outputs, allowUnused -> null', () => noLeak('grad', () => {
  const x = f64([1, 2, 3], true), y = f64([4, 5, 6], true), unused = f64([1], true);
  const out = x.mul(y);
  const [gx, gy] = grad(out, [x, y], { gradOutputs: [f64([1, 0, 2])], retainGraph: true });
  close(gx, [4, 0, 12]);
  close(gy, [1, 0, 6]);
  assert.equal(x.grad, null);
  assert.equal(y.grad, null);
  const [g1, g2] = grad([x.sum(), y.mul(2).sum()], [x, y]);
  close(g1, [1, 1, 1]);
  close(g2, [2, 2, 2]);
  assert.throws(() => grad(out.sum(), [x, unused]), (e: unknown) => e instanceof Error && /not have been used/.test(e.message));
  const [a, b] = grad(x.mul(y).sum(), [x, unused], { allowUnused: true });
  close(a, [4, 5, 6]);
  assert.equal(b, null);
  assert.throws(() => grad(f64([1]).sum(), [x]), /does not require grad/);
}));

test('second-order gradients via grad(createGraph) match closed forms', () => noLeak('higher order', () => {
  // d/dx x^3 = 3x^2, d2/dx2 = 6x, d3/dx3 = 6
  const x = f64([-1.5, 0.5, 2], true);
  const y = x.pow(3).sum();
  const [d1] = grad(y, x, { createGraph: true });
  close(d1, [3 * 2.25, 3 * 0.25, 12]);
  assert.equal(d1!.requiresGrad, true);
  assert.ok(d1!.gradFn !== null);
  const [d2] = grad(d1!.sum(), x, { createGraph: true });
  close(d2, [-9, 3, 12]);
  const [d3] = grad(d2!.sum(), x);
  close(d3, [6, 6, 6]);

  // Hessian-vector product of f(x) = 1/2 x^T A x + b^T x: grad = (A + A^T)/2 x + b, H v = (A + A^T)/2 v
  const A = f64([[2, 1, 0], [3, 4, 1], [0, -1, 5]]), bvec = f64([1, -2, 0.5]), v = f64([0.3, -1, 2]);
  const z = f64([0.1, 0.2, -0.3], true);
  const f = z.matmul(A).matmul(z).mul(0.5).add(bvec.dot(z));
  const [g] = grad(f, z, { createGraph: true });
  const sym = A.add(A.t()).mul(0.5);
  close(g, sym.mv(z.detach()).add(bvec).dataSync(), 'gradient of the quadratic form');
  const [hv] = grad(g!.dot(v), z);
  close(hv, sym.mv(v).dataSync(), 'Hessian-vector product');

  // mixed partial of x^2 y: d/dy (d/dx) = 2x; and the full Hessian row by row for sin(x)*y^2
  const p = f64([0.7], true), q = f64([-1.2], true);
  const [gp] = grad(p.pow(2).mul(q).sum(), p, { createGraph: true });
  const [gpq] = grad(gp!.sum(), q);
  close(gpq, [1.4]);
  const h = p.sin().mul(q.pow(2)).sum();
  const [hp, hq] = grad(h, [p, q], { createGraph: true });
  const [hpp, hpq] = grad(hp!.sum(), [p, q], { retainGraph: true });
  const [hqp, hqq] = grad(hq!.sum(), [p, q]);
  close(hpp, [-Math.sin(0.7) * 1.44]);
  close(hpq, [Math.cos(0.7) * 2 * -1.2]);
  close(hqp, [Math.cos(0.7) * 2 * -1.2], 'Hessian is symmetric');
  close(hqq, [2 * Math.sin(0.7)]);

  // backward(createGraph) leaves a differentiable .grad
  const w = f64([1.5], true);
  w.pow(4).sum().backward(null, { createGraph: true });
  const g1 = w.grad!;
  close(g1, [4 * 1.5 ** 3]);
  assert.equal(g1.requiresGrad, true);
  const [g2] = grad(g1.sum(), w);
  close(g2, [12 * 1.5 ** 2]);
  w.zeroGrad(); // breaks the w -> grad -> graph -> w reference, as PyTorch advises
}));

// ---------------------------------------------------------------- grad modes, detach, retainGrad
test('noGrad/enableGrad nest and restore, also when the callback throws', () => noLeak('modes', () => {
  const x = f64([1, 2], true);
  assert.equal(isGradEnabled(), true);
  const r = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    const a = x.mul(2);
    assert.equal(a.requiresGrad, false);
    assert.equal(a.gradFn, null);
    const inner = enableGrad(() => {
      assert.equal(isGradEnabled(), true);
      const b = x.mul(3);
      assert.equal(b.requiresGrad, true);
      noGrad(() => assert.equal(x.mul(4).requiresGrad, false));
      assert.equal(isGradEnabled(), true, 'restored after inner noGrad');
      return b;
    });
    assert.equal(isGradEnabled(), false, 'restored after enableGrad');
    return inner;
  });
  assert.equal(isGradEnabled(), true);
  // x.mul(3) takes ATen's Scalar overload (MulBackward1); Python wraps the 3 into a tensor (MulBackward0)
  assert.match(r.gradFn!, /^MulBackward[01]$/, 'graph recorded under enableGrad survives');
  r.sum().backward();
  close(x.grad, [3, 3]);
  assert.throws(() => noGrad(() => { throw new Error('inside'); }), /inside/);
  assert.equal(isGradEnabled(), true, 'restored after a throw');
  noGrad(() => {
    assert.throws(() => enableGrad(() => { throw new RangeError('deep'); }), RangeError);
    assert.equal(isGradEnabled(), false);
  });
  assert.equal(noGrad(() => 42), 42);
  // in-place update of a leaf is allowed under noGrad (an optimizer step), not outside it
  const w = f64([1, 2], true);
  noGrad(() => w.sub_(f64([0.5, 0.5])));
  close(w, [0.5, 1.5]);
  assert.equal(w.isLeaf, true);
  assert.throws(() => w.sub_(f64([1, 1])), (e: unknown) => e instanceof Error && /leaf Variable that requires grad/.test(e.message));
}));

test('detach: no grad, shares storage, stops gradient flow', () => noLeak('detach', () => {
  const x = f64([1, 2, 3], true);
  const d = x.detach();
  assert.equal(d.requiresGrad, false);
  assert.equal(d.isLeaf, true);
  assert.equal(d.gradFn, null);
  noGrad(() => x.mul_(1)); // keep the version counter story simple: detach shares data
  d.iset([0], 10);
  close(x, [10, 2, 3], 'detach shares storage with its source');
  x.zeroGrad();
  // y = x * detach(x): dy/dx = detach(x) only
  const x2 = f64([2, 3], true);
  x2.mul(x2.detach()).sum().backward();
  close(x2.grad, [2, 3]);
  // detach of a non-leaf cuts the graph there
  const a = f64([1.5], true);
  const mid = a.exp();
  const out = mid.detach().mul(a).add(mid);
  out.sum().backward();
  close(a.grad, [Math.exp(1.5) + Math.exp(1.5)]);
}));

test('retainGrad on a non-leaf keeps its gradient', () => noLeak('retainGrad', () => {
  const x = f64([1, 2], true);
  const h = x.mul(3);
  assert.equal(h.retainGrad(), h);
  const other = x.add(1); // not retained
  const y = h.pow(2).add(other).sum();
  y.backward();
  close(h.grad, [6, 12], 'dy/dh = 2h');
  close(x.grad, [18 + 1, 36 + 1]);
  assert.equal(other.grad, null);
  x.retainGrad(); // no-op on a leaf
  x.zeroGrad();
  x.sum().backward();
  close(x.grad, [1, 1]);
}));

// ---------------------------------------------------------------- custom functions
const myExp: CustomFunction<[Tensor]> = {
  name: 'MyExp',
  forward(ctx, x) {
    const y = x.exp();
    ctx.saveForBackward(y);
    return y;
  },
  backward(ctx, g) {
    return g!.mul(ctx.saved[0]);
  },
};

// round() forward, identity backward
const straightThrough: CustomFunction<[Tensor]> = {
  name: 'StraightThroughRound',
  forward: (_ctx, x) => x.round(),
  backward: (_ctx, g) => g,
};

// two inputs, two outputs; the second input (a temperature) gets no gradient
const mulAndAdd: CustomFunction<[Tensor, Tensor, Tensor]> = {
  name: 'MulAndAdd',
  forward(ctx, a, b, _t) {
    ctx.saveForBackward(a, b);
    return [a.mul(b), a.add(b)];
  },
  backward(ctx, gProd, gSum) {
    const [a, b] = ctx.saved;
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (gProd) { ga = gProd.mul(b); gb = gProd.mul(a); }
    if (gSum) { ga = ga ? ga.add(gSum) : gSum; gb = gb ? gb.add(gSum) : gSum; }
    return [ga, gb, null];
  },
};

// x^2 with backward 2 x g from the saved input: differentiable again under createGraph
const mySquare: CustomFunction<[Tensor]> = {
  name: 'MySquare',
  forward(ctx, x) {
    ctx.saveForBackward(x);
    return x.mul(x);
  },
  backward: (ctx, g) => g!.mul(ctx.saved[0]).mul(2),
};

test('custom function: gradient through a larger graph matches built-in ops and finite differences', () => noLeak('custom exp', () => {
  const x = f64([0.3, -1.2, 2], true), w = f64([1.5, -0.5, 0.25], true);
  const [e] = applyFunction(myExp, x.mul(w));
  assert.equal(e.gradFn, 'MyExp');
  assert.equal(e.isLeaf, false);
  assert.equal(e.requiresGrad, true);
  close(e, x.detach().mul(w.detach()).exp().dataSync());
  const loss = e.sin().mul(x).sum().add(e.sum().log());
  loss.backward();
  const gx = x.grad!, gw = w.grad!;
  x.zeroGrad();
  w.zeroGrad();
  const ref = x.mul(w).exp();
  ref.sin().mul(x).sum().add(ref.sum().log()).backward();
  close(gx, x.grad!.dataSync(), 'dx vs built-in exp');
  close(gw, w.grad!.dataSync(), 'dw vs built-in exp');
  const r = gradcheck((a, b) => applyFunction(myExp, a.mul(b))[0].sin().mul(a), [randn(4), randn(4)]);
  assert.ok(r.ok, `gradcheck max error ${r.maxError}`);
  const r2 = gradcheck((a, b) => applyFunction(mulAndAdd, a, b, b)[0].add(applyFunction(mulAndAdd, a.sin(), b, a)[1].mul(a)), [randn(3), randn(3)]);
  assert.ok(r2.ok, `gradcheck (two outputs) max error ${r2.maxError}`);
}));

test('custom function: straight-through estimator, several outputs, null gradients, reuse', () => noLeak('custom misc', () => {
  const x = f64([0.2, 1.7, -2.6], true), w = f64([2, 3, 4], true);
  const [q] = applyFunction(straightThrough, x);
  close(q, [0, 2, -3]);
  q.mul(w).sum().backward();
  close(x.grad, [2, 3, 4], 'identity backward through round()');
  close(w.grad, [0, 2, -3]);

  const a = f64([1, 2], true), b = f64([3, 4], true), t = f64([5, 6], true);
  const [prod, sum] = applyFunction(mulAndAdd, a, b, t);
  assert.equal(prod.gradFn, 'MulAndAdd');
  assert.equal(sum.gradFn, 'MulAndAdd');
  prod.sum().add(sum.mul(2).sum()).backward();
  close(a.grad, [3 + 2, 4 + 2]);
  close(b.grad, [1 + 2, 2 + 2]);
  assert.equal(t.grad, null, 'a null gradient from backward leaves the input without grad');
  // only one output used: the other gradient arrives as null
  a.zeroGrad();
  b.zeroGrad();
  const [, s2] = applyFunction(mulAndAdd, a, b, t);
  s2.sum().backward();
  close(a.grad, [1, 1]);
  close(b.grad, [1, 1]);

  // the same definition applied twice keeps separate contexts
  const u = f64([0.5, -0.5], true);
  const [e1] = applyFunction(myExp, u);
  const [e2] = applyFunction(myExp, u.mul(2));
  e1.add(e2).sum().backward();
  close(u.grad, [Math.exp(0.5) + 2 * Math.exp(1), Math.exp(-0.5) + 2 * Math.exp(-1)]);

  // an input returned unchanged from forward: the input keeps its identity
  const ident: CustomFunction<[Tensor]> = { name: 'Ident', forward: (_c, v) => v, backward: (_c, g) => g!.mul(2) };
  const z = f64([1, 2], true);
  const [zi] = applyFunction(ident, z);
  assert.notEqual(zi, z);
  assert.equal(z.isLeaf, true);
  assert.equal(z.gradFn, null);
  assert.equal(zi.gradFn, 'Ident');
  zi.sum().backward();
  close(z.grad, [2, 2]);

  // inputs that do not require grad: no graph node
  const [plain] = applyFunction(myExp, f64([0]));
  assert.equal(plain.requiresGrad, false);
  assert.equal(plain.gradFn, null);
  const [inNoGrad] = noGrad(() => applyFunction(myExp, u));
  assert.equal(inNoGrad.requiresGrad, false);
}));

test('custom function: double backward through a backward that uses a saved input', () => scope(() => {
  const x = f64([1, -2, 3], true);
  const [y] = applyFunction(mySquare, x);
  const [g] = grad(y.sum(), x, { createGraph: true });
  close(g, [2, -4, 6]);
  assert.equal(g!.requiresGrad, true);
  const [g2] = grad(g!.mul(x).sum(), x);
  close(g2, [4 * 1, 4 * -2, 4 * 3], 'd/dx (2x * x) = 4x');
}));

test('custom function: errors in backward become JS Errors and the process survives', () => noLeak('custom errors', () => {
  const throwing: CustomFunction<[Tensor]> = {
    name: 'Throwing',
    forward: (_c, v) => v.mul(2),
    backward: () => { throw new TypeError('backward exploded'); },
  };
  const x = f64([1, 2], true);
  const [y] = applyFunction(throwing, x);
  assert.throws(() => y.sum().backward(), (e: unknown) => e instanceof Error && /backward exploded/.test(e.message));
  assert.equal(x.grad, null);
  assert.throws(() => grad(applyFunction(throwing, x)[0].sum(), x), /backward exploded/);

  const wrongCount: CustomFunction<[Tensor]> = { name: 'WrongCount', forward: (_c, v) => v.mul(1), backward: (_c, g) => [g, g] };
  assert.throws(() => applyFunction(wrongCount, x)[0].sum().backward(), /WrongCount\.backward returned 2 gradients for 1 inputs/);

  const forwardThrows: CustomFunction<[Tensor]> = {
    name: 'ForwardThrows',
    forward: (ctx, v) => { ctx.saveForBackward(v.mul(2)); throw new RangeError('forward failed'); },
    backward: (_c, g) => g,
  };
  assert.throws(() => applyFunction(forwardThrows, x), RangeError);

  // the engine is still usable, for built-in and custom nodes
  x.mul(x).sum().backward();
  close(x.grad, [2, 4]);
  x.zeroGrad();
  applyFunction(myExp, x)[0].sum().backward();
  close(x.grad, [Math.exp(1), Math.exp(2)]);
}));

test('custom function: saved tensors are freed after backward; retainGraph keeps them for another pass', () => {
  const x = keep(f64([0.5, 1.5], true));
  const start = memory().liveTensors;
  noLeak('forward + backward', () => {
    const [y] = applyFunction(myExp, x);
    y.sum().backward();
  });
  noLeak('forward under noGrad', () => { noGrad(() => applyFunction(myExp, x)); });
  noLeak('forward of inputs without grad', () => { applyFunction(myExp, f64([1, 2])); });
  noLeak('several outputs', () => {
    const [p, s] = applyFunction(mulAndAdd, x, x.mul(2), x);
    p.add(s).sum().backward();
  });
  noLeak('retainGraph then a final pass', () => {
    const [y] = applyFunction(myExp, x);
    const l = y.sum();
    l.backward(null, { retainGraph: true });
    l.backward(null, { retainGraph: true });
    l.backward();
    assert.throws(() => l.backward(), (e: unknown) => e instanceof Error && /MyExp: trying to backward through the graph a second time/.test(e.message));
  });
  noLeak('backward that throws', () => {
    const bad: CustomFunction<[Tensor]> = {
      name: 'Bad',
      forward: (ctx: FunctionContext, v) => { const r = v.exp(); ctx.saveForBackward(r, v); return r; },
      backward: () => { throw new Error('nope'); },
    };
    assert.throws(() => applyFunction(bad, x)[0].sum().backward(), /nope/);
  });
  noLeak('a training-style loop', () => {
    const w = f64([0.1, -0.2], true);
    for (let step = 0; step < 20; step++) {
      scope(() => {
        const [e] = applyFunction(myExp, w.mul(x));
        const [r] = applyFunction(straightThrough, e.mul(3));
        F.mseLoss(r.add(e), f64([1, 2])).backward();
        noGrad(() => w.sub_(w.grad!.mul(0.01)));
        w.zeroGrad();
      });
    }
  });
  x.zeroGrad();
  assert.equal(memory().liveTensors, start);
  x.dispose();
});

// Without a native hook for node destruction, saved tensors of a graph that is dropped without a
// non-retaining backward (never differentiated, or differentiated with createGraph/retainGraph
// only) are freed by the GC backstop once the graph is gone.
test('custom function: a graph dropped without a final backward releases its saved tensors after GC', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const settle = async () => {
    for (let round = 0; round < 10; round++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
  };
  await settle();
  const x = keep(f64([0.5, 1.5], true));
  const start = memory().liveTensors;
  scope(() => {
    for (let k = 0; k < 5; k++) applyFunction(myExp, x); // outputs freed by the scope: graph dropped
    const [y] = applyFunction(mySquare, x);
    const [g] = grad(y.sum(), x, { createGraph: true }); // retains the graph
    grad(g!.sum(), x);
    const [z] = applyFunction(myExp, x);
    z.sum().backward(null, { retainGraph: true });
  });
  assert.ok(memory().liveTensors > start, 'saved tensors are still held before GC');
  await settle();
  assert.equal(memory().liveTensors, start);
  x.dispose();
});

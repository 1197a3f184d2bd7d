// Finite-difference gradient checks (float64) for every differentiable op family, through
// gradcheck(): analytical grad of (out * v).sum() vs central differences, element by element.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  F, Generator, Tensor, applyFunction, functions as torch, grad, gradcheck, memory, scope, tensor,
} from '../../src/tensor';
import type { GradcheckOptions } from '../../src/tensor';

const gen = new Generator(20240601);
const randn = (...shape: number[]): Tensor => torch.randn(shape, { generator: gen, dtype: 'float64' });
/** Uniform in [lo, hi). */
const uniform = (lo: number, hi: number, ...shape: number[]): Tensor =>
  torch.rand(shape, { generator: gen, dtype: 'float64' }).mul(hi - lo).add(lo);
/** Normal values pushed at least `gap` away from 0 (for kinks at 0: relu, abs, l1, ...). */
const awayFromZero = (gap: number, ...shape: number[]): Tensor => {
  const x = randn(...shape);
  return x.sign().mul(x.abs().add(gap));
};
const f64 = (data: number[] | number[][], shape?: number[]): Tensor => tensor(data, { dtype: 'float64', shape });
const long = (data: number[] | number[][]): Tensor => tensor(data, { dtype: 'int64' });

/** Runs gradcheck inside a scope (the inputs made by the caller's scope are freed by it). */
function check(name: string, fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: Tensor[], opts?: GradcheckOptions): void {
  const r = gradcheck(fn, inputs, opts);
  const detail = r.failures.slice(0, 4).map((f) => `in${f.input}[${f.index}] analytical=${f.analytical} numerical=${f.numerical}`).join('; ');
  assert.ok(r.ok, `${name}: gradcheck failed, max error ${r.maxError}: ${detail}`);
  assert.ok(r.checked > 0, `${name}: nothing checked`);
}

/** Each family runs in its own scope, so every tensor it makes is freed when it ends. */
function family(name: string, body: () => void): void {
  test(name, () => {
    const before = memory().liveTensors;
    scope(body);
    assert.equal(memory().liveTensors, before, `${name}: tensors leaked`);
  });
}

// ---------------------------------------------------------------- gradcheck itself
test('gradcheck: passes on correct gradients, fails on a wrong custom backward, frees temporaries', () => {
  scope(() => {
    const x = randn(3, 2);
    const before = memory().liveTensors;
    const good = gradcheck((a) => a.sin().mul(a), [x]);
    assert.ok(good.ok);
    assert.equal(good.checked, 6);
    assert.deepEqual(good.inputsChecked, [0]);
    assert.ok(good.maxError < 1e-7, `max error ${good.maxError}`);
    assert.equal(memory().liveTensors, before, 'gradcheck leaked tensors');

    // a backward that is off by a factor of 1.5
    const wrong = {
      name: 'WrongDouble',
      forward: (_c: unknown, a: Tensor) => a.mul(2),
      backward: (_c: unknown, g: Tensor | null) => g!.mul(3),
    };
    const bad = gradcheck((a) => applyFunction(wrong, a)[0], [x]);
    assert.equal(bad.ok, false);
    assert.ok(bad.failures.length > 0 && bad.failures.length <= 6);
    assert.ok(bad.maxRatio > 1);
    for (const f of bad.failures) assert.ok(Math.abs(f.analytical / f.numerical - 1.5) < 1e-6);
    assert.equal(memory().liveTensors, before, 'failing gradcheck leaked tensors');
  });
});

test('gradcheck: only inputs that require grad are checked; .grad of inputs is untouched', () => {
  scope(() => {
    const a = randn(2, 3).requiresGrad_();
    const b = randn(2, 3); // not checked: a requires grad and b does not
    const r = gradcheck((p, q) => p.mul(q).exp(), [a, b]);
    assert.ok(r.ok);
    assert.deepEqual(r.inputsChecked, [0]);
    assert.equal(r.checked, 6);
    assert.equal(a.grad, null);
    assert.equal(a.isLeaf, true);
    // none requires grad: every floating input is checked; int inputs never are
    const idx = long([2, 0]);
    const r2 = gradcheck((p, q, i) => p.mul(q).indexSelect(1, i), [randn(2, 3), randn(2, 3), idx]);
    assert.ok(r2.ok);
    assert.deepEqual(r2.inputsChecked, [0, 1]);
  });
});

test('gradcheck: rejects float32 inputs, detects NaN, handles non-contiguous inputs and several outputs', () => {
  scope(() => {
    assert.throws(() => gradcheck((a) => a.exp(), [torch.ones([2])]), /float64/);
    assert.throws(() => gradcheck((a) => a.exp(), [long([1, 2])]), /no floating-point input/);
    assert.throws(() => gradcheck((a) => a.detach(), [randn(2)]), /does not depend differentiably/);
    const nan = gradcheck((a) => a.sqrt(), [f64([-1, 4])]);
    assert.equal(nan.ok, false);
    assert.ok(Number.isNaN(nan.maxError));
    // transposed (non-contiguous) input: element indices are row-major over the logical shape
    const t = randn(3, 2).t();
    assert.equal(t.stride().join(), '1,2');
    check('non-contiguous', (a) => a.mul(a.sum(0, true)), [t]);
    check('several outputs', (a) => [a.exp(), a.argmax(), a.cumsum(0)], [randn(4)]);
    // complex output is compared through its real view
    check('complex output', (a) => torch.complex(a, a.mul(a)), [randn(3)]);
  });
});

// ---------------------------------------------------------------- elementwise arithmetic
family('elementwise arithmetic with broadcasting: add/sub/mul/div/pow', () => {
  const a = randn(2, 3), b = randn(3), c = randn(2, 1);
  check('add', (x, y) => x.add(y), [a, b]);
  check('add alpha', (x, y) => x.add(y, { alpha: -2.5 }), [a, c]);
  check('add scalar', (x) => x.add(3), [a]);
  check('sub', (x, y) => x.sub(y), [c, b]);
  check('rsub scalar', (x) => torch.rsub(x, 2), [a]);
  check('mul', (x, y) => x.mul(y), [a, b]);
  check('mul 3-way broadcast', (x, y, z) => x.mul(y).mul(z), [randn(2, 1, 3), randn(4, 1), randn(3)]);
  check('div', (x, y) => x.div(y), [a, uniform(0.5, 2, 3)]);
  check('div scalar and rounding-free', (x) => x.div(-4), [a]);
  check('pow tensor^tensor', (x, y) => x.pow(y), [uniform(0.5, 2, 2, 3), randn(3)]);
  check('pow tensor^scalar', (x) => x.pow(3), [a]);
  check('pow fractional', (x) => x.pow(2.5), [uniform(0.5, 2, 4)]);
  check('pow scalar^tensor', (x) => torch.pow(1.7, x), [a]);
  check('neg/square/reciprocal', (x) => x.neg().mul(x.square()).add(x.reciprocal()), [awayFromZero(0.3, 5)]);
  check('addcmul/addcdiv', (x, y, z) => x.addcmul(y, z, { value: 0.5 }).addcdiv(y, z.abs().add(1)), [randn(2, 3), randn(3), randn(2, 3)]);
  check('lerp', (x, y, w) => x.lerp(y, w), [randn(4), randn(4), uniform(0, 1, 4)]);
  check('maximum/minimum (distinct)', (x, y) => torch.maximum(x, y).add(torch.minimum(x, y.mul(2))), [f64([0.1, 2, -3]), f64([1, -1, 0.5])]);
  check('in-place ops on a non-leaf', (x, y) => x.mul(1).mul_(y).add_(y, { alpha: 2 }).div_(3).sub_(x), [randn(2, 3), randn(3)]);
  check('atan2/hypot', (x, y) => torch.atan2(x, y).add(torch.hypot(x, y)), [awayFromZero(0.2, 4), awayFromZero(0.2, 4)]);
});

// ---------------------------------------------------------------- unary math
family('unary math', () => {
  const x = randn(2, 3), pos = uniform(0.3, 2.5, 2, 3), unit = uniform(-0.8, 0.8, 5);
  const unary: [string, (t: Tensor) => Tensor, Tensor][] = [
    ['exp', (t) => t.exp(), x], ['expm1', (t) => t.expm1(), x], ['exp2', (t) => t.exp2(), x],
    ['log', (t) => t.log(), pos], ['log1p', (t) => t.log1p(), pos], ['log2', (t) => t.log2(), pos], ['log10', (t) => t.log10(), pos],
    ['sqrt', (t) => t.sqrt(), pos], ['rsqrt', (t) => t.rsqrt(), pos],
    ['sin', (t) => t.sin(), x], ['cos', (t) => t.cos(), x], ['tan', (t) => t.tan(), unit],
    ['asin', (t) => t.asin(), unit], ['acos', (t) => t.acos(), unit], ['atan', (t) => t.atan(), x],
    ['sinh', (t) => t.sinh(), x], ['cosh', (t) => t.cosh(), x], ['tanh', (t) => t.tanh(), x],
    ['asinh', (t) => t.asinh(), x], ['acosh', (t) => t.acosh(), pos.add(1)], ['atanh', (t) => t.atanh(), unit],
    ['sigmoid', (t) => t.sigmoid(), x], ['logit', (t) => t.logit(), uniform(0.1, 0.9, 4)],
    ['erf', (t) => t.erf(), x], ['erfc', (t) => t.erfc(), x], ['erfinv', (t) => t.erfinv(), unit],
    ['lgamma', (t) => t.lgamma(), pos], ['digamma', (t) => t.digamma(), pos],
    ['abs (away from 0)', (t) => t.abs(), awayFromZero(0.1, 5)],
    ['clamp (away from bounds)', (t) => t.clamp(-0.5, 0.5), f64([-2, -0.3, 0.1, 0.45, 1.5])],
    ['xlogy', (t) => torch.xlogy(t, t.add(1)), pos],
    ['sinc', (t) => t.sinc(), x],
  ];
  for (const [name, fn, input] of unary) check(name, fn, [input]);
  check('composition', (t) => t.sin().exp().mul(t.cos()).tanh(), [x]);
});

// ---------------------------------------------------------------- reductions
family('reductions: sum/mean/std/var/max/min/logsumexp/prod/norm with dims', () => {
  const x = randn(2, 3, 4);
  check('sum', (t) => t.sum(), [x]);
  check('sum dim', (t) => t.sum(1), [x]);
  check('sum dims keepdim', (t) => t.sum([0, 2], true), [x]);
  check('mean', (t) => t.mean(), [x]);
  check('mean dim', (t) => t.mean(-1), [x]);
  check('mean dims keepdim', (t) => t.mean([0, 1], true), [x]);
  check('std', (t) => t.std(), [x]);
  check('std dim', (t) => t.std(2), [x]);
  check('std dims unbiased=false keepdim', (t) => t.std([0, 2], false, true), [x]);
  check('std correction=0', (t) => t.std(1, { correction: 0 }), [x]);
  check('var', (t) => t.var(), [x]);
  check('var dim', (t) => t.var(1, false, true), [x]);
  check('max all', (t) => t.max(), [x]);
  check('max dim values', (t) => t.max(1)[0], [x]);
  check('max dim keepdim values', (t) => t.max(-1, true)[0], [x]);
  check('min dim values', (t) => t.min(0)[0], [x]);
  check('amax/amin dims', (t) => [t.amax([0, 2]), t.amin(1, true)], [x]);
  check('logsumexp', (t) => t.logsumexp(1), [x]);
  check('logsumexp dims keepdim', (t) => t.logsumexp([0, 2], true), [x]);
  const nz = awayFromZero(0.3, 2, 3);
  check('prod all', (t) => t.prod(), [nz]);
  check('prod dim', (t) => t.prod(1), [nz]);
  check('prod dim keepdim', (t) => t.prod(0, true), [nz]);
  check('prod with a single zero', (t) => t.prod(1), [f64([[1.5, 0, -2], [0.5, 2, 3]])]);
  check('norm L2', (t) => t.norm(), [x]);
  check('linalg vector norm dim', (t) => torch.linalgVectorNorm(t, 3, [1]), [x]);
  check('cumsum', (t) => t.cumsum(1), [x]);
  check('cumsum last dim', (t) => t.cumsum(-1), [x]);
  check('cumprod', (t) => t.cumprod(1), [nz]);
  check('logcumsumexp', (t) => t.logcumsumexp(2), [x]);
  check('sort values', (t) => t.sort(1)[0], [x]);
  check('sort descending values', (t) => t.sort({ dim: -1, descending: true })[0], [x]);
  check('topk values', (t) => t.topk(2, { dim: -1 })[0], [x]);
  check('topk smallest values', (t) => t.topk(2, { dim: 1, largest: false })[0], [x]);
  check('kthvalue/median values', (t) => t.kthvalue(2, 1)[0].add(t.median(2)[0].sum(1, true)), [x]);
});

// ---------------------------------------------------------------- views and shape ops
family('views and shape ops', () => {
  const x = randn(2, 3, 4);
  check('reshape', (t) => t.reshape([4, 6]).mul(t.reshape([4, 6]).flip(0)), [x]);
  check('view', (t) => t.view([6, 4]).cumsum(0), [x]);
  check('permute', (t) => t.permute([2, 0, 1]).cumsum(2), [x]);
  check('transpose + contiguous', (t) => t.transpose(0, 2).contiguous().cumsum(0), [x]);
  check('t', (t) => t.t().cumsum(0), [randn(3, 2)]);
  check('unsqueeze/expand', (t) => t.unsqueeze(1).expand([2, 5, 4]).cumsum(1), [randn(2, 4)]);
  check('squeeze', (t) => t.squeeze(1).exp(), [randn(3, 1, 2)]);
  check('flatten', (t) => t.flatten(1).cumsum(1), [x]);
  check('narrow', (t) => t.narrow(2, 1, 2), [x]);
  check('flip', (t) => t.flip([0, 2]).cumsum(2), [x]);
  check('roll', (t) => t.roll(1, 2).cumsum(2), [x]);
  check('repeat', (t) => t.repeat([2, 1, 3]).cumsum(2), [randn(2, 1, 2)]);
  check('cat', (a, b) => torch.cat([a, b, a], 1).cumsum(1), [randn(2, 2), randn(2, 3)]);
  check('stack', (a, b) => torch.stack([a, b], 1).cumsum(1), [randn(2, 3), randn(2, 3)]);
  check('split (list output)', (t) => t.split(2, 2), [x]);
  check('chunk', (t) => t.chunk(3, 1).map((c, k) => c.mul(k + 1)), [x]);
  check('unbind', (t) => torch.unbind(t, 0).reduce((acc, u) => acc.mul(u)), [randn(3, 2)]);
  check('diagonal', (t) => t.diagonal(0, 0, 1), [randn(3, 3)]);
  check('diag embed', (t) => torch.diagEmbed(t).cumsum(1), [randn(2, 3)]);
  check('triu/tril', (t) => t.triu(1).add(t.tril().mul(2)), [randn(3, 4)]);
  check('unfold', (t) => t.unfold(1, 3, 2).cumsum(2), [randn(2, 7)]);
  check('movedim', (t) => t.movedim(0, 2).cumsum(2), [x]);
  check('broadcastTo', (t) => t.broadcastTo([3, 2, 4]).cumsum(0), [randn(2, 1)]);
  check('pad constant/reflect/replicate', (t) => [F.pad(t, [1, 2]), F.pad(t, [2, 1], { mode: 'reflect' }), F.pad(t, [1, 1], { mode: 'replicate' })], [randn(1, 2, 4)]);
});

// ---------------------------------------------------------------- indexing
family('indexing: slices with steps, negative steps, tensor indices, gather/scatter/indexSelect/maskedFill/where', () => {
  const x = randn(4, 5);
  check('i(number)', (t) => t.i(1), [x]);
  check('i(negative number, slice)', (t) => t.i(-1, [1, 4]), [x]);
  check('i slices with steps', (t) => t.i([0, null, 2], [1, null, 3]), [x]);
  check('i open slice with step 2 on dim 1', (t) => t.i(':', [null, null, 2]), [x]);
  check('i negative step (reverse)', (t) => t.i([null, null, -1]).cumsum(0), [x]);
  check('i negative step with bounds', (t) => t.i(':', [4, 0, -2]), [x]);
  check('i negative start/stop', (t) => t.i([-3, -1], [-4, null]), [x]);
  check('i None and ellipsis', (t) => t.i('...', null, [1, 3]).cumsum(1), [x]);
  check('i tensor index with repeats (accumulates)', (t) => t.i(long([0, 2, 0, 3])), [x]);
  check('i tensor index on dim 1', (t) => t.i(':', long([4, 4, 1])), [x]);
  check('i two tensor indices', (t) => t.i(long([0, 1, 1]), long([2, 2, 4])), [x]);
  check('i bool mask', (t) => t.i(t.gt(0)), [x]);
  check('i mixed slice + tensor', (t) => t.i([1, 4], long([0, 3])), [x]);
  const idx = long([[0, 2, 2], [1, 0, 4], [3, 3, 3], [4, 1, 0]]);
  check('gather', (t) => t.gather(1, idx), [x]);
  check('gather dim 0', (t) => t.gather(0, long([[0, 1, 2, 3, 0], [3, 3, 0, 1, 2]])), [x]);
  const perm = long([[2, 0, 1], [0, 1, 2]]); // unique positions per row, so scatter is well defined
  check('scatter (self and src)', (s, src) => s.scatter(1, perm, src), [randn(2, 4), randn(2, 3)]);
  check('scatter value', (s) => s.scatter(1, perm, 2.5), [randn(2, 4)]);
  check('scatterAdd with repeats', (s, src) => s.scatterAdd(1, long([[0, 0, 3], [1, 1, 1]]), src), [randn(2, 4), randn(2, 3)]);
  check('indexSelect', (t) => t.indexSelect(0, long([3, 0, 3])), [x]);
  check('indexSelect dim 1', (t) => t.indexSelect(1, long([4, 2])), [x]);
  check('indexAdd', (s, src) => s.indexAdd(0, long([2, 0, 2]), src, { alpha: 1.5 }), [randn(3, 2), randn(3, 2)]);
  check('take', (t) => t.take(long([0, 19, 7, 7])), [x]);
  const mask = tensor([[true, false, true, false, false], [false, false, true, true, false], [true, true, true, true, true], [false, false, false, false, true]]);
  check('maskedFill scalar', (t) => t.maskedFill(mask, 3), [x]);
  check('maskedFill 0-d tensor value', (t, v) => t.maskedFill(mask, v), [x, randn()]);
  check('where', (a, b) => torch.where(mask, a, b), [x, randn(5)]);
  check('where scalar', (a) => torch.where(mask, 0.5, a), [x]);
  check('maskedSelect', (t) => t.maskedSelect(mask), [x]);
  check('iset (in-place copy into a non-leaf)', (t, v) => {
    const y = t.mul(1);
    y.iset([[1, 3], ':'], v);
    return y.mul(y);
  }, [x, randn(5)]);
  check('iset with tensor index', (t, v) => {
    const y = t.mul(2);
    y.iset([long([0, 3])], v);
    return y.exp();
  }, [x, randn(2, 5)]);
});

// ---------------------------------------------------------------- linear algebra products
family('matmul/bmm/einsum/linear', () => {
  check('matmul 2d', (a, b) => a.matmul(b), [randn(2, 3), randn(3, 4)]);
  check('matmul batched broadcast', (a, b) => a.matmul(b), [randn(2, 3, 4), randn(4, 2)]);
  check('matmul vector', (a, v) => a.matmul(v), [randn(3, 4), randn(4)]);
  check('matmul vector-matrix', (v, a) => v.matmul(a), [randn(3), randn(2, 3, 4)]);
  check('mm/mv/dot/outer', (a, v, w) => [a.mm(a.t()), a.mv(v), v.dot(v.mul(2)), w.outer(v)], [randn(2, 3), randn(3), randn(2)]);
  check('bmm', (a, b) => a.bmm(b), [randn(2, 2, 3), randn(2, 3, 2)]);
  check('addmm', (c, a, b) => torch.addmm(c, a, b, { beta: 0.5, alpha: 2 }), [randn(3), randn(2, 4), randn(4, 3)]);
  check('baddbmm', (c, a, b) => torch.baddbmm(c, a, b), [randn(1, 2, 2), randn(2, 2, 3), randn(2, 3, 2)]);
  check('einsum bij,bjk->bik', (a, b) => torch.einsum('bij,bjk->bik', [a, b]), [randn(2, 2, 3), randn(2, 3, 2)]);
  check('einsum ij,j->i', (a, v) => torch.einsum('ij,j->i', [a, v]), [randn(3, 4), randn(4)]);
  check('einsum trace and diagonal', (a) => [torch.einsum('ii', [a]), torch.einsum('ii->i', [a])], [randn(3, 3)]);
  check('einsum outer + reduce', (a, b) => torch.einsum('i,j,ij->', [a, b, a.outer(b)]), [randn(3), randn(2)]);
  check('einsum three operands', (a, b, c) => torch.einsum('ab,bc,cd->ad', [a, b, c]), [randn(2, 3), randn(3, 2), randn(2, 2)]);
  check('linear with bias', (x, w, b) => F.linear(x, w, b), [randn(2, 3), randn(4, 3), randn(4)]);
  check('linear without bias, 3-d input', (x, w) => F.linear(x, w), [randn(2, 2, 3), randn(2, 3)]);
  check('bilinear', (a, b, w, bias) => F.bilinear(a, b, w, bias), [randn(2, 2), randn(2, 3), randn(2, 2, 3), randn(2)]);
});

// ---------------------------------------------------------------- convolutions
family('conv1d/conv2d (stride, padding, dilation, groups), convTranspose2d', () => {
  check('conv1d stride/padding/dilation + bias', (x, w, b) => F.conv1d(x, w, { bias: b, stride: 2, padding: 1, dilation: 2 }),
    [randn(2, 2, 7), randn(3, 2, 3), randn(3)]);
  check('conv1d groups', (x, w) => F.conv1d(x, w, { groups: 2 }), [randn(1, 4, 5), randn(2, 2, 2)]);
  check('conv1d padding same', (x, w) => F.conv1d(x, w, { padding: 'same' }), [randn(1, 1, 6), randn(2, 1, 3)]);
  check('conv2d basic + bias', (x, w, b) => F.conv2d(x, w, { bias: b }), [randn(1, 2, 4, 4), randn(2, 2, 2, 2), randn(2)]);
  check('conv2d stride 2, padding 1', (x, w) => F.conv2d(x, w, { stride: 2, padding: 1 }), [randn(1, 1, 5, 5), randn(2, 1, 3, 3)]);
  check('conv2d asymmetric stride/padding, dilation 2', (x, w) => F.conv2d(x, w, { stride: [1, 2], padding: [2, 1], dilation: 2 }),
    [randn(1, 1, 5, 5), randn(1, 1, 2, 2)]);
  check('conv2d groups 2', (x, w, b) => F.conv2d(x, w, { bias: b, groups: 2, padding: 1, stride: 2 }),
    [randn(1, 4, 4, 4), randn(4, 2, 2, 2), randn(4)]);
  check('conv2d depthwise', (x, w) => F.conv2d(x, w, { groups: 2 }), [randn(2, 2, 3, 3), randn(2, 1, 2, 2)]);
  check('convTranspose2d stride 2, padding 1, outputPadding 1', (x, w, b) => F.convTranspose2d(x, w, { bias: b, stride: 2, padding: 1, outputPadding: 1 }),
    [randn(1, 2, 3, 3), randn(2, 2, 3, 3), randn(2)]);
  check('convTranspose2d groups + dilation', (x, w) => F.convTranspose2d(x, w, { groups: 2, dilation: 2 }),
    [randn(1, 2, 2, 3), randn(2, 1, 2, 2)]);
  check('convTranspose1d', (x, w) => F.convTranspose1d(x, w, { stride: 3 }), [randn(1, 2, 3), randn(2, 1, 2)]);
});

// ---------------------------------------------------------------- pooling and resampling
family('max/avg/adaptive pooling, interpolate', () => {
  const x = randn(1, 2, 5, 5); // continuous random values: no ties within a window
  check('maxPool2d 2x2', (t) => F.maxPool2d(t, 2), [x]);
  check('maxPool2d overlapping, padding', (t) => F.maxPool2d(t, 3, { stride: 1, padding: 1 }), [x]);
  check('maxPool2d dilation, ceilMode', (t) => F.maxPool2d(t, 2, { stride: 2, dilation: 2, ceilMode: true }), [x]);
  check('maxPool1d', (t) => F.maxPool1d(t, 3, { stride: 2 }), [randn(2, 1, 7)]);
  check('avgPool2d', (t) => F.avgPool2d(t, 2), [x]);
  check('avgPool2d padding, countIncludePad=false', (t) => F.avgPool2d(t, 3, { stride: 2, padding: 1, countIncludePad: false }), [x]);
  check('avgPool2d ceilMode', (t) => F.avgPool2d(t, 2, { ceilMode: true }), [x]);
  check('avgPool1d', (t) => F.avgPool1d(t, 2, { stride: 1 }), [randn(1, 2, 5)]);
  check('adaptiveAvgPool2d', (t) => F.adaptiveAvgPool2d(t, [2, 3]), [x]);
  check('adaptiveAvgPool1d', (t) => F.adaptiveAvgPool1d(t, 3), [randn(1, 2, 7)]);
  check('adaptiveMaxPool2d', (t) => F.adaptiveMaxPool2d(t, [3, 2]), [x]);
  const img = randn(1, 2, 3, 3);
  check('interpolate bilinear', (t) => F.interpolate(t, { size: [5, 4], mode: 'bilinear' }), [img]);
  check('interpolate bilinear alignCorners', (t) => F.interpolate(t, { size: [4, 5], mode: 'bilinear', alignCorners: true }), [img]);
  check('interpolate bilinear scaleFactor', (t) => F.interpolate(t, { scaleFactor: 2, mode: 'bilinear' }), [img]);
  check('interpolate bilinear downsample', (t) => F.interpolate(t, { size: [2, 2], mode: 'bilinear' }), [randn(1, 1, 5, 5)]);
  check('interpolate nearest', (t) => F.interpolate(t, { scaleFactor: 2, mode: 'nearest' }), [img]);
  check('interpolate linear 1d', (t) => F.interpolate(t, { size: 7, mode: 'linear' }), [randn(1, 2, 4)]);
  check('interpolate bicubic', (t) => F.interpolate(t, { size: [4, 4], mode: 'bicubic', alignCorners: false }), [img]);
  check('pixelShuffle', (t) => torch.pixelShuffle(t, 2).cumsum(3), [randn(1, 4, 2, 2)]);
});

// ---------------------------------------------------------------- normalization
family('layerNorm/groupNorm/batchNorm (training)', () => {
  check('layerNorm with affine', (x, w, b) => F.layerNorm(x, [4], { weight: w, bias: b }), [randn(2, 3, 4), randn(4), randn(4)]);
  check('layerNorm over 2 dims', (x, w) => F.layerNorm(x, [3, 4], { weight: w, eps: 1e-3 }), [randn(2, 3, 4), randn(3, 4)]);
  check('layerNorm no affine', (x) => F.layerNorm(x, 5), [randn(3, 5)]);
  check('groupNorm', (x, w, b) => F.groupNorm(x, 2, { weight: w, bias: b }), [randn(2, 4, 3), randn(4), randn(4)]);
  check('groupNorm 4-d, one group', (x) => F.groupNorm(x, 1), [randn(2, 2, 2, 2)]);
  check('batchNorm training 2-d', (x, w, b) => F.batchNorm(x, null, null, { weight: w, bias: b, training: true }),
    [randn(4, 3), randn(3), randn(3)]);
  check('batchNorm training 4-d', (x, w, b) => F.batchNorm(x, null, null, { weight: w, bias: b, training: true }),
    [randn(3, 2, 2, 2), randn(2), randn(2)]);
  // with running statistics: they are updated in place but do not change the training output
  const rm = torch.zeros([3], { dtype: 'float64' }), rv = torch.ones([3], { dtype: 'float64' });
  check('batchNorm training with running stats', (x) => F.batchNorm(x, rm, rv, { training: true, momentum: 0.3 }), [randn(5, 3)]);
  check('batchNorm eval (running stats)', (x, w) => F.batchNorm(x, rm, rv, { weight: w, training: false }), [randn(2, 3), randn(3)]);
  check('instanceNorm via groupNorm', (x) => F.groupNorm(x, 3), [randn(1, 3, 4)]);
  check('normalize-like: x / ||x||', (x) => x.div(x.norm(2, 1, true)), [randn(3, 4)]);
});

// ---------------------------------------------------------------- embedding, softmax, losses
family('embedding (w.r.t. weight), softmax/logSoftmax', () => {
  const idx = long([[0, 2, 0], [3, 3, 1]]);
  check('embedding weight (repeated indices accumulate)', (w) => F.embedding(idx, w), [randn(4, 3)]);
  check('embedding 1-d indices', (w) => F.embedding(long([2, 1, 2, 2]), w), [randn(3, 2)]);
  check('softmax dim 1', (x) => F.softmax(x, 1), [randn(2, 4)]);
  check('softmax dim 0', (x) => F.softmax(x, 0), [randn(3, 2, 2)]);
  check('logSoftmax', (x) => F.logSoftmax(x, -1), [randn(2, 4)]);
  check('logSoftmax dim 0', (x) => F.logSoftmax(x, 0), [randn(3, 2)]);
  check('softmax -> log (composite)', (x) => F.softmax(x, 1).log(), [randn(2, 3)]);
});

family('losses: crossEntropy (indices, soft targets, label smoothing), mse/l1/bce/bceWithLogits/nll', () => {
  const logits = randn(3, 5), target = long([1, 0, 4]);
  check('crossEntropy indices', (x) => F.crossEntropy(x, target), [logits]);
  check('crossEntropy sum', (x) => F.crossEntropy(x, target, { reduction: 'sum' }), [logits]);
  check('crossEntropy none', (x) => F.crossEntropy(x, target, { reduction: 'none' }), [logits]);
  check('crossEntropy class weights', (x) => F.crossEntropy(x, target, { weight: f64([1, 2, 0.5, 1, 3]) }), [logits]);
  check('crossEntropy ignoreIndex', (x) => F.crossEntropy(x, long([1, -100, 2])), [logits]);
  check('crossEntropy label smoothing', (x) => F.crossEntropy(x, target, { labelSmoothing: 0.2 }), [logits]);
  check('crossEntropy label smoothing + weights', (x) => F.crossEntropy(x, target, { labelSmoothing: 0.1, weight: f64([1, 2, 0.5, 1, 3]) }), [logits]);
  const soft = F.softmax(randn(3, 5), 1);
  check('crossEntropy soft targets (w.r.t. logits and targets)', (x, p) => F.crossEntropy(x, p), [logits, soft]);
  check('crossEntropy soft targets + label smoothing', (x) => F.crossEntropy(x, soft, { labelSmoothing: 0.3 }), [logits]);
  check('crossEntropy N,C,d (spatial)', (x) => F.crossEntropy(x, long([[0, 2], [1, 1]])), [randn(2, 3, 2)]);
  check('nllLoss', (x) => F.nllLoss(x, target), [randn(3, 5)]);
  check('nllLoss weights, sum', (x) => F.nllLoss(x, target, { weight: f64([1, 2, 0.5, 1, 3]), reduction: 'sum' }), [randn(3, 5)]);
  check('nllLoss of logSoftmax', (x) => F.nllLoss(F.logSoftmax(x, 1), target, { reduction: 'none' }), [randn(3, 5)]);
  check('mseLoss (both args)', (x, y) => F.mseLoss(x, y), [randn(2, 3), randn(2, 3)]);
  check('mseLoss none/sum', (x, y) => [F.mseLoss(x, y, { reduction: 'none' }), F.mseLoss(x, y, { reduction: 'sum' })], [randn(2, 3), randn(2, 3)]);
  const a = randn(2, 3);
  check('l1Loss (away from kink)', (x) => F.l1Loss(x, a.add(f64([0.5, -0.7, 0.9]))), [a]);
  const p = uniform(0.1, 0.9, 2, 3), t01 = uniform(0, 1, 2, 3);
  check('binaryCrossEntropy', (x) => F.binaryCrossEntropy(x, t01), [p]);
  const bw = uniform(0.5, 2, 3); // made once: fn must be deterministic
  check('binaryCrossEntropy weight, sum', (x) => F.binaryCrossEntropy(x, t01, { weight: bw, reduction: 'sum' }), [p]);
  check('binaryCrossEntropyWithLogits', (x) => F.binaryCrossEntropyWithLogits(x, t01), [randn(2, 3)]);
  check('binaryCrossEntropyWithLogits posWeight + weight', (x) => F.binaryCrossEntropyWithLogits(x, t01, { posWeight: f64([1, 3, 0.5]), weight: f64([2, 1, 1]), reduction: 'none' }), [randn(2, 3)]);
  check('smoothL1/huber', (x, y) => [torch.smoothL1Loss(x, y), torch.huberLoss(x, y, { delta: 0.7 })], [f64([0, 1, 2, 3]), f64([0.2, -0.5, 2.1, 5])]);
  check('klDiv', (x, y) => torch.klDiv(x, y), [F.logSoftmax(randn(2, 3), 1), F.softmax(randn(2, 3), 1)]);
});

// ---------------------------------------------------------------- activations
family('activations', () => {
  const x = awayFromZero(0.05, 3, 4);
  check('relu (away from 0)', (t) => F.relu(t), [x]);
  check('leakyRelu', (t) => F.leakyRelu(t, 0.2), [x]);
  check('gelu (erf)', (t) => F.gelu(t), [randn(3, 4)]);
  check('gelu (tanh approximation)', (t) => F.gelu(t, { approximate: 'tanh' }), [randn(3, 4)]);
  check('silu', (t) => F.silu(t), [randn(3, 4)]);
  check('elu', (t) => F.elu(t, 1.3), [x]);
  check('softplus', (t) => F.softplus(t), [randn(3, 4)]);
  check('softplus beta/threshold', (t) => F.softplus(t, { beta: 2, threshold: 3 }), [f64([-2, -0.5, 0.3, 1.2, 1.4, 3])]);
  check('tanh/sigmoid', (t) => [F.tanh(t), F.sigmoid(t)], [randn(3, 4)]);
  check('hardtanh (away from bounds)', (t) => torch.hardtanh(t, -1, 1), [f64([-2, -0.5, 0.3, 0.8, 1.6])]);
  check('selu/celu/mish', (t) => [torch.selu(t), torch.celu(t, 0.7), torch.mish(t)], [x]);
  check('logsigmoid', (t) => torch.logSigmoid(t), [randn(5)]);
  check('prelu (input and weight)', (t, w) => torch.prelu(t, w), [awayFromZero(0.05, 2, 3, 2), f64([0.1, 0.2, 0.3])]);
  check('hardswish/hardsigmoid (away from kinks)', (t) => [torch.hardswish(t), torch.hardsigmoid(t)], [f64([-4, -1.5, -0.2, 0.7, 2.5, 4])]);
  check('glu', (t) => torch.glu(t, -1), [randn(2, 4)]);
});

// ---------------------------------------------------------------- fft and stft (complex outputs via real views)
family('fft/rfft/irfft (real views), stft', () => {
  const x = randn(2, 6);
  check('fft of real input', (t) => torch.fftFft(t), [x]);
  check('fft ortho, n padded', (t) => torch.fftFft(t, { n: 8, norm: 'ortho' }), [x]);
  check('fft of complex input (built from real/imag)', (re, im) => torch.fftFft(torch.complex(re, im), { dim: 0 }), [randn(3, 2), randn(3, 2)]);
  check('ifft', (re, im) => torch.fftIfft(torch.complex(re, im)), [randn(4), randn(4)]);
  check('rfft', (t) => torch.fftRfft(t), [x]);
  check('rfft dim 0, forward norm', (t) => torch.fftRfft(t, { dim: 0, norm: 'forward' }), [randn(5, 2)]);
  check('irfft (n even)', (re, im) => torch.fftIrfft(torch.complex(re, im), { n: 6 }), [randn(2, 4), randn(2, 4)]);
  check('irfft (n odd)', (re, im) => torch.fftIrfft(torch.complex(re, im), { n: 5 }), [randn(3), randn(3)]);
  check('rfft -> irfft round trip', (t) => torch.fftIrfft(torch.fftRfft(t), { n: 6 }), [x]);
  check('fft2 / rfft2', (t) => [torch.fftFft2(t), torch.fftRfft2(t)], [randn(3, 4)]);
  check('abs of rfft (power spectrum)', (t) => torch.fftRfft(t).abs(), [randn(7)]);
  const win = torch.hannWindow(8, { dtype: 'float64' });
  check('stft (hann window, hop 2, centered)', (t) => t.stft(8, { hopLength: 2, window: win, center: true, padMode: 'reflect', returnComplex: true }), [randn(16)]);
  check('stft not centered, no window', (t) => t.stft(4, { hopLength: 1, center: false, returnComplex: true }), [randn(2, 7)]);
});

// ---------------------------------------------------------------- decompositions
family('qr/svd through gauge-invariant functions, and other linalg', () => {
  const tall = randn(4, 3);
  check('qr: Q@R', (a) => {
    const [q, r] = torch.linalgQr(a);
    return q.matmul(r);
  }, [tall]);
  check('qr: projector Q Q^T and |diag R|', (a) => {
    const [q, r] = torch.linalgQr(a);
    return [q.matmul(q.t()), r.diagonal().abs()];
  }, [tall]);
  // complete mode is differentiable only for square or wide inputs (as in PyTorch)
  check('qr complete mode, wide: Q@R', (a) => {
    const [q, r] = torch.linalgQr(a, 'complete');
    return q.matmul(r);
  }, [randn(2, 3)]);
  check('svd: sum of singular values (nuclear norm)', (a) => torch.linalgSvdvals(a).sum(), [tall]);
  check('svd: singular values', (a) => torch.linalgSvdvals(a), [randn(3, 3)]);
  check('svd: U diag(S) Vh and projectors', (a) => {
    const [u, s, vh] = torch.linalgSvd(a, false);
    return [u.mul(s).matmul(vh), u.matmul(u.t()), s];
  }, [tall]);
  check('svd: top singular vector outer product (sign-invariant)', (a) => {
    const [u, , vh] = torch.linalgSvd(a, false);
    const u0 = u.i(':', 0), v0 = vh.i(0);
    return u0.outer(v0);
  }, [randn(3, 3)]);
  const spd = (a: Tensor) => a.matmul(a.t()).add(torch.eye(3, { dtype: 'float64' }));
  check('inv/det/slogdet', (a) => [torch.linalgInv(a), torch.linalgDet(a), torch.linalgSlogdet(a)[1]], [randn(3, 3).add(torch.eye(3, { dtype: 'float64' }).mul(3))]);
  check('cholesky of an SPD matrix', (a) => torch.linalgCholesky(spd(a)), [randn(3, 3)]);
  check('solve', (a, b) => torch.linalgSolve(a, b), [randn(3, 3).add(torch.eye(3, { dtype: 'float64' }).mul(3)), randn(3, 2)]);
  check('eigh eigenvalues of a symmetric matrix', (a) => torch.linalgEigvalsh(a.add(a.t())), [randn(3, 3)]);
  check('matrix exp', (a) => torch.linalgMatrixExp(a.mul(0.5)), [randn(2, 2)]);
});

// ---------------------------------------------------------------- second order (gradient of a gradient)
/** x -> d/dx (f(x) * v).sum() with createGraph, so gradcheck checks the double backward of f. */
function gradOf(f: (...xs: Tensor[]) => Tensor, v?: Tensor): (...xs: Tensor[]) => Tensor[] {
  return (...xs: Tensor[]) => {
    const leaves = xs.map((x) => (x.requiresGrad ? x : x.detach().requiresGrad_()));
    const out = f(...leaves);
    const gs = grad(v ? out.mul(v).sum() : out.sum(), leaves, { createGraph: true, allowUnused: true });
    return gs.map((g, k) => g ?? torch.zerosLike(leaves[k]));
  };
}

family('second order: gradcheck of gradients (double backward)', () => {
  const v = randn(2, 3);
  check('tanh', gradOf((x) => x.tanh(), v), [randn(2, 3)]);
  check('sigmoid * exp', gradOf((x) => x.sigmoid().mul(x.exp()), v), [randn(2, 3)]);
  check('log / sqrt', gradOf((x) => x.log().add(x.sqrt()), v), [uniform(0.5, 2, 2, 3)]);
  check('pow tensor^tensor', gradOf((x, y) => x.pow(y), v), [uniform(0.5, 2, 2, 3), randn(3)]);
  check('matmul', gradOf((a, b) => a.matmul(b).pow(2), v), [randn(2, 4), randn(4, 3)]);
  check('softmax', gradOf((x) => F.softmax(x, 1), v), [randn(2, 3)]);
  check('logSoftmax', gradOf((x) => F.logSoftmax(x, 0), v), [randn(2, 3)]);
  check('crossEntropy with label smoothing', gradOf((x) => F.crossEntropy(x, long([0, 2]), { labelSmoothing: 0.1 })), [randn(2, 3)]);
  check('gelu / silu / softplus / elu', gradOf((x) => F.gelu(x).add(F.silu(x)).add(F.softplus(x)).add(F.elu(x)), v), [awayFromZero(0.1, 2, 3)]);
  check('layerNorm', gradOf((x, w) => F.layerNorm(x, [3], { weight: w }), v), [randn(2, 3), randn(3)]);
  check('conv2d', gradOf((x, w) => F.conv2d(x, w, { padding: 1 }).pow(2)), [randn(1, 1, 3, 3), randn(1, 1, 2, 2)]);
  check('std / logsumexp', gradOf((x) => x.std(1).add(x.logsumexp(1))), [randn(2, 3)]);
  const target = uniform(0, 1, 2, 3);
  check('bceWithLogits', gradOf((x) => F.binaryCrossEntropyWithLogits(x, target)), [randn(2, 3)]);
});

// Custom-function graphs differentiated with createGraph keep their saved tensors until the GC
// backstop frees them (see autograd.test.ts), so this one is not checked for live tensors.
test('second order through a custom function', () => scope(() => {
  const v = randn(2, 3);
  const mySquare = {
    name: 'MySquare',
    forward(ctx: { saveForBackward(...t: Tensor[]): void }, x: Tensor) { ctx.saveForBackward(x); return x.mul(x); },
    backward(ctx: { saved: Tensor[] }, g: Tensor | null) { return g!.mul(ctx.saved[0]).mul(2); },
  };
  check('custom function whose backward uses a saved input', gradOf((x) => applyFunction(mySquare, x)[0].mul(x), v), [randn(2, 3)]);
}));

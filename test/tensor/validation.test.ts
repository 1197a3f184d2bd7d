// Input validation at the tensor level: values that do not fit an integer dtype, ragged nested
// arrays, .grad assignments, F.* options, fractional max pooling's random samples, dtype and device
// names. Each case either matches Python PyTorch 1.13 (run here when installed: its values, or the
// fact that it raises and its message) or is a documented, stricter refusal; never a silent wrong value.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'child_process';
import { tensor, fromBytes, functions as torch, F, Generator, Tensor, scope, grad, cudaIsAvailable } from '../../src/tensor';
import type { DType } from '../../src/types';

const PYTHON = '/usr/bin/python3';
let pyAvailable: boolean | undefined;
function hasTorch(): boolean {
  pyAvailable ??= spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  return pyAvailable;
}
/** Runs a Python PyTorch program that prints one JSON value. */
function python<T>(program: string): T {
  const r = spawnSync(PYTHON, ['-c', program], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

// ------------------------------------------------------------------ values into integer dtypes
// [values (JSON-encodable; 'nan'/'inf'/'-inf' as strings), dtype, expected values or 'raises', and
// 'stricter' where PyTorch 1.13 gives a value instead (documented in the README)]. JS numbers are
// doubles: the reference is torch.tensor of Python floats (for Python ints, PyTorch wraps -1 to 255 as uint8).
type Val = number | string;
const CONVERSIONS: [Val[], DType, Val[] | 'raises', 'stricter'?][] = [
  [[300], 'uint8', 'raises'], [[255, 0], 'uint8', [255, 0]], [[255.5], 'uint8', 'raises'], [[2.7], 'uint8', [2]],
  [[200], 'int8', 'raises'], [[-129], 'int8', 'raises'], [[127, -128], 'int8', [127, -128]], [[127.9], 'int8', 'raises'],
  [[40000], 'int16', 'raises'], [[-32768, 32767], 'int16', [-32768, 32767]],
  [[3e9], 'int32', 'raises'], [['inf'], 'int32', 'raises'], [['nan'], 'int32', 'raises'], [[2.7, -2.7], 'int32', [2, -2]], [[1e20], 'int32', 'raises'],
  [['nan'], 'int64', 'raises'], [['-inf'], 'int64', 'raises'], [[-1], 'uint8', 'raises'], [[1e20], 'int64', 'raises'], [[2 ** 63], 'int64', 'raises', 'stricter'],
  [[-(2 ** 63), 2 ** 62], 'int64', [-(2 ** 63), 2 ** 62]],
  // nonzero (NaN included) is true; floating overflow is inf
  [[2, 0.5, 'nan', 0], 'bool', [1, 1, 1, 0]], [[1e6], 'float16', ['inf']], [[1e40], 'float32', ['inf']],
];
const jsVal = (v: Val): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));
const expected = (e: Val[] | 'raises') => (e === 'raises' ? { raises: true } : { values: e.map(jsVal) });

test('tensor(): values into integer dtypes raise where PyTorch raises, and convert like it elsewhere', (t) => {
  const ours = CONVERSIONS.map(([vals, dtype]) => {
    try {
      return { values: scope(() => tensor(vals.map(jsVal), { dtype }).to('float64').dataSync()) };
    } catch (e) {
      assert.ok(e instanceof RangeError, `${JSON.stringify(vals)} as ${dtype}: ${String(e)}`);
      // the message names the value, where it is and the dtype's range
      assert.match(e.message, new RegExp(`value (${vals.map((v) => String(jsVal(v))).join('|')}) at index \\[\\d+\\] cannot be converted to ${dtype} without overflow \\(range \\[`));
      return { raises: true };
    }
  });
  assert.deepEqual(ours, CONVERSIONS.map(([, , e]) => expected(e)));
  if (!hasTorch()) return t.diagnostic('python3 with torch is not installed: compared with the table only');
  const ref = python<({ values: Val[] } | { raises: true })[]>(`
import json, math, torch
cases = json.loads(${JSON.stringify(JSON.stringify(CONVERSIONS.map(([v, d]) => [v, d])))})
val = float  # JS numbers are doubles (and JSON prints 2**63 with trailing zeros)
out = []
for vals, dtype in cases:
    try:
        x = torch.tensor([val(v) for v in vals], dtype=getattr(torch, dtype)).double().tolist()
        out.append({'values': [v if math.isfinite(v) else str(v) for v in x]})
    except RuntimeError:
        out.append({'raises': True})
print(json.dumps(out))`);
  const theirs = ref.map((r) => ('values' in r ? { values: r.values.map(jsVal) } : r));
  CONVERSIONS.forEach(([vals, dtype, , stricter], k) => {
    // PyTorch 1.13 turns 2^63 into int64's minimum; we raise
    if (stricter) assert.ok('values' in theirs[k], `PyTorch now raises for ${JSON.stringify(vals)} as ${dtype}: drop 'stricter'`);
    else assert.deepEqual(ours[k], theirs[k], `${JSON.stringify(vals)} as ${dtype}`);
  });
});

test('tensor(): where PyTorch wraps or cannot tell, we raise (documented)', () => {
  // JS cannot tell 1e20 from an integer: inferred int64 raises and says how to get floats
  assert.throws(() => tensor([1, 1e20]), (e: Error) => e instanceof RangeError && /value 100000000000000000000 at index \[1\] cannot be converted to int64/.test(e.message)
    && /pass \{ dtype: 'float32' \}/.test(e.message));
  assert.deepEqual(scope(() => tensor([1, 1e20], { dtype: 'float64' }).dataSync()), [1, 1e20]);
  // int64 from doubles is exact (no float32 on the way), truncating toward zero
  assert.deepEqual(scope(() => tensor([2 ** 62 + 2048, -(2 ** 63), -2.7, 2.7], { dtype: 'int64' }).toTypedArray()),
    new BigInt64Array([2n ** 62n + 2048n, -(2n ** 63n), -2n, 2n]));
  assert.deepEqual(scope(() => tensor([2 ** 62 + 2048, -3]).toTypedArray()), new BigInt64Array([2n ** 62n + 2048n, -3n]));
  // NaN to int64 is a clear RangeError, not BigInt's "cannot be converted to a BigInt"
  assert.throws(() => tensor([NaN], { dtype: 'int64' }), /value NaN at index \[0\] cannot be converted to int64 without overflow/);
  assert.throws(() => tensor(new Float64Array([1, NaN]), { dtype: 'int64' }), /value NaN at index \[1\] cannot be converted to int64/);
});

test('tensor(): the index of a bad value is its position in the nested array or the given shape', () => {
  assert.throws(() => tensor([[1, 2], [3, 300]], { dtype: 'uint8' }), /value 300 at index \[1, 1\]/);
  assert.throws(() => tensor([[[0], [Infinity]]], { dtype: 'int32' }), /value Infinity at index \[0, 1, 0\]/);
  assert.throws(() => tensor(new Float32Array([0, 0, 0, 1e10]), { dtype: 'int32', shape: [2, 2] }), /value 10000000000 at index \[1, 1\] cannot be converted to int32/);
});

test('tensor(): TypedArrays are checked only when converted to a narrower integer dtype', () => {
  assert.throws(() => tensor(new Float32Array([1, 300]), { dtype: 'uint8' }), /value 300 at index \[1\]/);
  assert.throws(() => tensor(new Int32Array([-1]), { dtype: 'uint8' }), /value -1 at index \[0\]/);
  assert.throws(() => tensor(new Uint8Array([200]), { dtype: 'int8' }), /value 200 at index \[0\] cannot be converted to int8/);
  assert.throws(() => tensor(new BigInt64Array([2n ** 40n]), { dtype: 'int32' }), /value 1099511627776n at index \[0\] cannot be converted to int32/);
  assert.deepEqual(scope(() => tensor(new Float32Array([1.9, 0.5, 255]), { dtype: 'uint8' }).dataSync()), [1, 0, 255]);
  assert.deepEqual(scope(() => tensor(new Int8Array([-128, 127]), { dtype: 'int64' }).dataSync()), [-128, 127]);
  assert.deepEqual(scope(() => tensor(new Float64Array([1e300]), { dtype: 'float32' }).dataSync()), [Infinity]);
});

// ------------------------------------------------------------------ ragged nested arrays
test('tensor(): ragged nested arrays raise naming the dim and index, in PyTorch\'s words', (t) => {
  const cases: [unknown, RegExp][] = [
    [[1, [2]], /ragged nested array: expected a number at index \[1\] \(dim 1\), got a sequence of length 1/],
    [[[1], [2, 3]], /expected sequence of length 1 at dim 1 \(got 2\) at index \[1\]/],
    [[[[1, 2], [3, 4]], [[1, 2], [3]]], /expected sequence of length 2 at dim 2 \(got 1\) at index \[1, 1\]/],
    [[[1, 2], 3], /expected sequence of length 2 at dim 1 \(got 3\) at index \[1\]/],
    [[[], [1]], /expected sequence of length 0 at dim 1 \(got 1\) at index \[1\]/],
    [[1, 'a'], /expected numbers or booleans, got 'a' at index \[1\]/],
    [[[1, null]], /expected numbers or booleans, got null at index \[0, 1\]/],
  ];
  for (const [data, re] of cases) assert.throws(() => tensor(data as never), (e: Error) => e instanceof TypeError && re.test(e.message), JSON.stringify(data));
  const loop: unknown[] = [];
  loop.push(loop);
  assert.throws(() => tensor(loop as never), /nested arrays deeper than 64 levels/);
  assert.deepEqual(scope(() => tensor([[], []]).shape), [2, 0]);
  if (!hasTorch()) return t.diagnostic('python3 with torch is not installed: PyTorch\'s messages not compared');
  // PyTorch's own message for the same data is part of ours
  const msgs = python<string[]>(`
import json, torch
out = []
for d in ([[1], [2, 3]], [[[1, 2], [3, 4]], [[1, 2], [3]]]):
    try:
        torch.tensor(d); out.append('')
    except ValueError as e:
        out.append(str(e))
print(json.dumps(out))`);
  assert.throws(() => tensor([[1], [2, 3]]), (e: Error) => e.message.includes(msgs[0]) && msgs[0] !== '');
  assert.throws(() => tensor([[[1, 2], [3, 4]], [[1, 2], [3]]]), (e: Error) => e.message.includes(msgs[1]) && msgs[1] !== '');
});

test('tensor(): options are checked before anything is allocated', () => {
  assert.throws(() => tensor([1], { dtyp: 'int32' } as never), /tensor\(\): unknown option 'dtyp'; did you mean 'dtype'\?/);
  assert.throws(() => tensor([1, 2, 3], { shape: [2, 2] }), /shape \[2, 2\] holds 4 elements but the data has 3/);
  assert.throws(() => tensor([1, 2], { dtype: 'int64', requiresGrad: true }), /only floating-point and complex tensors can require gradients, got dtype int64/);
  assert.throws(() => tensor(new Uint16Array([1]) as never), /unsupported TypedArray Uint16Array/);
});

// ------------------------------------------------------------------ .grad assignment
test('.grad = ...: its own tensor, another size, dtype or a non-tensor are refused, as in PyTorch', () => {
  scope(() => {
    const w = tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
    assert.throws(() => { w.grad = w; }, /can't assign a tensor as its own grad/);
    assert.throws(() => { w.grad = w.detach(); }, /can't assign a tensor as its own grad/); // shares w's memory
    assert.throws(() => { w.grad = torch.zeros([4]); }, /grad: the assigned grad has shape \[4\], expected \[3\] \(the tensor's shape\)/);
    assert.throws(() => { w.grad = torch.zeros([3], { dtype: 'float64' }); }, /assigned grad has data of a different type: float64 for a float32 tensor/);
    assert.throws(() => { w.grad = [1, 2, 3] as never; }, /grad: expected a Tensor or null, got \[1, 2, 3\]/);
    assert.equal(w.grad, null);
    // the refused assignments changed nothing: backward accumulates into a fresh grad, not into w
    w.mul(2).sum().backward();
    assert.deepEqual(w.tolist(), [1, 2, 3]);
    assert.deepEqual(w.grad!.tolist(), [2, 2, 2]);
    // a proper assignment is accumulated into
    w.grad = tensor([10, 20, 30], { dtype: 'float32' });
    w.mul(2).sum().backward();
    assert.deepEqual(w.grad!.tolist(), [12, 22, 32]);
    assert.deepEqual(w.tolist(), [1, 2, 3]);
    w.grad = null;
    assert.equal(w.grad, null);
  });
});

test('backward() and grad(): options checked; backward({ retainGraph }) as PyTorch\'s keyword form', () => {
  scope(() => {
    const w = tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    const y = w.mul(w).sum();
    y.backward({ retainGraph: true });
    y.backward(null, { retainGraph: true }); // the graph was kept
    assert.deepEqual(w.grad!.tolist(), [4, 8]);
    assert.throws(() => y.backward({ retain_graph: true } as never), /backward\(\): unknown option 'retain_graph'; did you mean 'retainGraph'\?/);
    assert.throws(() => y.backward(1 as never), /backward\(\): gradient must be a Tensor or null, got 1/);
    assert.throws(() => w.requiresGrad_('yes' as never), /requiresGrad_\(\): expected a boolean, got 'yes'/);
    assert.throws(() => y.backward(null, { inputs: w } as never), /option inputs must be a list of Tensors/);
    assert.throws(() => F.mseLoss(w, w).backward(null, { createGraph: 'yes' } as never), /option createGraph must be a boolean, got 'yes'/);
    assert.throws(() => grad(y, [w, 3 as never]), /grad\(\): inputs\[1\] must be a Tensor, got 3/);
    assert.throws(() => grad(y, w, { allow_unused: true } as never), /grad\(\): unknown option 'allow_unused'; did you mean 'allowUnused'\?/);
  });
});

// ------------------------------------------------------------------ F.* options
test('F.dropout takes p positionally as PyTorch does, and checks its range', () => {
  scope(() => {
    const x = torch.ones([1000]);
    assert.equal(F.dropout(x, 0).sum().item(), 1000); // was: a 50% dropout
    assert.equal(F.dropout(x, 1).sum().item(), 0);
    assert.equal(F.dropout(x, 0.9, false).sum().item(), 1000);
    // p = 0.25: kept elements are scaled by 1/(1-p); the count of zeros is binomial(1000, 0.25), within 6 sd
    const y = F.dropout(x, 0.25, true).dataSync();
    const zeros = y.filter((v) => v === 0).length;
    assert.ok(Math.abs(zeros - 250) < 6 * Math.sqrt(1000 * 0.25 * 0.75), `zeros ${zeros}`);
    assert.ok(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
    assert.equal(F.dropout(x, { p: 0, generator: new Generator(1) }).sum().item(), 1000);
    assert.throws(() => F.dropout(x, 2), /F\.dropout: p \(the probability of an element to be zeroed\) must be in \[0, 1\], got 2/);
    assert.throws(() => F.dropout(x, -0.1), /must be in \[0, 1\], got -0.1/);
    assert.throws(() => F.dropout(x, NaN), /must be in \[0, 1\], got NaN/);
    assert.throws(() => F.dropout(x, { P: 0.1 } as never), /F\.dropout: unknown option 'P'; did you mean 'p'\?/);
    assert.throws(() => F.dropout(x, { p: '0.1' } as never), /F\.dropout: option p must be a number, got '0.1'/);
    assert.throws(() => F.dropout(x, 0.1, 'yes' as never), /training must be a boolean/);
  });
});

test('F.* options: unknown keys get a suggestion, kinds and ranges are checked, positional tensors refused clearly', () => {
  scope(() => {
    const logits = torch.randn([4, 3], { generator: new Generator(0) });
    const target = tensor([0, 1, 2, 1]);
    assert.throws(() => F.crossEntropy(logits, target, { labelSmoothin: 0.1 } as never), /F\.crossEntropy: unknown option 'labelSmoothin'; did you mean 'labelSmoothing'\?/);
    assert.throws(() => F.crossEntropy(logits, target, { labelSmoothing: 1.5 }), /F\.crossEntropy: labelSmoothing must be in \[0, 1\], got 1.5/);
    assert.throws(() => F.crossEntropy(logits, target, { reduction: 'avg' as never }), /option reduction must be one of 'none', 'mean', 'sum', got 'avg'/);
    assert.throws(() => F.crossEntropy(logits, target, { ignoreIndex: 0.5 }), /option ignoreIndex must be an integer, got 0.5/);
    assert.throws(() => F.mseLoss(logits, logits, { reduce: 'sum' } as never), /F\.mseLoss: unknown option 'reduce'; did you mean 'reduction'\?/);
    const x = torch.randn([1, 2, 5, 5], { generator: new Generator(1) });
    const w = torch.randn([3, 2, 3, 3], { generator: new Generator(2) });
    // PyTorch's positional bias would have been ignored silently
    assert.throws(() => F.conv2d(x, w, torch.zeros([3]) as never), /F\.conv2d: expected an options object \{ bias, stride, padding, dilation, groups \}, got a float32 Tensor of shape \[3\] \(PyTorch's keyword arguments/);
    assert.throws(() => F.conv2d(x, w, { padding: 'full' as never }), /option padding must be an integer, a list of integers, 'same' or 'valid', got 'full'/);
    assert.throws(() => F.maxPool2d(x, 2, 2 as never), /F\.maxPool2d: expected an options object \{ stride, padding, dilation, ceilMode \}, got 2/);
    assert.throws(() => F.maxPool2d(x, 2, { returnIndices: true } as never), /unknown option 'returnIndices'/);
    assert.throws(() => F.interpolate(x, { scale_factor: 2 } as never), /F\.interpolate: unknown option 'scale_factor'; did you mean 'scaleFactor'\?/);
    assert.throws(() => F.interpolate(x, { scaleFactor: 0 }), /scaleFactor must be positive and finite, got 0/);
    assert.throws(() => F.interpolate(x, { size: 4, mode: 'bilinar' as never }), /option mode must be one of 'nearest', 'linear', 'bilinear'/);
    assert.throws(() => F.pad(x, [1, 1], { mode: 'reflect', value: 1 }), /F\.pad: value only applies to mode 'constant'/);
    assert.throws(() => F.layerNorm(x, [5], { epsilon: 1e-5 } as never), /F\.layerNorm: unknown option 'epsilon'; expected one of weight, bias, eps/);
    assert.throws(() => F.batchNorm(x, null, null, { training: 1 } as never), /option training must be a boolean, got 1/);
    assert.throws(() => F.gelu(x, { approximate: 'erf' } as never), /option approximate must be one of 'none', 'tanh', got 'erf'/);
    assert.throws(() => F.softmax(x, undefined as never), /F\.softmax: dim must be an integer, got undefined/);
    assert.throws(() => F.groupNorm(x, 1.5), /F\.groupNorm: numGroups must be an integer, got 1.5/);
  });
});

test('F.*: PyTorch\'s positional scalars give the same values as the options form', () => {
  scope(() => {
    const x = torch.randn([50], { generator: new Generator(3) }).mul(4);
    const same = (a: Tensor, b: Tensor) => assert.deepEqual(a.dataSync(), b.dataSync());
    same(F.leakyRelu(x, 0.2), F.leakyRelu(x, { negativeSlope: 0.2 }));
    same(F.elu(x, 0.5), F.elu(x, { alpha: 0.5 }));
    same(F.gelu(x, 'tanh'), F.gelu(x, { approximate: 'tanh' }));
    same(F.softplus(x, 2, 5), F.softplus(x, { beta: 2, threshold: 5 }));
    // closed forms: leaky slope and softplus beyond the threshold
    assert.deepEqual(F.leakyRelu(tensor([-2, 3], { dtype: 'float32' }), 0.25).dataSync(), [-0.5, 3]);
    assert.deepEqual(F.softplus(tensor([10], { dtype: 'float32' }), 2, 5).dataSync(), [10]);
  });
});

test('F.embedding: paddingIdx positionally or as an option; negative counts from the end as in PyTorch', () => {
  scope(() => {
    const w = torch.randn([4, 2], { generator: new Generator(4), requiresGrad: true });
    const ix = tensor([0, 3, 3, 1]);
    for (const pad of [-1, 3, { paddingIdx: -1 }, { paddingIdx: 3 }] as const) {
      w.grad = null;
      F.embedding(ix, w, pad as never).sum().backward();
      assert.deepEqual(w.grad!.tolist(), [[1, 1], [1, 1], [0, 0], [0, 0]], JSON.stringify(pad));
    }
    w.grad = null;
    F.embedding(ix, w, { paddingIdx: null }).sum().backward();
    assert.deepEqual(w.grad!.tolist(), [[1, 1], [1, 1], [0, 0], [2, 2]]);
    assert.throws(() => F.embedding(ix, w, 4), /F\.embedding: paddingIdx must be an integer in \[-4, 3\] \(the weight has 4 rows\), got 4/);
    assert.throws(() => F.embedding(ix, w, { padding_idx: 0 } as never), /unknown option 'padding_idx'; did you mean 'paddingIdx'\?/);
  });
});

// ------------------------------------------------------------------ fractional max pooling
test('fractionalMaxPool2d/3d: randomSamples must be [N, C, d] with values in [0, 1]; values match PyTorch', (t) => {
  scope(() => {
    const x = torch.arange(2 * 3 * 8 * 8, { dtype: 'float32' }).reshape([2, 3, 8, 8]).sin();
    assert.throws(() => torch.fractionalMaxPool2d(torch.randn([1, 1, 8, 8]), 2, 4, torch.randn([1])),
      /fractional_max_pool2d: random_samples must have sizes \[N, C, 2\] = \[1, 1, 2\], got \[1\]/);
    assert.throws(() => torch.fractionalMaxPool2d(x, 2, 4, torch.rand([2, 2, 2])), /random_samples must have sizes \[N, C, 2\] = \[2, 3, 2\], got \[2, 2, 2\]/);
    assert.throws(() => torch.fractionalMaxPool2d(x.i(0), 2, 4, torch.rand([3, 2])), /random_samples must have sizes \[N, C, 2\] = \[1, 3, 2\], got \[3, 2\]/);
    assert.throws(() => torch.fractionalMaxPool2d(x, 2, 4, torch.full([2, 3, 2], 5.5)), /random_samples must be in \[0, 1\], got values in \[5.5, 5.5\]/);
    assert.throws(() => torch.fractionalMaxPool2d(x, 2, 4, torch.full([2, 3, 2], NaN)), /random_samples must be in \[0, 1\]/);
    assert.throws(() => torch.fractionalMaxPool3d(torch.randn([1, 1, 8, 8, 8]), 2, 4, torch.randn([1])),
      /fractional_max_pool3d: random_samples must have sizes \[N, C, 3\] = \[1, 1, 3\], got \[1\]/);
    assert.throws(() => torch.fractionalMaxPool2dBackward(torch.randn([1, 1, 4, 4]), torch.randn([1, 1, 8, 8]), 2, 4, torch.zeros([1], { dtype: 'int64' })),
      /fractional_max_pool2d_backward: grad_output has sizes \[1, 1, 4, 4\] but indices \[1\]/);
    assert.throws(() => torch.fractionalMaxPool3dBackward(torch.randn([1, 1, 4, 4, 4]), torch.randn([1, 1, 8, 8, 8]), 2, 4, torch.zeros([1], { dtype: 'int64' })),
      /fractional_max_pool3d_backward: grad_output has sizes \[1, 1, 4, 4, 4\] but indices \[1\]/);
    // valid samples (an expanded [1, 1, 2] included) run
    const samples = tensor([[[0.1, 0.7], [0.5, 0.0], [0.99, 0.3]], [[0.2, 0.2], [0.6, 0.9], [0.0, 1.0]]]);
    const [y, idx] = torch.fractionalMaxPool2d(x, 2, 4, samples);
    assert.deepEqual(torch.fractionalMaxPool2d(x, 2, 4, tensor([[[0.3, 0.6]]]).expand([2, 3, 2]))[0].shape, [2, 3, 4, 4]);
    if (!hasTorch()) return t.diagnostic('python3 with torch is not installed: values not compared');
    const ref = python<{ y: number[]; idx: number[] }>(`
import json, torch
x = torch.tensor(${JSON.stringify(x.tolist())}, dtype=torch.float32)  # the same input (another libtorch's sin may differ by an ulp)
s = torch.tensor(${JSON.stringify(samples.tolist())})
y, i = torch.nn.functional.fractional_max_pool2d(x, 2, output_size=4, _random_samples=s, return_indices=True)
print(json.dumps({'y': y.flatten().tolist(), 'idx': i.flatten().tolist()}))`);
    assert.deepEqual(idx.dataSync(), ref.idx);
    assert.deepEqual(y.dataSync(), ref.y); // max pooling selects, so the values are exact
  });
});

test('multiMarginLoss: a weight must hold one value per class (libtorch 1.13 reads past a shorter one)', () => {
  scope(() => {
    const x = tensor([[0.1, 0.7, -0.3], [1.2, -0.4, 0.5]]);
    const target = tensor([1, 2]);
    assert.throws(() => torch.multiMarginLoss(x, target, 1, 1, torch.zeros([1])), /multi_margin_loss: weight must hold one value per class \(3\), got sizes \[1\]/);
    assert.throws(() => torch.multiMarginLoss(x, target, 1, 1, torch.ones([100])), /weight must hold one value per class \(3\), got sizes \[100\]/);
    assert.throws(() => torch.multiMarginLossBackward(torch.ones([]), x, target, 1, 1, torch.zeros([1])), /multi_margin_loss_backward: weight must hold one value per class/);
    const w = tensor([0.5, 2, 1]);
    // closed form: mean over samples of sum_{j != y} w[y] max(0, 1 - x[y] + x[j]) / C
    const expected = ((2 * (Math.max(0, 1 - 0.7 + 0.1) + Math.max(0, 1 - 0.7 - 0.3))) + (1 * (Math.max(0, 1 - 0.5 + 1.2) + Math.max(0, 1 - 0.5 - 0.4)))) / 3 / 2;
    const got = torch.multiMarginLoss(x, target, 1, 1, w).item();
    assert.ok(Math.abs(got - expected) <= 1e-6 * Math.abs(expected), `${got} vs ${expected}`);
  });
});

// ------------------------------------------------------------------ dtype and device names
test("a device this libtorch lacks ('cuda' on a CPU-only build): one line, not libtorch's forty-line dispatch-key list", (t) => {
  if (cudaIsAvailable()) return t.skip('this libtorch has CUDA');
  for (const [make, fn] of [[() => torch.zeros([2], { device: 'cuda' }), 'zeros'], [() => torch.randn([2], { device: 'cuda:1' }), 'randn']] as [() => unknown, string][]) {
    assert.throws(make, (err: Error) => {
      assert.equal(err.message.split('\n').length, 1, err.message.slice(0, 300));
      assert.match(err.message, new RegExp(`^${fn}\\(.*\\): Could not run '.*' with arguments from the 'CUDA' backend: this libtorch build has no kernels for that backend \\(a CPU-only build: use device 'cpu'\\)$`));
      return true;
    });
  }
  assert.throws(() => torch.ones([2]).to('cuda'), /^Error: to\.dtype_layout\(.*\): PyTorch is not linked with support for cuda devices$/);
});

test('dtype and device names: unknown ones are named with the accepted list, wherever they are parsed', () => {
  scope(() => {
    const dtypeErr = (fn: string) => new RegExp(`${fn}: unknown dtype 'float128'.*expected one of uint8, int8, int16, int32, int64, float16, float32, float64, complex64, complex128, bool, bfloat16$`);
    const deviceErr = (fn: string) => new RegExp(`${fn}: unknown device 'gpu'; expected 'cpu', 'cuda' or 'cuda:N'`);
    const x = torch.zeros([2]);
    assert.throws(() => torch.zeros([2], { dtype: 'float128' as never }), dtypeErr('zeros\\(\\)'));
    assert.throws(() => torch.zeros([2], { device: 'gpu' }), deviceErr('zeros\\(\\)'));
    assert.throws(() => torch.randn([2], { dtyp: 'float32' } as never), /randn\(\): unknown option 'dtyp'; did you mean 'dtype'\?/);
    assert.throws(() => x.sum({ dtype: 'float128' as never }), dtypeErr('sum\\(\\)'));
    assert.throws(() => tensor([1], { dtype: 'float128' as never }), dtypeErr('tensor\\(\\)'));
    assert.throws(() => tensor([1], { device: 'gpu' }), deviceErr('tensor\\(\\)'));
    assert.throws(() => x.to({ dtype: 'float128' as never }), dtypeErr('to\\(\\)'));
    assert.throws(() => x.to({ device: 'gpu' }), deviceErr('to\\(\\)'));
    assert.throws(() => x.to('gpu'), /to\(\): unknown dtype or device 'gpu'; expected a dtype \(uint8, .*\) or a device \('cpu', 'cuda' or 'cuda:N'\)$/);
    assert.throws(() => fromBytes(new Uint8Array(4), [1], 'float128' as never), dtypeErr('fromBytes\\(\\)'));
    // names inherited from Object.prototype are not dtypes
    assert.throws(() => tensor([1], { dtype: 'toString' as never }), /tensor\(\): unknown dtype 'toString'/);
    assert.throws(() => x.to('constructor'), /to\(\): unknown dtype or device 'constructor'/);
    assert.throws(() => x.contiguous({ memoryFormat: 'channelLast' as never }), /contiguous\(\): unknown memoryFormat 'channelLast'; expected one of contiguous, preserve, channelsLast, channelsLast3d/);
    // integers beyond int64 are named, not "argument 0: expected an integer"
    assert.throws(() => torch.randint(1e20, [2]), /randint\(\): 100000000000000000000 is outside the int64 range \[-9223372036854775808, 9223372036854775807\]/);
    assert.throws(() => x.view([2n ** 70n] as never), /view\(\): 1180591620717411303424n is outside the int64 range/);
    assert.throws(() => x.add(2n ** 64n as never), /add\(\): 18446744073709551616n is outside the int64 range/);
    assert.deepEqual(torch.full([1], 2 ** 62, { dtype: 'int64' }).toTypedArray(), new BigInt64Array([2n ** 62n]));
    assert.deepEqual(torch.randint(2n ** 60n as never, (2n ** 60n + 1n) as never, [1]).toTypedArray(), new BigInt64Array([2n ** 60n])); // past 2^53: bigints
    // the names that exist keep working
    assert.equal(torch.zeros([2], { dtype: 'bfloat16', device: 'cpu' }).dtype, 'bfloat16');
    assert.equal(x.to('float64').dtype, 'float64');
    assert.equal(x.to('cpu').device, 'cpu');
  });
});

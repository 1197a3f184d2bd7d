// The meta-optimizer's choices and memory: candidates that throw, are wrong, inapplicable or
// excluded are never chosen; forcing and registering work; decisions survive in the cache file,
// are invalidated by a changed key, and a corrupt or foreign file is a warning, not a failure.
// No timing is asserted: where a test needs a winner, the options leave one possible candidate.
import { test, afterEach } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, functions as torch, getNumThreads, scope, setNumThreads } from '../../src/tensor';
import * as nn from '../../src/nn';
import {
  ConvMetaOptimizer, ConvProblem, atenConv, convProblem, decisionKey, defaultCachePath, disableConvMetaOptimizer,
  enableConvMetaOptimizer, registerConvImplementation, tune, unregisterConvImplementation,
} from '../../src/conv';
import { libtorch } from '../../src/conv/candidates/libtorch';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-conv-'));
const QUICK = { warmup: 0, repeats: 1 } as const;
afterEach(() => {
  disableConvMetaOptimizer();
  for (const n of ['zeros', 'thrower', 'never', 'spy', 'outside']) unregisterConvImplementation(n);
});

function problem(g: Generator, dtype: 'float32' | 'float64' = 'float64'): { x: Tensor; w: Tensor; p: ConvProblem } {
  const x = torch.randn([2, 3, 8, 7], { generator: g, dtype });
  const w = torch.randn([4, 3, 3, 3], { generator: g, dtype });
  const p = convProblem(x, w, { dims: 2, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, transposed: false, outputPadding: [0, 0] })!;
  return { x, w, p };
}

test('a candidate that throws or computes a wrong result is skipped and reported, never chosen', () => scope(() => {
  registerConvImplementation('zeros', (x, w, p) => torch.zeros(p.outputShape, { dtype: x.dtype }));
  registerConvImplementation('thrower', { forward: () => { throw new Error('boom'); }, gradWeight: () => { throw new Error('bang'); } });
  const warnings: string[] = [];
  const m = new ConvMetaOptimizer({ ...QUICK, cache: null, include: ['zeros', 'thrower'], warn: (s) => warnings.push(s) });
  const { x, w, p } = problem(new Generator(1));
  const gy = torch.randn(p.outputShape, { dtype: 'float64' });
  assert.equal(m.choose('forward', p, { x, w }), libtorch);
  assert.equal(m.choose('gradWeight', p, { x, w, gy }), libtorch);
  const [fwd, gw] = m.decisions;
  assert.match(fwd.skipped.zeros, /^wrong: relative error 1\.00e\+0 > /);
  assert.match(fwd.skipped.thrower, /^threw: boom/);
  assert.match(gw.skipped.thrower, /^threw: bang/);
  assert.match(gw.skipped.zeros, /not applicable: provides no gradWeight/);
  assert.equal(fwd.winner, 'libtorch');
  assert.ok(fwd.defaultMs > 0 && fwd.speedup === 1);
}));

test('excluded and inapplicable candidates are never chosen; include narrows the field', () => scope(() => {
  registerConvImplementation('never', { forward: (x, w, p) => libtorch.forward!(x, w, p) }, () => 'never applies, by design');
  const m = new ConvMetaOptimizer({ ...QUICK, cache: null, include: ['never', 'swap', 'im2col'], exclude: ['swap'] });
  const { x, w, p } = problem(new Generator(2));
  const c = m.choose('forward', p, { x, w });
  assert.ok(c.name === 'im2col' || c.name === 'libtorch', `chose ${c.name}`);
  const d = m.decisions[0];
  assert.equal(d.skipped.never, 'not applicable: never applies, by design');
  assert.equal(d.skipped.swap, 'excluded by the options');
  assert.equal(d.skipped['winograd-f4'], 'excluded by the options');
  assert.match(d.skipped['cudnn-benchmark'], /excluded/);
  assert.deepEqual(Object.keys(d.times).sort(), ['im2col', 'libtorch']);
  // libtorch excluded: timed as the baseline, but the winner is the one remaining candidate
  const m2 = new ConvMetaOptimizer({ ...QUICK, cache: null, include: ['swap'] });
  assert.equal(m2.choose('forward', p, { x, w }).name, 'swap');
  assert.ok(m2.decisions[0].times.libtorch > 0);
  // CUDA candidates say why they do not apply on a CPU
  const m3 = new ConvMetaOptimizer({ ...QUICK, cache: null, include: ['libtorch'] });
  m3.choose('forward', p, { x, w });
  const m4 = new ConvMetaOptimizer({ ...QUICK, cache: null, exclude: ['im2col', 'swap', 'channels-last', 'winograd-f2', 'winograd-f4'] });
  m4.choose('forward', p, { x, w });
  assert.equal(m4.decisions[0].skipped['cudnn-benchmark'], 'not applicable: needs a CUDA device (the tensors are on cpu)');
}));

test('force picks a candidate wherever it applies, and falls back with one warning where it does not', () => scope(() => {
  let calls = 0;
  registerConvImplementation('spy', { forward: (x, w, p) => { calls++; return libtorch.forward!(x, w, p); } });
  const warnings: string[] = [];
  const m = enableConvMetaOptimizer({ ...QUICK, cache: null, force: { forward: 'spy', gradWeight: 'spy' }, tune: false, warn: (s) => warnings.push(s) });
  const layer = new nn.Conv2d(3, 4, 3, { padding: 1, generator: new Generator(3), dtype: 'float64' } as never);
  const x = torch.randn([2, 3, 8, 7], { dtype: 'float64' });
  const y = layer(x);
  y.sum().backward();
  layer(x).sum().backward();
  assert.equal(calls, 2);
  assert.equal(m.decisions.length, 0, 'nothing timed');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /forced candidate 'spy' does not apply to the gradWeight of x 2x3x8x7 \* w 4x3x3x3 .*provides no gradWeight/);
  assert.throws(() => new ConvMetaOptimizer({ force: 'nope' }), /option force\.forward names unknown candidate 'nope'; candidates: libtorch, channels-last/);
  assert.throws(() => new ConvMetaOptimizer({ exclude: ['fft', 'fftw'] }), /option exclude names unknown candidate 'fftw'/);
  assert.throws(() => new ConvMetaOptimizer({ threads: [0] }), /option threads must be a non-empty list of positive integers, got \[0\]/);
  assert.throws(() => new ConvMetaOptimizer({ repeat: 3 } as never), /unknown option 'repeat'/);
  assert.throws(() => registerConvImplementation('libtorch', () => x), /'libtorch' is a built-in candidate/);
  assert.throws(() => registerConvImplementation('x y', () => x), /name must be a word/);
}));

test('layers through the meta-optimizer compute what libtorch computes: values and all gradients, regular and transposed', () => {
  const g = new Generator(4);
  const layers = [
    new nn.Conv2d(3, 4, 3, { padding: 1, stride: 2, generator: g }),
    new nn.Conv2d(4, 4, 3, { padding: 'same', dilation: 2, groups: 2, generator: g }),
    new nn.ConvTranspose2d(4, 3, 3, { stride: 2, padding: 1, outputPadding: 1, generator: g }),
    new nn.Conv2d(3, 2, 1, { generator: g }),
    new nn.Conv1d(2, 2, 3, { padding: 'causal', generator: g }),
  ];
  const run = (x0: Tensor) => scope(() => {
    const x = x0.clone().requiresGrad_();
    let h = x;
    for (const l of layers.slice(0, 4)) h = l(h);
    const y = layers[4](h.mean(3));
    y.square().sum().backward();
    const grads = [x.grad!, ...layers.flatMap((l) => [l.W as Tensor, l.b as Tensor]).map((t) => t.grad!)].map((t) => t.clone().keep());
    for (const l of layers) for (const t of [l.W as Tensor, l.b as Tensor]) t.grad = null;
    return { y: y.keep(), grads };
  });
  const x0 = torch.randn([2, 3, 9, 10], { generator: g });
  const ref = run(x0);
  // every candidate allowed, forced to run its own code: swap everywhere it applies, else the tuned choice
  for (const opts of [{ force: 'swap' }, { include: ['im2col'] }, { include: ['channels-last', 'matmul-1x1'] }]) {
    enableConvMetaOptimizer({ ...QUICK, cache: null, ...opts, warn: () => undefined });
    const got = run(x0);
    disableConvMetaOptimizer();
    // float32, K <= 36 products per sum; bound |err| by 64 u sqrt(K) relative
    const tol = 64 * 2 ** -24 * 6 * 4;
    const rel = (a: Tensor, b: Tensor) => a.sub(b).norm().item() / b.norm().item();
    assert.ok(rel(got.y, ref.y) < tol, `${JSON.stringify(opts)}: output`);
    got.grads.forEach((gr, i) => assert.ok(rel(gr, ref.grads[i]) < tol, `${JSON.stringify(opts)}: gradient ${i} off by ${rel(gr, ref.grads[i])}`));
  }
});

test('decisions round-trip through the cache file; a changed key re-tunes; corrupt and foreign files are warnings', () => scope(() => {
  const file = path.join(tmp, 'sub', 'conv-cache.json');
  const warnings: string[] = [];
  const warn = (s: string) => warnings.push(s);
  const { x, w, p } = problem(new Generator(5), 'float32');
  const lines: string[] = [];
  const m1 = new ConvMetaOptimizer({ ...QUICK, cache: file, include: ['swap', 'im2col'], warn, verbose: (l) => lines.push(l) });
  const c1 = m1.choose('forward', p, { x, w });
  assert.ok(lines[0].startsWith('ConvMetaOptimizer meta-optimizing forward: x 2x3x8x7 * w 4x3x3x3 -> 2x4x8x7, pad 1,1 (float32, cpu,'));
  assert.ok(lines.some((l) => /^\* swap: \d+\.\d{3} ms$/.test(l)));
  assert.ok(lines.some((l) => /^\* fft: excluded$/.test(l)));
  assert.match(lines[lines.length - 1], /^= (swap|im2col|libtorch) \(\d+\.\d\dx libtorch's time\)$/);
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(saved.format, 'refinery-conv-cache');
  const key = decisionKey('forward', p, 'contiguous', getNumThreads());
  assert.equal(saved.entries[key].winner, c1.name);
  assert.match(key, /^forward\|regular\|x=2x3x8x7\|w=4x3x3x3\|stride=1,1\|pad=1,1\|dil=1,1\|outpad=0,0\|groups=1\|float32\|cpu\|contiguous\|threads=\d+\|libtorch=\d+\.\d+[^|]*\|cpu=/);
  // a fresh optimizer (a new process) answers from the file without timing
  lines.length = 0;
  const m2 = new ConvMetaOptimizer({ ...QUICK, cache: file, include: ['swap', 'im2col'], warn, verbose: (l) => lines.push(l) });
  assert.equal(m2.choose('forward', p, { x, w }).name, c1.name);
  assert.equal(lines.length, 0);
  // another thread count, dtype or shape is another key: timed again
  const prev = getNumThreads();
  setNumThreads(prev === 1 ? 2 : 1);
  try {
    m2.choose('forward', p, { x, w });
  } finally {
    setNumThreads(prev);
  }
  assert.equal(lines.filter((l) => l.startsWith('ConvMetaOptimizer')).length, 1);
  const x64 = x.double();
  m2.choose('forward', { ...p, dtype: 'float64' }, { x: x64, w: w.double() });
  assert.equal(lines.filter((l) => l.startsWith('ConvMetaOptimizer')).length, 2);
  assert.equal(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).entries).length, 3);
  assert.deepEqual(warnings, []);
  // corrupt: a warning, an empty cache, then a valid file again
  fs.writeFileSync(file, '{"format": "refinery-conv-cache", "entr');
  const m3 = new ConvMetaOptimizer({ ...QUICK, cache: file, include: ['swap'], warn });
  assert.match(warnings[0], /conv cache .*conv-cache\.json is corrupt \(.*\); ignoring it, it will be rewritten/);
  m3.choose('forward', p, { x, w });
  assert.equal(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).entries).length, 1);
  // foreign JSON, another version
  fs.writeFileSync(file, '{"hello": 1}');
  new ConvMetaOptimizer({ cache: file, warn });
  assert.match(warnings[1], /is not a Refinery conv cache/);
  fs.writeFileSync(file, '{"format": "refinery-conv-cache", "version": 99, "entries": {}}');
  new ConvMetaOptimizer({ cache: file, warn });
  assert.match(warnings[2], /has version 99, this Refinery writes 1/);
  // the default location follows REFINERY_CONV_CACHE, then Refinery's cache folder (XDG_CACHE_HOME/refinery)
  const env0 = { c: process.env.REFINERY_CONV_CACHE, d: process.env.REFINERY_CACHE_DIR, x: process.env.XDG_CACHE_HOME };
  try {
    process.env.REFINERY_CONV_CACHE = '/a/b.json';
    assert.equal(defaultCachePath(), '/a/b.json');
    delete process.env.REFINERY_CONV_CACHE;
    delete process.env.REFINERY_CACHE_DIR;
    process.env.XDG_CACHE_HOME = path.join(tmp, 'xdg');
    assert.equal(defaultCachePath(), path.join(tmp, 'xdg', 'refinery', 'conv-cache.json'));
  } finally {
    for (const [k, v] of [["REFINERY_CONV_CACHE", env0.c], ["REFINERY_CACHE_DIR", env0.d], ["XDG_CACHE_HOME", env0.x]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}));

test('tune(model, sampleInputs) decides every operation the training step needs, and only those', () => {
  const g = new Generator(6);
  const model = new nn.Sequential(new nn.Conv2d(1, 4, 3, { padding: 1, generator: g }), new nn.ReLU(), new nn.Conv2d(4, 2, 1, { generator: g }));
  const decisions = tune(model, [torch.randn([2, 1, 6, 6], { generator: g })], { ...QUICK, cache: null, include: ['swap'] });
  const ops = decisions.map((d) => `${d.op} ${d.problem.split(' (')[0]}`).sort();
  // the first layer's input needs no gradient: its gradInput is never tuned
  assert.deepEqual(ops, [
    'forward x 2x1x6x6 * w 4x1x3x3 -> 2x4x6x6, pad 1,1',
    'forward x 2x4x6x6 * w 2x4x1x1 -> 2x2x6x6',
    'gradInput x 2x4x6x6 * w 2x4x1x1 -> 2x2x6x6',
    'gradWeight x 2x1x6x6 * w 4x1x3x3 -> 2x4x6x6, pad 1,1',
    'gradWeight x 2x4x6x6 * w 2x4x1x1 -> 2x2x6x6',
  ]);
  for (const t of nn.params(model)) assert.equal(t.grad, null, 'tune leaves no gradients behind');
  assert.equal(atenConv.name, 'atenConv');
});

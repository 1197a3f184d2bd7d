// Pooling as the meta-optimizer's second family: every pooling candidate computes libtorch's output
// and input gradient (exactly for max, ties broken as libtorch breaks them; to rounding for avg)
// on a grid of windows, strides, paddings and layouts, in the tensor's own layout; the problem's
// output shape is libtorch's (ceil mode included); the layers route through pool2d, the
// meta-optimizer tunes and caches a pooling decision, and a thrown or excluded candidate is never chosen.
import { test, afterEach } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, F, functions as torch, grad, isLaidOut, scope } from '../../src/tensor';
import * as nn from '../../src/nn';
import { ConvMetaOptimizer, disableConvMetaOptimizer, enableConvMetaOptimizer } from '../../src/conv';
import { POOL_CANDIDATES, PoolArgs, atenPool, poolProblem, setPoolImplementation } from '../../src/conv/pool';

afterEach(() => disableConvMetaOptimizer());

const nhwc = (t: Tensor) => t.contiguous({ memoryFormat: 'channelsLast' });

const GRID: { x: number[]; a: PoolArgs }[] = [];
for (const kind of ['max', 'avg'] as const) {
  const base = { kind, dilation: [1, 1], ceilMode: false, countIncludePad: true };
  GRID.push(
    { x: [2, 3, 8, 8], a: { ...base, kernel: [2, 2], stride: [2, 2], padding: [0, 0] } },
    { x: [2, 4, 9, 7], a: { ...base, kernel: [2, 2], stride: [2, 2], padding: [0, 0] } },
    { x: [2, 3, 9, 9], a: { ...base, kernel: [3, 3], stride: [2, 2], padding: [1, 1] } },
    { x: [1, 2, 10, 9], a: { ...base, kernel: [3, 2], stride: [2, 3], padding: [1, 0], ceilMode: true } },
    { x: [2, 3, 6, 6], a: { ...base, kernel: [3, 3], stride: [3, 3], padding: [0, 0], ceilMode: true } },
  );
}
GRID.push({ x: [2, 3, 9, 9], a: { kind: 'avg', kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false, countIncludePad: false } });
GRID.push({ x: [2, 3, 11, 11], a: { kind: 'max', kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [2, 2], ceilMode: false, countIncludePad: true } });

function fwdBwd(run: (x: Tensor) => Tensor, x: Tensor, gy: Tensor): [Tensor, Tensor] {
  const xi = x.detach().clone().requiresGrad_(true);
  const y = run(xi);
  const [g] = grad(y, [xi], { gradOutputs: [gy] });
  return [y.detach(), g!];
}

test('every applicable pooling candidate matches libtorch (output and input gradient; max exactly, with ties) in both layouts', () => scope(() => {
  const gen = new Generator(11);
  let ran = 0;
  for (const { x: shape, a } of GRID) {
    for (const layout of ['contiguous', 'channelsLast'] as const) {
      // ties: values rounded to a coarse grid, and a block of zeros (as after a ReLU)
      let x = torch.randn(shape, { generator: gen, dtype: 'float64' }).mul(2).round().relu();
      if (layout === 'channelsLast') x = nhwc(x);
      const p = poolProblem(x, a)!;
      assert.ok(p, JSON.stringify(a));
      assert.equal(p.layout, layout);
      const ref = atenPool(x, a);
      assert.deepEqual(p.outputShape, ref.shape, `output shape of ${JSON.stringify(a)} on ${shape}`);
      const gy = torch.randn(p.outputShape, { generator: gen, dtype: 'float64' });
      const [ry, rg] = fwdBwd((t) => atenPool(t, a), x, gy);
      for (const c of POOL_CANDIDATES) {
        if (c.applicable(p)) continue;
        const [y, g] = fwdBwd((t) => c.run(t, p), x, gy);
        const tol = a.kind === 'max' ? 0 : 1e-13;
        assert.ok(y.sub(ry).abs().max().item() <= tol, `${c.name} output, ${a.kind} ${JSON.stringify(a.kernel)} on ${shape} ${layout}`);
        assert.ok(g.sub(rg).abs().max().item() <= tol, `${c.name} input gradient, ${a.kind} ${JSON.stringify(a.kernel)} on ${shape} ${layout}`);
        if (layout === 'channelsLast' && shape[1] > 1) assert.ok(isLaidOut(y, 'channelsLast'), `${c.name} keeps NHWC`);
        if (layout === 'contiguous') assert.ok(isLaidOut(y, 'contiguous'), `${c.name} keeps NCHW`);
        ran++;
      }
    }
  }
  assert.ok(ran > 40, `ran ${ran}`);
}));

test('applicability: reshape only for non-overlapping unpadded windows; channels-last / nchw for one layout each', () => scope(() => {
  const x = torch.randn([2, 3, 8, 8]);
  const base: PoolArgs = { kind: 'max', kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false, countIncludePad: true };
  const why = (name: string, xx: Tensor, a: PoolArgs) => POOL_CANDIDATES.find((c) => c.name === name)!.applicable(poolProblem(xx, a)!);
  assert.equal(why('reshape', x, base), null);
  assert.match(why('reshape', x, { ...base, stride: [1, 1] }) ?? '', /stride differs/);
  assert.match(why('reshape', x, { ...base, padding: [1, 1] }) ?? '', /padded/);
  assert.match(why('channels-last', nhwc(x), base) ?? '', /channels-last already/);
  assert.match(why('nchw', x, base) ?? '', /not channels-last/);
  assert.equal(poolProblem(torch.randn([3, 8, 8]), base), null, 'unbatched: left to libtorch');
}));

test('the layers pool through pool2d; the meta-optimizer tunes, caches and replays a pooling decision, and never picks an excluded candidate', () => scope(() => {
  const seen: string[] = [];
  const prev = setPoolImplementation((x, a) => { seen.push(a.kind); return atenPool(x, a); });
  try {
    const x = torch.randn([2, 3, 8, 8], { generator: new Generator(2) });
    const m = new nn.MaxPool2d(2), v = new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false });
    assert.ok(m(x).equal(F.maxPool2d(x, 2)));
    assert.ok(v(x).equal(F.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false })));
    assert.deepEqual(seen, ['max', 'avg']);
  } finally {
    setPoolImplementation(prev);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-pool-'));
  const cache = path.join(dir, 'c.json');
  try {
    const x = torch.randn([4, 8, 12, 12], { generator: new Generator(3) }).relu();
    const lines: string[] = [];
    const meta = enableConvMetaOptimizer({ cache, warmup: 1, repeats: 2, exclude: ['reshape'], verbose: (l) => lines.push(l) });
    const y = new nn.MaxPool2d(2)(x);
    assert.ok(y.equal(F.maxPool2d(x, 2)));
    assert.equal(meta.decisions.length, 1);
    const d = meta.decisions[0];
    assert.equal(d.op, 'pool');
    assert.notEqual(d.winner, 'reshape');
    assert.match(d.skipped.reshape, /excluded/);
    assert.ok(Number.isFinite(d.times.libtorch) && Number.isFinite(d.times['channels-last']));
    assert.ok(lines.some((l) => /meta-optimizing pool: max pool x 4x8x12x12 k 2x2 -> 4x8x6x6/.test(l)));
    disableConvMetaOptimizer();
    // a second optimizer replays the decision from the file, timing nothing
    const again = new ConvMetaOptimizer({ cache, tune: false, exclude: ['reshape'] });
    setPoolImplementation(again.pool);
    new nn.MaxPool2d(2)(x);
    assert.equal(again.decisions.length, 1);
    assert.equal(again.decisions[0].winner, d.winner);
  } finally {
    setPoolImplementation(null);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

// Channels-last kept from layer to layer, and the step planner (src/conv/plan.ts): Module.to with a
// memory format keeps every tensor's identity and values; every candidate returns its result in the
// layout of the tensor it stands for, so a channels-last network stays channels-last whichever
// candidates its convolutions choose, and computes what the NCHW network computes (float64, against
// libtorch's NCHW result); the planner runs each configuration's steps, picks the fastest from the
// times it is given, re-times the thread counts when the step time drifts, and train() calls it
// around every step. No timing is asserted: the tests hand the planner its times.
import { test, afterEach } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, functions as torch, getNumThreads, isLaidOut, memoryFormatOf, scope, setNumThreads } from '../../src/tensor';
import * as nn from '../../src/nn';
import {
  BUILTIN_CANDIDATES, CONV_OPS, ConvArgs, ConvMetaOptimizer, atenConv as atenConvOf, chosenConv, convProblem, disableConvMetaOptimizer,
  enableConvMetaOptimizer, registerConvImplementation, runOp, unregisterConvImplementation, whyNot,
} from '../../src/conv';
import { libtorch } from '../../src/conv/candidates/libtorch';
import { MIN_PLANNED_STEPS, StepPlanner, jobPlanner } from '../../src/conv/plan';
import { train } from '../../src/train/loop';
import { SGD } from '../../src/optim';

const threads0 = getNumThreads();
afterEach(() => {
  disableConvMetaOptimizer();
  setNumThreads(threads0);
});

const ARGS: ConvArgs = { dims: 2, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, transposed: false, outputPadding: [0, 0] };
const nhwc = (t: Tensor) => t.contiguous({ memoryFormat: 'channelsLast' });

test('Module.to({ memoryFormat }) re-lays out every 4-d tensor in place: same objects, same values, grads too; round trip; bad value named', () => scope(() => {
  const g = new Generator(3);
  const net = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1, generator: g }), new nn.ReLU(), new nn.Conv2d(4, 2, 1, { generator: g }));
  const params = nn.params(net);
  const before = params.map((p) => p.clone());
  const w = params.find((p) => p.ndim === 4)!;
  w.grad = torch.randn(w.shape, { generator: g });
  net.to({ memoryFormat: 'channelsLast' });
  assert.deepEqual(nn.params(net), params, 'the same tensor objects');
  params.forEach((p, i) => {
    assert.ok(p.equal(before[i]), 'values unchanged');
    if (p.ndim === 4) assert.ok(isLaidOut(p, 'channelsLast'), `param ${p.shape} is NHWC`);
    else assert.ok(isLaidOut(p, 'contiguous'), 'biases untouched');
  });
  assert.ok(isLaidOut(w.grad!, 'channelsLast'), 'the gradient follows');
  net.to({ memoryFormat: 'contiguous' });
  params.forEach((p, i) => { assert.ok(isLaidOut(p, 'contiguous')); assert.ok(p.equal(before[i])); });
  assert.throws(() => net.to({ memoryFormat: 'nhwc' as 'channelsLast' }), /Module\.to: memoryFormat must be 'contiguous' or 'channelsLast', got "nhwc"/);
}));

test('memoryFormatOf / isLaidOut read the strides (size-1 channels are both layouts; contiguous wins)', () => scope(() => {
  const x = torch.randn([2, 3, 4, 5]);
  assert.equal(memoryFormatOf(x), 'contiguous');
  assert.equal(memoryFormatOf(nhwc(x)), 'channelsLast');
  assert.equal(memoryFormatOf(x.transpose(2, 3)), 'strided');
  const one = nhwc(torch.randn([2, 1, 4, 5]));
  assert.ok(isLaidOut(one, 'contiguous') && isLaidOut(one, 'channelsLast'));
  assert.equal(memoryFormatOf(one), 'contiguous');
  assert.equal(isLaidOut(torch.randn([3, 4]), 'channelsLast'), false);
}));

test('on channels-last tensors every applicable candidate returns NHWC results equal to libtorch NCHW ones; channels-last and nchw apply to one layout each', () => scope(() => {
  const g = new Generator(5);
  for (const [xs, ws, a] of [
    [[2, 3, 9, 8], [4, 3, 3, 3], ARGS],
    [[2, 4, 11, 10], [6, 2, 3, 3], { ...ARGS, stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2 }],
    [[2, 5, 7, 6], [4, 5, 1, 1], { ...ARGS, padding: [0, 0] }],
    [[2, 3, 12, 12], [4, 3, 5, 5], { ...ARGS, padding: [2, 2] }],
  ] as [number[], number[], ConvArgs][]) {
    const x = torch.randn(xs, { generator: g, dtype: 'float64' });
    const w = torch.randn(ws, { generator: g, dtype: 'float64' });
    const pc = convProblem(x, w, a)!;
    const p = convProblem(nhwc(x), nhwc(w), a)!;
    assert.equal(p.layout, 'channelsLast');
    assert.equal(pc.layout, 'contiguous');
    const gy = torch.randn(p.outputShape, { generator: g, dtype: 'float64' });
    const t = { x: nhwc(x), w: nhwc(w), gy: nhwc(gy) };
    const ref = { forward: runOp(libtorch, 'forward', pc, { x, w }), gradInput: runOp(libtorch, 'gradInput', pc, { x, w, gy }), gradWeight: runOp(libtorch, 'gradWeight', pc, { x, w, gy }) };
    let ran = 0;
    for (const c of BUILTIN_CANDIDATES) {
      if (c.name === 'channels-last') assert.match(whyNot(c, 'forward', p) ?? '', /channels-last already/);
      if (c.name === 'nchw') assert.match(whyNot(c, 'forward', pc) ?? '', /not channels-last/);
      for (const op of CONV_OPS) {
        if (whyNot(c, op, p)) continue;
        const out = runOp(c, op, p, t);
        assert.ok(isLaidOut(out, 'channelsLast') || out.shape[1] === 1, `${c.name} ${op} on ${xs} returns NHWC`);
        const r = ref[op];
        const err = out.sub(r).norm().item() / r.norm().item();
        assert.ok(err < 1e-10, `${c.name} ${op} on ${xs}: relative error ${err}`);
        ran++;
      }
    }
    assert.ok(ran >= 9, `several candidates ran (${ran})`);
  }
}));

class ThreeConvs extends nn.Module {
  layouts: string[] = [];
  c1: nn.Conv2d; c2: nn.Conv2d; c3: nn.Conv2d;
  constructor() {
    super();
    const g = new Generator(7);
    this.c1 = new nn.Conv2d(3, 5, 3, { padding: 1, generator: g });
    this.c2 = new nn.Conv2d(5, 4, 3, { padding: 1, generator: g });
    this.c3 = new nn.Conv2d(4, 2, 3, { padding: 1, generator: g });
  }
  forward(x: Tensor): Tensor {
    const seen = (t: Tensor) => { this.layouts.push(memoryFormatOf(t)); return t; };
    return seen(this.c3(seen(this.c2(seen(this.c1(x)).relu())).relu()));
  }
}

test('a channels-last network stays channels-last through the meta-optimizer (forced im2col) and computes what the NCHW one does, gradients included', () => scope(() => {
  const a = new ThreeConvs().to('float64');
  const b = new ThreeConvs().to('float64').to({ memoryFormat: 'channelsLast' });
  const x = torch.randn([2, 3, 8, 8], { generator: new Generator(8), dtype: 'float64' });
  const ya = a(x);
  ya.square().sum().backward();
  assert.deepEqual(a.layouts, ['contiguous', 'contiguous', 'contiguous']);
  const m = enableConvMetaOptimizer({ cache: null, force: 'im2col' });
  const yb = b(nhwc(x));
  yb.square().sum().backward();
  disableConvMetaOptimizer();
  assert.ok(m.decisions.length === 0, 'forced: nothing timed');
  assert.deepEqual(b.layouts, ['channelsLast', 'channelsLast', 'channelsLast'], 'every convolution output stays NHWC');
  assert.ok(yb.sub(ya).abs().max().item() < 1e-10);
  const pa = nn.params(a), pb = nn.params(b);
  pa.forEach((p, i) => {
    assert.ok(pb[i].grad!.sub(p.grad!).abs().max().item() < 1e-9, `grad ${i}`);
    if (p.ndim === 4) assert.ok(isLaidOut(pb[i].grad!, 'channelsLast'), `weight gradient ${i} is NHWC like its weight`);
  });
}));

class Counter extends nn.Module {
  w = torch.zeros([2, 3, 1, 1]);
  forward(x: Tensor): Tensor {
    return x;
  }
}

test('StepPlanner: untimed delay and warm-up steps, interleaved timed rounds, the fastest median wins and is applied', () => scope(() => {
  setNumThreads(2);
  const m = new Counter();
  const lines: string[] = [];
  const pl = new StepPlanner(m, { delay: 2, rounds: 3, log: (l) => lines.push(l) });
  assert.deepEqual(pl.configs.map((c) => `${c.layout}@${c.threads}`), ['contiguous@2', 'contiguous@1', 'channelsLast@2', 'channelsLast@1']);
  // what each configuration "costs"; the outlier in one round must not decide
  const cost: Record<string, number> = { 'contiguous@2': 50, 'contiguous@1': 80, 'channelsLast@2': 40, 'channelsLast@1': 90 };
  const seen: string[] = [];
  let i = 0;
  while (!pl.choice) {
    pl.beforeStep();
    const c = pl.config;
    const k = `${c.layout}@${c.threads}`;
    seen.push(k);
    assert.equal(getNumThreads(), c.threads);
    assert.equal(isLaidOut(m.w, c.layout === 'channelsLast' ? 'channelsLast' : 'contiguous'), true);
    pl.afterStep(i++ === 9 ? 1e6 : cost[k]);
    assert.ok(i < 100);
  }
  assert.equal(seen.length, 2 + 4 + 3 * 4, 'delay, one warm-up each, three rounds each');
  assert.deepEqual(seen.slice(6, 10), ['contiguous@2', 'contiguous@1', 'channelsLast@2', 'channelsLast@1'], 'interleaved');
  assert.deepEqual(pl.choice!.config, { layout: 'channelsLast', threads: 2 });
  assert.equal(pl.choice!.ms, 40);
  assert.equal(getNumThreads(), 2);
  assert.ok(isLaidOut(m.w, 'channelsLast'));
  assert.match(lines[0], /step plan \(start, 3 interleaved steps each\): NCHW@2 50 ms, NCHW@1 80 ms, channels-last@2 40 ms, channels-last@1 90 ms -> channels-last@2/);
}));

test('StepPlanner: a drifted step time re-times the thread counts in the chosen layout; no drift, no re-plan', () => scope(() => {
  setNumThreads(2);
  const m = new Counter();
  const pl = new StepPlanner(m, { delay: 0, rounds: 1, window: 4, layouts: ['contiguous'] });
  const run = (cost: (k: string) => number, n: number) => {
    const ks: string[] = [];
    for (let s = 0; s < n; s++) {
      pl.beforeStep();
      const c = pl.config;
      const k = `${c.layout}@${c.threads}`;
      ks.push(k);
      pl.afterStep(cost(k));
    }
    return ks;
  };
  run((k) => (k.endsWith('@2') ? 10 : 20), 4);
  assert.deepEqual(pl.choice!.config, { layout: 'contiguous', threads: 2 });
  // within 1.5x: nothing changes
  assert.deepEqual(run(() => 13, 8), Array(8).fill('contiguous@2'));
  assert.equal(pl.plans.length, 1);
  // another process took a core: 2 threads now cost 40, 1 thread 22
  const busy = (k: string) => (k.endsWith('@2') ? 40 : 22);
  run(busy, 4 + 2);
  assert.equal(pl.plans.length, 2);
  assert.match(pl.plans[1].reason, /median step took 40 ms against the plan's 10 ms/);
  assert.deepEqual(pl.choice!.config, { layout: 'contiguous', threads: 1 });
  assert.equal(getNumThreads(), 1);
}));

test('StepPlanner: within 5% of the fastest, the fewest threads win', () => scope(() => {
  // a planner over 2 and 1 threads whose 1-thread steps take `oneThreadMs` (2 threads: 100 ms)
  const planWith = (oneThreadMs: number) => {
    setNumThreads(2);
    const pl = new StepPlanner(new Counter(), { delay: 0, rounds: 1, layouts: ['contiguous'] });
    while (!pl.choice) {
      pl.beforeStep();
      pl.afterStep(pl.config.threads === 2 ? 100 : oneThreadMs);
    }
    return pl;
  };
  const pl = planWith(104);
  assert.deepEqual(pl.choice!.config, { layout: 'contiguous', threads: 1 });
  const p2 = planWith(106);
  assert.deepEqual(p2.choice!.config, { layout: 'contiguous', threads: 2 });
}));

test('StepPlanner and jobPlanner: bad options are named; no planning when off, on another device, data-parallel or for short runs', () => {
  const m = new Counter();
  assert.throws(() => new StepPlanner(m, { threads: [0] }), /option threads must be a non-empty list of integers in \[1, 1024\], got \[0\]/);
  assert.throws(() => new StepPlanner(m, { layouts: ['nhwc' as 'channelsLast'] }), /option layouts/);
  assert.throws(() => new StepPlanner(m, { drift: 1 }), /option drift must be 0 \(never re-plan\) or a number > 1, got 1/);
  assert.throws(() => new StepPlanner(m, { rounds: 0 }), /option rounds must be an integer in \[1, 100\], got 0/);
  assert.throws(() => new StepPlanner(m, { bogus: 1 } as never), /unknown option 'bogus'/);
  assert.throws(() => new StepPlanner({} as nn.Module), /model must be a Module/);
  assert.throws(() => jobPlanner(m, { mode: 'fast' as 'step', job: 'job' }), /job: autotune must be one of off, step, all, got "fast"/);
  assert.equal(jobPlanner(m, { mode: 'off', job: 'j' }), undefined);
  assert.equal(jobPlanner(m, { mode: 'step', job: 'j', device: 'cuda:0' }), undefined);
  assert.equal(jobPlanner(m, { mode: 'step', job: 'j', distributed: true }), undefined);
  assert.equal(jobPlanner(m, { mode: 'step', job: 'j', steps: MIN_PLANNED_STEPS - 1 }), undefined);
  assert.ok(jobPlanner(m, { mode: 'step', job: 'j', steps: MIN_PLANNED_STEPS }) instanceof StepPlanner);
  // a model without 4-d tensors has one layout to try
  assert.deepEqual(new StepPlanner(new nn.Linear(2, 3), { threads: [1] }).configs, [{ layout: 'contiguous', threads: 1 }]);
});

test('train() calls the planner around every step with the step time', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-plan-'));
  const model = new nn.Linear(2, 1, { generator: new Generator(1) });
  const calls: string[] = [];
  const x = torch.randn([4, 2], { generator: new Generator(2) }).keep();
  try {
    await train({
      run: 'p', runsDir: dir, model, optimizer: new SGD(model, { lr: 0.1 }), steps: 3, progress: false,
      data: () => [x, x, x, x],
      stepFn: (b: Tensor) => ({ loss: model(b).square().mean() }),
      planner: { beforeStep: () => calls.push('before'), afterStep: (ms) => calls.push(ms >= 0 && Number.isFinite(ms) ? 'after' : `bad ${ms}`) },
    });
  } finally {
    x.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(calls, ['before', 'after', 'before', 'after', 'before', 'after']);
});

test('both gradients libtorch\'s: one joint convolution_backward gives the gradients (bias too) of libtorch\'s own autograd, regular and transposed, in either layout', () => scope(() => {
  const g = new Generator(21);
  for (const transposed of [false, true]) {
    for (const cl of [false, true]) {
      const a: ConvArgs = { ...ARGS, stride: [2, 1], groups: 2, transposed, outputPadding: transposed ? [1, 0] : [0, 0] };
      const x0 = torch.randn([2, 4, 7, 6], { generator: g, dtype: 'float64' });
      const w0 = torch.randn(transposed ? [4, 3, 3, 3] : [6, 2, 3, 3], { generator: g, dtype: 'float64' });
      const b0 = torch.randn([6], { generator: g, dtype: 'float64' });
      const lay = (t: Tensor) => (cl ? nhwc(t) : t);
      const grads = (conv: (x: Tensor, w: Tensor, b: Tensor) => Tensor) => {
        const [x, w, b] = [lay(x0).detach().requiresGrad_(true), lay(w0).detach().requiresGrad_(true), b0.detach().requiresGrad_(true)];
        const y = conv(x, w, b);
        y.mul(torch.randn(y.shape, { generator: new Generator(3), dtype: 'float64' })).sum().backward();
        return [y.detach(), x.grad!, w.grad!, b.grad!];
      };
      const ref = grads((x, w, b) => atenConvOf(x, w, b, a));
      const p = convProblem(lay(x0), lay(w0), a)!;
      const got = grads((x, w, b) => chosenConv(x, w, b, p, () => libtorch));
      ref.forEach((r, i) => assert.ok(got[i].sub(r).abs().max().item() < 1e-12, `${transposed ? 'transposed' : 'regular'} ${cl ? 'NHWC' : 'NCHW'} result ${i}`));
      if (cl) assert.ok(isLaidOut(got[1], 'channelsLast') && isLaidOut(got[2], 'channelsLast'), 'gradients in the network\'s layout');
    }
  }
}));

test('ConvMetaOptimizer: option margin is checked; a candidate must beat libtorch by the margin to be chosen', () => scope(() => {
  assert.throws(() => new ConvMetaOptimizer({ margin: 0.5 }), /option margin must be a number in \[1, 100\], got 0.5/);
  // an outside candidate that is libtorch itself (so at best as fast) never clears a 10x margin
  registerConvImplementation('twin', { forward: (x, w, p) => runOp(libtorch, 'forward', p, { x, w }) });
  try {
    const m = new ConvMetaOptimizer({ cache: null, include: ['libtorch', 'twin'], margin: 10, warmup: 0, repeats: 2 });
    const x = torch.randn([2, 3, 8, 8]);
    const w = torch.randn([4, 3, 3, 3]);
    assert.equal(m.choose('forward', convProblem(x, w, ARGS)!, { x, w }), libtorch);
  } finally {
    unregisterConvImplementation('twin');
  }
}));

// SGD (plain, momentum, dampening, Nesterov), Adam and AdamW against torch.optim trajectories
// (test/optim/fixtures.json, written by gen_fixtures.py), weight decay only on 'regularizable'
// parameters, learning-rate schedules, exact resume from a saved state dict, and flat memory.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, functions as torch, loadFile, memory, saveFile, scope, tensor } from '../../src/tensor';
import { Module, Parameter } from '../../src/nn';
import { Adam, AdamW, Optimizer, SGD, piecewiseConstant } from '../../src/optim';

interface Case {
  name: string;
  optimizer: 'SGD' | 'Adam' | 'AdamW';
  opts: Record<string, unknown>;
  lrs?: number[];
  init: { W: number[]; b: number[] };
  grads: { W: number[]; b: number[] | null }[];
  expected: { W: number[]; b: number[] }[];
  /** torch.optim's trajectory with foreach=True (its _foreach_* kernels). */
  expectedForeach: { W: number[]; b: number[] }[];
}
const FIXTURE = path.resolve(__dirname, '../../../test/optim/fixtures.json');
const fixture: { torch: string; cases: Case[] } = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));

/** A parameter holding `values` (float32) with the given tags. */
function param(values: number[], shape: number[], tags?: string[]): Parameter {
  return scope(() => Parameter.from(tensor(values, { dtype: 'float32', shape }), tags));
}
function setGrad(p: Parameter, values: number[] | null): void {
  if (values === null) p.zeroGrad();
  else scope(() => { p.grad = tensor(values, { dtype: 'float32', shape: p.shape }); });
}

/** W (3, 2) with the default tags (trainable, regularizable) and a bias b (2,) tagged trainable only. */
class Affine extends Module {
  W: Parameter;
  b: Parameter;
  constructor(W: number[], b: number[]) {
    super();
    this.W = param(W, [3, 2]);
    this.b = param(b, [2], ['trainable']);
  }
  forward(x: Tensor): Tensor {
    return x.matmul(this.W).add(this.b);
  }
}

function make(c: Case, model: Affine, asList: boolean, foreach = true): Optimizer {
  const o = c.opts as Record<string, number & boolean & [number, number]>;
  const lr = c.lrs ? (step: number) => c.lrs![step] : o.lr;
  const src = asList ? [model.W, model.b] : model;
  const opts = { ...o, lr, foreach };
  return c.optimizer === 'SGD' ? new SGD(src, opts) : c.optimizer === 'Adam' ? new Adam(src, opts) : new AdamW(src, opts);
}

function maxRelErr(got: number[], exp: number[]): number {
  return Math.max(...got.map((v, k) => Math.abs(v - exp[k]) / Math.max(1, Math.abs(exp[k]))));
}

for (const c of fixture.cases) {
  test(`${c.optimizer} matches torch.optim ${fixture.torch}: ${c.name} (per parameter and foreach)`, () => {
    [[false, false], [true, false], [false, true], [true, true]].forEach(([asList, foreach]) => {
      const model = new Affine(c.init.W, c.init.b);
      const opt = make(c, model, asList, foreach);
      assert.equal(opt.foreach, foreach);
      const expected = foreach ? c.expectedForeach : c.expected;
      assert.deepEqual(opt.params, [model.W, model.b]);
      c.grads.forEach((g, k) => {
        setGrad(model.W, g.W);
        setGrad(model.b, g.b);
        if (c.lrs) assert.equal(opt.lr(), c.lrs[k]);
        opt.step();
        assert.equal(opt.stepCount, k + 1);
        // same libtorch kernels in the same order: equal to float32 rounding (bit for bit on this build; a
        // CPU build without FMA rounds a·b + c twice, ≤ 1 ulp per step, 1e-6 ≈ 8 ulp covers the 6 steps)
        const eW = maxRelErr(model.W.dataSync(), expected[k].W), eb = maxRelErr(model.b.dataSync(), expected[k].b);
        assert.ok(eW <= 1e-6 && eb <= 1e-6, `${c.name}${foreach ? ' (foreach)' : ''} step ${k}: relative error W ${eW}, b ${eb}`);
      });
      opt.dispose();
    });
  });
}

// Bit for bit where the kernels are built like PyTorch's (AVX2/AVX-512, with FMA). A build without FMA
// (ATEN_CPU_CAPABILITY=default) rounds each fused a·b + c of an update twice: one more rounding of an
// update term that is ≤ |w| here, i.e. ≤ 1 ulp of max(1, |w|) per step, so ≤ (k + 1) ulp after step k
// (0.95 ulp seen). A wrong coefficient, a missing decay or momentum term, or a skipped step is off by
// far more (the updates are ~1e-3 to 1e-1).
test('fixture trajectories are reproduced to the last rounding (bit for bit with FMA kernels)', () => {
  for (const c of fixture.cases) for (const foreach of [false, true]) {
    const model = new Affine(c.init.W, c.init.b);
    const opt = make(c, model, false, foreach);
    const expected = foreach ? c.expectedForeach : c.expected;
    c.grads.forEach((g, k) => {
      setGrad(model.W, g.W);
      setGrad(model.b, g.b);
      opt.step();
      const eW = maxRelErr(model.W.dataSync(), expected[k].W), eb = maxRelErr(model.b.dataSync(), expected[k].b);
      assert.ok(eW <= (k + 1) * 2 ** -23 && eb <= (k + 1) * 2 ** -23, `${c.name} step ${k}: relative error W ${eW}, b ${eb}, more than ${k + 1} ulp`);
    });
    opt.dispose();
  }
});

// The multi-tensor path against the per-parameter one in float64, on many parameters of several
// shapes, some decayed and some not, some without a gradient at some steps (their own step counts
// and buffers then differ): the same kernels in the same order, so equal to the last bit on
// libtorch 1.13's CPU foreach kernels (a loop over the per-tensor ones); 1e-15 relative allows a
// fused kernel of another libtorch one rounding per update term.
test('foreach updates equal the per-parameter updates (float64, SGD/Adam/AdamW, decay tags, missing gradients)', () => {
  const shapes = [[4, 3], [3], [2, 5, 2], [1], [6]];
  const makers: [string, (ps: Parameter[], foreach: boolean) => Optimizer][] = [
    ['SGD', (ps, foreach) => new SGD(ps, { lr: 0.05, foreach })],
    ['SGD momentum wd', (ps, foreach) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.1, foreach })],
    ['SGD nesterov wd', (ps, foreach) => new SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.1, foreach })],
    ['Adam wd', (ps, foreach) => new Adam(ps, { lr: 0.01, weightDecay: 0.05, foreach })],
    ['AdamW', (ps, foreach) => new AdamW(ps, { lr: (s: number) => 0.01 / (1 + s), weightDecay: 0.2, betas: [0.8, 0.95], eps: 1e-6, foreach })],
  ];
  for (const [name, mk] of makers) {
    const run = (foreach: boolean) => {
      const g = new Generator(42);
      const ps = shapes.map((s, i) => scope(() => Parameter.from(torch.randn(s, { generator: g, dtype: 'float64' }), i % 2 ? ['trainable'] : undefined)));
      const opt = mk(ps, foreach);
      const seen: number[][] = [];
      for (let k = 0; k < 7; k++) {
        ps.forEach((p, i) => {
          // parameter i has no gradient at steps where (i + k) % 4 === 0
          if ((i + k) % 4 === 0) p.zeroGrad();
          else scope(() => { p.grad = torch.randn(p.shape, { generator: g, dtype: 'float64' }); });
        });
        const before = ps.map((p) => p.grad?.dataSync() ?? null);
        opt.step();
        // the gradients are read, never written (the penalty and Nesterov's step are new tensors)
        ps.forEach((p, i) => assert.deepEqual(p.grad?.dataSync() ?? null, before[i], `${name}: step ${k} changed the gradient of parameter ${i}`));
        seen.push(ps.flatMap((p) => p.dataSync()));
      }
      const state = Object.entries(opt.stateDict()).map(([key, t]) => [key, t.dataSync()] as const).sort(([a], [b]) => (a < b ? -1 : 1));
      opt.dispose();
      return { seen, state };
    };
    const single = run(false), multi = run(true);
    single.seen.forEach((vals, k) => {
      const err = maxRelErr(multi.seen[k], vals);
      assert.ok(err <= 1e-15, `${name}: step ${k} differs by ${err} (relative)`);
    });
    assert.deepEqual(multi.state.map(([k]) => k), single.state.map(([k]) => k), `${name}: the same state entries`);
    multi.state.forEach(([k, v], j) => assert.ok(maxRelErr(v, single.state[j][1]) <= 1e-15, `${name}: state ${k} differs`));
  }
  const p = scope(() => Parameter.from(torch.zeros([2])));
  assert.throws(() => new Adam([p], { foreach: 'yes' as never }), /Adam: foreach must be a boolean, got "yes"/);
  assert.equal(new SGD([p], { lr: 0.1 }).foreach, true);
});

test('weight decay reaches only parameters tagged regularizable', () => {
  for (const mk of [
    (m: Affine) => new SGD(m, { lr: 0.1, weightDecay: 0.5 }),
    (m: Affine) => new Adam(m, { lr: 0.1, weightDecay: 0.5 }),
    (m: Affine) => new AdamW(m, { lr: 0.1, weightDecay: 0.5 }),
  ]) {
    // zero gradients: any change comes from decay alone
    const model = new Affine([1, 2, 3, 4, 5, 6], [1, -1]);
    const opt = mk(model);
    setGrad(model.W, [0, 0, 0, 0, 0, 0]);
    setGrad(model.b, [0, 0]);
    opt.step();
    assert.deepEqual(model.b.dataSync(), [1, -1], `${opt.constructor.name}: the bias (trainable only) is not decayed`);
    const w = model.W.dataSync();
    if (opt instanceof SGD) assert.deepEqual(w, [1, 2, 3, 4, 5, 6].map((x) => Math.fround(x - 0.1 * 0.5 * x)));
    else if (opt instanceof AdamW) assert.deepEqual(w, [1, 2, 3, 4, 5, 6].map((x) => Math.fround(x * (1 - 0.1 * 0.5))));
    else w.forEach((x, k) => assert.ok(Math.abs(x - (k + 1 - 0.1)) < 1e-5, `Adam: L2 gradient wd*w normalized to a step of lr, got ${x}`));
  }
});

test('a Module gives its trainable parameters; a list is taken as given', () => {
  const model = new Affine([1, 2, 3, 4, 5, 6], [0, 0]);
  const frozen = param([7], [1], ['regularizable']);
  (model as unknown as { frozen: Parameter }).frozen = frozen;
  assert.deepEqual(new SGD(model, { lr: 1 }).params, [model.W, model.b], 'a parameter without the trainable tag is not updated');
  assert.deepEqual(new SGD([model.b, model.W, model.b], { lr: 1 }).params, [model.b, model.W], 'duplicates removed, order kept');
  assert.throws(() => new SGD([tensor([1.5]) as Parameter], { lr: 1 }), /not a Parameter/);
  assert.throws(() => new SGD(model, { lr: 1, nesterov: true }), /Nesterov/);
  assert.throws(() => new SGD(model, { lr: -1 }), /lr must be >= 0/);
  assert.throws(() => new Adam(model, { betas: [0.9, 1] }), /betas/);
  assert.equal(new AdamW(model).weightDecay, 0.01, "AdamW's default decay is PyTorch's");
  assert.equal(new Adam(model).lr(), 1e-3);
});

test('parameters without a gradient are skipped; zeroGrad sets gradients to null', () => {
  const model = new Affine([1, 2, 3, 4, 5, 6], [1, 1]);
  const opt = new Adam(model, { lr: 0.1 });
  setGrad(model.W, [1, 1, 1, 1, 1, 1]);
  opt.step();
  assert.deepEqual(model.b.dataSync(), [1, 1]);
  assert.deepEqual(Object.keys(opt.stateDict()).sort(), ['exp_avg.0', 'exp_avg_sq.0', 'step', 'step.0']);
  opt.zeroGrad();
  assert.equal(model.W.grad, null);
  assert.equal(model.b.grad, null);
});

test('the learning rate is read from the schedule at each step', () => {
  const model = new Affine([0, 0, 0, 0, 0, 0], [0, 0]);
  const opt = new SGD([model.b], { lr: piecewiseConstant({ 0: 1, 2: 0.5, 3: 0.25 }) });
  const lrs: number[] = [];
  for (let k = 0; k < 5; k++) {
    lrs.push(opt.lr());
    setGrad(model.b, [1, -2]);
    opt.step();
  }
  assert.deepEqual(lrs, [1, 1, 0.5, 0.25, 0.25]);
  assert.deepEqual(model.b.dataSync(), [-3, 6]);
});

test('stateDict round trip through safetensors: the resumed run is bit-identical', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-optim-'));
  const gen = new Generator(3);
  const grads = scope(() => Array.from({ length: 8 }, (_, k) => ({
    W: torch.randn([3, 2], { generator: gen }).mul(k + 1).dataSync(),
    b: k === 2 ? null : torch.randn([2], { generator: gen }).dataSync(),
  })));
  const makers: [string, (m: Affine) => Optimizer][] = [
    ['SGD-momentum', (m) => new SGD(m, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
    ['SGD-Nesterov', (m) => new SGD(m, { lr: (s) => 0.1 / (1 + s), momentum: 0.9, nesterov: true })],
    ['Adam', (m) => new Adam(m, { lr: 0.01, weightDecay: 0.1 })],
    ['AdamW', (m) => new AdamW(m, { lr: piecewiseConstant({ 0: 0.01, 5: 0.001 }), weightDecay: 0.1 })],
  ];
  try {
    for (const [name, mk] of makers) {
      const a = new Affine([1, 2, 3, 4, 5, 6], [0.5, -0.5]);
      const optA = mk(a);
      const apply = (m: Affine, o: Optimizer, k: number) => {
        setGrad(m.W, grads[k].W);
        setGrad(m.b, grads[k].b);
        o.step();
      };
      for (let k = 0; k < 4; k++) apply(a, optA, k);
      const file = path.join(dir, `${name}.safetensors`);
      scope(() => {
        const sd = optA.stateDict();
        assert.equal(sd.step.ndim, 0);
        assert.equal(sd.step.item(), 4);
        saveFile(file, sd);
      });
      // a fresh run: same weights, a new optimizer, the saved state
      const b = new Affine(a.W.dataSync(), a.b.dataSync());
      const optB = mk(b);
      scope(() => optB.loadStateDict(loadFile(file).tensors));
      assert.equal(optB.stepCount, 4);
      assert.equal(optB.lr(), optA.lr());
      for (let k = 4; k < 8; k++) {
        apply(a, optA, k);
        apply(b, optB, k);
        assert.deepEqual(b.W.dataSync(), a.W.dataSync(), `${name} W after step ${k}`);
        assert.deepEqual(b.b.dataSync(), a.b.dataSync(), `${name} b after step ${k}`);
      }
      // loading replaces state: an earlier snapshot taken before any momentum existed drops it
      const c = new Affine([1, 2, 3, 4, 5, 6], [0.5, -0.5]);
      const optC = mk(c);
      const optD = mk(new Affine([1, 2, 3, 4, 5, 6], [0.5, -0.5]));
      for (let k = 0; k < 3; k++) apply(c, optC, k);
      scope(() => optC.loadStateDict(optD.stateDict()));
      assert.equal(optC.stepCount, 0);
      assert.deepEqual(Object.keys(optC.stateDict()), ['step']);
      [optA, optB, optC, optD].forEach((o) => o.dispose());
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('loadStateDict rejects entries that do not fit', () => {
  const model = new Affine([1, 2, 3, 4, 5, 6], [0, 0]);
  const opt = new SGD(model, { lr: 0.1, momentum: 0.9 });
  scope(() => {
    assert.throws(() => opt.loadStateDict({}), /no `step`/);
    assert.throws(() => opt.loadStateDict({ step: tensor(1), 'exp_avg.0': torch.zeros([3, 2]) }), /unexpected entry exp_avg.0/);
    assert.throws(() => opt.loadStateDict({ step: tensor(1), 'momentum_buffer.5': torch.zeros([3, 2]) }), /unexpected entry momentum_buffer.5/);
    assert.throws(() => opt.loadStateDict({ step: tensor(1), 'momentum_buffer.0': torch.zeros([2, 3]) }), /loadStateDict: momentum_buffer\.0 has shape \[2, 3\], expected \[3, 2\] \(the shape of parameter 0\)/);
  });
  assert.equal(opt.stepCount, 0, 'a rejected state leaves the optimizer as it was');
});

test('no tensor leaks: live tensors stay constant across steps', () => {
  for (const mk of [
    (m: Affine) => new SGD(m, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1 }),
    (m: Affine) => new Adam(m, { lr: 0.01, weightDecay: 0.1 }),
    (m: Affine) => new AdamW(m, { lr: (s) => 0.01 * 0.9 ** s }),
  ]) {
    const model = new Affine([1, 2, 3, 4, 5, 6], [0, 0]);
    const opt = mk(model);
    const step = () => scope(() => {
      const x = torch.randn([4, 3]);
      model(x).square().mean().backward();
      opt.step();
      opt.zeroGrad();
    });
    step(); // creates the state
    const before = memory().liveTensors;
    for (let k = 0; k < 20; k++) step();
    assert.equal(memory().liveTensors, before, `${opt.constructor.name}: live tensors grew over 20 steps`);
    scope(() => { opt.stateDict(); });
    assert.equal(memory().liveTensors, before, 'stateDict() inside a scope leaves nothing behind');
    opt.dispose();
    assert.equal(memory().liveTensors, before - (opt instanceof SGD ? 2 : 4), 'dispose() frees the state');
  }
});

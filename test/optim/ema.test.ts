// EMA of weights: values against the recurrence, warm-up decay, copyTo/swap for evaluation,
// state dict round trip, no leaks.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Tensor, functions as torch, memory, noGrad, scope, tensor } from '../../src/tensor';
import { Module, Parameter } from '../../src/nn';
import { EMA } from '../../src/optim';

class Pair extends Module {
  w: Parameter;
  b: Parameter;
  constructor(w: number[], b: number[]) {
    super();
    this.w = scope(() => Parameter.from(tensor(w, { dtype: 'float64' })));
    this.b = scope(() => Parameter.from(tensor(b, { dtype: 'float64' }), ['trainable']));
  }
  forward(x: Tensor): Tensor {
    return x.mul(this.w).add(this.b);
  }
}
const set = (p: Parameter, v: number[]) => scope(() => noGrad(() => p.copy_(tensor(v, { dtype: 'float64' }))));
const near = (got: number[], want: number[], what: string) =>
  got.forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-12, `${what}[${k}]: ${v} vs ${want[k]}`));

test('EMA follows shadow <- d shadow + (1 - d) w', () => {
  const m = new Pair([1, 2], [0]);
  const ema = new EMA(m, { decay: 0.9 });
  assert.deepEqual(ema.params, [m.w, m.b], 'all parameters of the module');
  let s = [1, 2];
  for (let k = 1; k <= 5; k++) {
    const w = [k * 10, -k];
    set(m.w, w);
    ema.update();
    s = s.map((x, j) => 0.9 * x + 0.1 * w[j]);
    near(ema.shadow[0].dataSync(), s, `step ${k}`);
  }
  assert.equal(ema.stepCount, 5);
  assert.deepEqual(ema.shadow[1].dataSync(), [0], 'an unchanged weight averages to itself');
  ema.dispose();
});

test('EMA warm-up: decay min(d, (1 + step) / (10 + step)), step counting from 0', () => {
  const m = new Pair([0], [0]);
  const ema = new EMA([m.w], { decay: 0.5, warmup: true });
  assert.equal(ema.currentDecay(), 0.1);
  set(m.w, [1]);
  ema.update();
  near(ema.shadow[0].dataSync(), [0.9], 'first update: decay 1/10');
  assert.equal(ema.currentDecay(), 2 / 11);
  ema.update();
  near(ema.shadow[0].dataSync(), [2 / 11 * 0.9 + 9 / 11], 'second update: decay 2/11');
  ema.stepCount = 100;
  assert.equal(ema.currentDecay(), 0.5, 'capped at decay');
  assert.equal(new EMA([m.w], { decay: 0.99 }).currentDecay(), 0.99, 'no warm-up by default');
  assert.throws(() => new EMA([m.w], { decay: 1.5 }), /decay must lie in \[0, 1\]/);
});

test('EMA copyTo (into the model or an evaluation copy) and swap', () => {
  const m = new Pair([1, 2], [3]);
  const ema = new EMA(m, { decay: 0.5 });
  set(m.w, [3, 4]);
  ema.update(); // shadow w = [2, 3]
  const evalCopy = new Pair([0, 0], [0]);
  ema.copyTo(evalCopy);
  assert.deepEqual(evalCopy.w.dataSync(), [2, 3]);
  assert.deepEqual(evalCopy.b.dataSync(), [3]);
  assert.deepEqual(m.w.dataSync(), [3, 4], 'copyTo(other) leaves the live model alone');
  ema.swap();
  assert.deepEqual(m.w.dataSync(), [2, 3], 'swap: the model holds the average');
  assert.deepEqual(ema.shadow[0].dataSync(), [3, 4], 'and the EMA the live weights');
  ema.swap();
  assert.deepEqual(m.w.dataSync(), [3, 4], 'swap back');
  assert.deepEqual(ema.shadow[0].dataSync(), [2, 3]);
  ema.copyTo();
  assert.deepEqual(m.w.dataSync(), [2, 3], 'copyTo() writes into the tracked parameters');
  assert.equal(m.w.requiresGrad, true);
  assert.throws(() => ema.copyTo([m.w]), /target has 1 parameters, the average 2/);
  assert.throws(() => ema.copyTo(new Pair([0, 0, 0], [0])), /EMA\.copyTo: parameter 0 of the target has shape \[3\], expected \[2\] \(the shape of its average\)/);
});

test('EMA stateDict round trip continues identically', () => {
  const a = new Pair([1, 2], [0]);
  const emaA = new EMA(a, { decay: 0.99, warmup: true });
  for (let k = 0; k < 3; k++) { set(a.w, [k, k * k]); emaA.update(); }
  const b = new Pair([1, 2], [0]);
  const emaB = new EMA(b, { decay: 0.99, warmup: true });
  scope(() => {
    const sd = emaA.stateDict();
    assert.deepEqual(Object.keys(sd).sort(), ['shadow.0', 'shadow.1', 'step']);
    assert.equal(sd.step.item(), 3);
    emaB.loadStateDict(sd);
  });
  assert.equal(emaB.stepCount, 3);
  for (let k = 3; k < 6; k++) {
    set(a.w, [k, -k]); emaA.update();
    set(b.w, [k, -k]); emaB.update();
    assert.deepEqual(emaB.shadow[0].dataSync(), emaA.shadow[0].dataSync());
  }
  scope(() => assert.throws(() => emaB.loadStateDict({ step: tensor(1) }), /missing \[shadow.0, shadow.1\]/));
  scope(() => assert.throws(() => emaB.loadStateDict({ step: tensor(1), 'shadow.0': torch.zeros([3]), 'shadow.1': torch.zeros([1]) }),
    /EMA\.loadStateDict: shadow\.0 has shape \[3\], expected \[2\] \(the shape of parameter 0\)/));
});

test('EMA: no tensor leaks across updates, swaps and state dicts', () => {
  const m = new Pair([1, 2], [3]);
  const ema = new EMA(m, { decay: 0.9, warmup: true });
  const before = memory().liveTensors;
  for (let k = 0; k < 20; k++) {
    ema.update();
    ema.swap();
    ema.swap();
    scope(() => { ema.stateDict(); });
  }
  ema.copyTo();
  assert.equal(memory().liveTensors, before);
  ema.dispose();
  assert.equal(memory().liveTensors, before - 2);
});

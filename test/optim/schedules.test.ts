// Learning-rate schedules as functions of the step, at their boundary steps.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { constant, cosineWithWarmup, piecewiseConstant } from '../../src/optim';

test('constant', () => {
  const s = constant(0.1);
  assert.equal(s(0), 0.1);
  assert.equal(s(123456), 0.1);
});

test("piecewiseConstant: the plankton post's schedule at its boundaries", () => {
  const s = piecewiseConstant({ 0: 0.003, 700: 3e-4, 800: 3e-5 });
  assert.deepEqual([0, 1, 699, 700, 701, 799, 800, 10 ** 6].map(s), [0.003, 0.003, 0.003, 3e-4, 3e-4, 3e-4, 3e-5, 3e-5]);
  const unordered = piecewiseConstant({ 10: 2, 0: 1 });
  assert.deepEqual([0, 9, 10].map(unordered), [1, 1, 2], 'keys are sorted numerically');
  assert.throws(() => piecewiseConstant({ 5: 1 }), /entry for step 0/);
  assert.throws(() => piecewiseConstant({}), /entry for step 0/);
  assert.throws(() => piecewiseConstant({ 0: 1, 2.5: 2 }), /integers/);
});

test('cosineWithWarmup: linear warm-up, cosine decay to final, then final', () => {
  const s = cosineWithWarmup({ base: 1e-3, warmup: 10, total: 110, final: 1e-5 });
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
  near(s(0), 1e-4); // base / warmup: the first update is not wasted
  near(s(4), 5e-4);
  near(s(9), 1e-3); // warm-up ends at base
  near(s(10), 1e-3); // cosine starts at base
  near(s(60), (1e-3 + 1e-5) / 2); // half-way
  near(s(35), 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + Math.cos(Math.PI / 4)));
  near(s(110), 1e-5);
  near(s(5000), 1e-5);
  for (let k = 10; k < 110; k++) assert.ok(s(k + 1) <= s(k), 'monotone after warm-up');
  const noWarmup = cosineWithWarmup({ base: 2, warmup: 0, total: 4 });
  assert.deepEqual([0, 2, 4, 5].map(noWarmup), [2, 1, 0, 0]);
  assert.throws(() => cosineWithWarmup({ base: 1, warmup: 10, total: 10 }), /cosineWithWarmup: total \(the number of steps, 10\) must be greater than warmup \(10\)/);
  assert.throws(() => cosineWithWarmup({ base: 1, warmup: 200, total: 0 }), /total \(the number of steps, 0\) must be greater than warmup \(200\)/);
  assert.throws(() => cosineWithWarmup({ base: 1, warmup: 0, total: NaN }), /total \(the number of steps, NaN\)/);
  assert.throws(() => cosineWithWarmup({ base: 1, warmup: -1, total: 10 }), /warmup must be an integer/);
});

// Parameterisations: every round trip is exact in float64, and the post's equivalence holds: an
// ε-predicting network with a residual connection of scale −1 is an x-predicting one
// ("Diffusion models are autoencoders", Dieleman 2022).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, tensor } from '../../src/tensor';
import {
  Parameterisation, convertPrediction, epsToX0, fromDenoised, toDenoised, toX0, x0ToEps, x0ToV,
} from '../../src/diffusion/parameterisation';
import { vpLinearSchedule } from '../../src/diffusion/schedules';

function maxAbs(a: Tensor, b: Tensor): number {
  return a.sub(b).abs().max().item();
}

const g = new Generator(3);
const x0 = torch.randn([4, 2, 3], { generator: g, dtype: 'float64' });
const eps = torch.randn([4, 2, 3], { generator: g, dtype: 'float64' });
const sched = vpLinearSchedule();
const t = tensor([0.05, 0.3, 0.6, 0.9], { dtype: 'float64' });
const alpha = sched.alpha(t), sigma = sched.sigma(t); // (B,)
const xt = x0.mul(alpha.reshape([4, 1, 1])).add(eps.mul(sigma.reshape([4, 1, 1])));
const kinds: Parameterisation[] = ['eps', 'x0', 'v', 'score'];

test('VP form: the true x0, ε, v and score convert into one another exactly', () => {
  const truth: Record<Parameterisation, Tensor> = {
    x0, eps, v: eps.mul(alpha.reshape([4, 1, 1])).sub(x0.mul(sigma.reshape([4, 1, 1]))),
    score: eps.div(sigma.reshape([4, 1, 1])).neg(),
  };
  for (const from of kinds) {
    for (const to of kinds) {
      const got = convertPrediction(from, to, xt, truth[from], alpha, sigma);
      assert.ok(maxAbs(got, truth[to]) < 1e-12 * Math.max(1, truth[to].abs().max().item()), `${from} → ${to}`);
    }
  }
});

test('round trips through every parameterisation are exact for arbitrary predictions, VP and EDM forms', () => {
  const pred = torch.randn([4, 2, 3], { generator: g, dtype: 'float64' });
  for (const from of kinds) {
    for (const to of kinds) {
      const back = convertPrediction(to, from, xt, convertPrediction(from, to, xt, pred, alpha, sigma), alpha, sigma);
      assert.ok(maxAbs(back, pred) < 1e-12, `VP ${from} → ${to} → ${from}`);
    }
  }
  const sigEdm = tensor([0.01, 0.5, 3, 80], { dtype: 'float64' });
  const x = x0.add(eps.mul(sigEdm.reshape([4, 1, 1])));
  for (const kind of kinds) {
    const back = toDenoised(kind, x, fromDenoised(kind, x, pred, sigEdm), sigEdm);
    assert.ok(maxAbs(back, pred) < 1e-12, `EDM ${kind}`);
  }
  // EDM form with scalar σ: ε from the true x0 is the true noise
  const xs = x0.add(eps.mul(2));
  assert.ok(maxAbs(fromDenoised('eps', xs, x0, 2), eps) < 1e-14);
});

test('ε-network + residual connection of scale −1 is an x-predicting network (the post, EDM form)', () => {
  // A stand-in ε-network; any function of (x, σ) will do.
  const epsNet = (x: Tensor, s: number) => x.tanh().mul(s / (1 + s));
  for (const s of [0.1, 1, 10]) {
    const x = x0.add(eps.mul(s));
    // residual with scale −1 on the input, after scaling the output by σ: σ·ε̂ − x = −x̂0
    const residual = epsNet(x, s).mul(s).sub(x).neg();
    assert.ok(maxAbs(residual, toDenoised('eps', x, epsNet(x, s), s)) < 1e-14, `σ=${s}`);
    // and its x-prediction error is σ times the ε error: ‖x̂0 − x0‖ = σ‖ε̂ − ε‖
    const errX = residual.sub(x0).square().sum().sqrt().item();
    const errE = epsNet(x, s).sub(eps).square().sum().sqrt().item();
    assert.ok(Math.abs(errX - s * errE) < 1e-12 * Math.max(1, errX));
  }
  // The same in VP form with its α: x0 = (x_t − σ·ε̂)/α
  const epsHat = xt.tanh();
  const manual = xt.sub(epsHat.mul(sigma.reshape([4, 1, 1]))).div(alpha.reshape([4, 1, 1]));
  assert.ok(maxAbs(epsToX0(xt, epsHat, alpha, sigma), manual) < 1e-14);
  assert.ok(maxAbs(x0ToEps(xt, toX0('eps', xt, epsHat, alpha, sigma), alpha, sigma), epsHat) < 1e-12);
  assert.ok(maxAbs(x0ToV(xt, x0, alpha, sigma), convertPrediction('eps', 'v', xt, eps, alpha, sigma)) < 1e-12);
});

// Objectives: weights at known SNRs, noise-level samplers, and the optimal denoiser of Gaussian data
// D*(x, σ) = s²/(s² + σ²)·x beating perturbed denoisers under diffusionLoss (Monte Carlo, fixed seed).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import type { Denoiser } from '../../src/diffusion/denoiser';
import { Generator, Tensor, functions as torch, tensor } from '../../src/tensor';
import {
  diffusionLoss, edmWeighting, epsWeighting, likelihoodWeighting, logNormalSigmas, logUniformSigmas,
  minSnrWeighting, snrWeighting, uniformTimeSigmas, uniformWeighting, vWeighting,
} from '../../src/diffusion/objectives';
import { fromDenoised } from '../../src/diffusion/parameterisation';
import { edmSigma, veSchedule, vpCosineSchedule, vpLinearSchedule } from '../../src/diffusion/schedules';

function close(a: number, b: number, tol: number, what = ''): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
}

test('loss weights at known SNRs', () => {
  const sigma = tensor([1, 0.1, 10], { dtype: 'float64' }); // SNR = 1, 100, 0.01
  const check = (w: Tensor, expected: number[], what: string) => w.dataSync().forEach((v, i) => close(v, expected[i], 1e-10 * Math.max(1, expected[i]), `${what}[${i}]`));
  check(uniformWeighting(sigma), [1, 1, 1], 'uniform');
  check(epsWeighting(sigma), [1, 100, 0.01], 'ε-MSE = SNR');
  check(vWeighting(sigma), [2, 101, 1.01], 'v-MSE = SNR + 1');
  check(snrWeighting(sigma), [1, 1e4, 1e-4], 'SNR²');
  check(minSnrWeighting(5)(sigma), [1, 5, 0.01], 'min-SNR-5');
  check(edmWeighting({ sigmaData: 0.5 })(tensor([0.5, 1], { dtype: 'float64' })), [8, 1.25 / 0.25], 'EDM');
  const ve = veSchedule({ sigmaMin: 0.01, sigmaMax: 50 });
  check(likelihoodWeighting(ve)(sigma), [1, 100, 0.01].map((snr) => 2 * Math.log(5000) * snr), 'VE likelihood 2 ln(r)·SNR');
  // VP: λ = −λ′(t)·SNR, by finite differences of the log-SNR
  for (const s of [vpLinearSchedule(), vpCosineSchedule()]) {
    for (const t of [0.1, 0.5, 0.9]) {
      const h = 1e-6, dl = (s.logSnr(t + h).item() - s.logSnr(t - h).item()) / (2 * h);
      const sg = edmSigma(s, t);
      close(likelihoodWeighting(s)(sg).item(), -dl / sg.item() ** 2, 1e-5 * Math.abs(dl / sg.item() ** 2), `VP likelihood at ${t}`);
    }
  }
});

test('noise-level samplers: distributions, ranges, determinism', () => {
  const ln = logNormalSigmas()(20000, new Generator(5)).log();
  close(ln.mean().item(), -1.2, 0.03, 'P_mean');
  close(ln.std().item(), 1.2, 0.03, 'P_std');
  assert.deepEqual(logNormalSigmas()(8, new Generator(9)).dataSync(), logNormalSigmas()(8, new Generator(9)).dataSync());
  const lu = logUniformSigmas({ sigmaMin: 0.01, sigmaMax: 100 })(20000, new Generator(2));
  assert.ok(lu.min().item() >= 0.01 && lu.max().item() <= 100);
  close(lu.log().mean().item(), 0, 0.05, 'log-uniform centre');
  const s = vpLinearSchedule();
  const ut = uniformTimeSigmas(s, { tMin: 0.2, tMax: 0.6 })(1000, new Generator(4));
  assert.ok(ut.min().item() >= edmSigma(s, 0.2).item() - 1e-12 && ut.max().item() <= edmSigma(s, 0.6).item() + 1e-12);
});

test('Gaussian data: the optimal denoiser s²/(s²+σ²)·x has the lowest loss; parameterisations agree', () => {
  const s = 1.5, B = 4096, d = 8;
  const x0 = torch.randn([B, d], { generator: new Generator(11), dtype: 'float64' }).mul(s);
  const shrink = (sigma: Tensor) => sigma.square().add(s * s).reciprocal().mul(s * s).reshape([-1, 1]); // (B, 1)
  const optimal: Denoiser = (x, sigma) => x.mul(shrink(sigma));
  const loss = (D: Denoiser, weighting = edmWeighting(), sampler = logNormalSigmas()) =>
    diffusionLoss(D, x0, { generator: new Generator(42), weighting, sigmaSampler: sampler }).item();
  for (const [w, sampler] of [[edmWeighting(), logNormalSigmas()], [epsWeighting, logUniformSigmas({ sigmaMin: 0.05, sigmaMax: 20 })], [uniformWeighting, logNormalSigmas()]] as const) {
    const best = loss(optimal, w, sampler);
    for (const factor of [0.9, 0.97, 1.03, 1.1]) assert.ok(best < loss((x, sg) => optimal(x, sg).mul(factor), w, sampler), `scale ${factor}`);
    assert.ok(best < loss((x, sg) => optimal(x, sg).add(0.05), w, sampler), 'bias');
    assert.ok(best < loss((x, sg) => x.mul(shrink(sg.mul(1.1))), w, sampler), 'wrong σ');
  }
  // Closed form of the minimum with uniform weighting: E_σ[s²σ²/(s² + σ²)] per dimension
  const sig = logNormalSigmas()(B, new Generator(42));
  const expected = sig.square().mul(s * s).div(sig.square().add(s * s)).mean().item();
  close(loss(optimal, uniformWeighting), expected, 0.03 * expected, 'minimum loss');
  // The same denoiser expressed as an ε-model or a v-model gives the same loss
  const x0Loss = loss(optimal);
  for (const kind of ['eps', 'v', 'score'] as const) {
    const model: Denoiser = (x, sigma) => fromDenoised(kind, x, optimal(x, sigma), sigma);
    const l = diffusionLoss(model, x0, { generator: new Generator(42), parameterisation: kind }).item();
    close(l, x0Loss, 1e-10 * x0Loss, kind);
  }
});

test('diffusionLoss is differentiable in the denoiser parameters', () => {
  const x0 = torch.randn([16, 3], { generator: new Generator(0), dtype: 'float64' });
  const w = tensor(0.5, { dtype: 'float64', requiresGrad: true });
  const l = diffusionLoss((x) => x.mul(w), x0, { generator: new Generator(1) });
  l.backward();
  assert.ok(Number.isFinite(w.grad!.item()) && w.grad!.item() !== 0);
});

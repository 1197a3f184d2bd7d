// Samplers against an analytic denoiser: data x0 ~ N(mu, s^2 I), for which D*(x, sigma) =
// mu + s^2 / (s^2 + sigma^2) (x - mu) and the probability-flow ODE has the closed-form solution
// x(sigma) = mu + sqrt((s^2 + sigma^2) / (s^2 + sigma_T^2)) (x_T - mu).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, keep, memory, scope, tensor } from '../../src/tensor';
import type { Denoiser } from '../../src/diffusion/denoiser';
import {
  SAMPLERS, SAMPLER_NAMES, Sampler, StepInfo, ancestralSplit, langevinCorrector, predictorCorrector,
  sampleDdim, sampleDdpm, sampleDpmpp2m, sampleEuler, sampleEulerAncestral, sampleHeun, samplerInfo, samplerNfe, stepsForNfe,
} from '../../src/diffusion/samplers';
import { karrasSigmas } from '../../src/diffusion/schedules';

const MU = 0.5;
const S = 0.7;
const SIGMA_MAX = 80;
const SIGMA_MIN = 0.002;

const gaussianDenoiser: Denoiser = (x, sigma) => {
  const s2 = sigma.square().add(S * S).reciprocal().mul(S * S).reshape([x.shape[0], ...x.shape.slice(1).map(() => 1)]); // (B, 1)
  return x.sub(MU).mul(s2).add(MU);
};

/** Karras et al. 2022 eq. 5 with rho = 7, then a final 0. */
function karras(n: number, rho = 7): Tensor {
  const a = SIGMA_MAX ** (1 / rho);
  const b = SIGMA_MIN ** (1 / rho);
  const s = Array.from({ length: n }, (_, i) => (a + (i / (n - 1)) * (b - a)) ** rho);
  return tensor([...s, 0], { dtype: 'float64' });
}

const noise = (n: number, d: number, seed: number) =>
  torch.randn([n, d], { generator: new Generator(seed), dtype: 'float64' }).mul(SIGMA_MAX);

/** The exact ODE solution at sigma_min followed by the exact final denoising step (which every sampler takes). */
function exactEnd(xT: Tensor): Tensor {
  const atMin = xT.sub(MU).mul(Math.sqrt((S * S + SIGMA_MIN ** 2) / (S * S + SIGMA_MAX ** 2))).add(MU);
  return gaussianDenoiser(atMin, torch.full([xT.shape[0]], SIGMA_MIN, { dtype: 'float64' }));
}

const stats = (x: Tensor) => ({ mean: x.mean().item(), std: x.std().item() });
const maxAbs = (a: Tensor, b: Tensor) => a.sub(b).abs().max().item();

const stochastic: [string, Sampler<any>, object][] = [
  ['ddpm', sampleDdpm, {}],
  ['euler ancestral eta=0.5', sampleEulerAncestral, { eta: 0.5 }],
  ['ddim eta=1', sampleDdim, { eta: 1 }],
  ['heun churn', sampleHeun, { sChurn: 40, sTmin: 0.05, sTmax: 50 }],
  ['pc(euler, langevin)', predictorCorrector(sampleEuler, langevinCorrector, { steps: 1, snr: 0.1 }), {}],
];
// the table's deterministic samplers with their stated order (checked against the convergence rate below)
const deterministic: [string, Sampler<any>, number][] = SAMPLER_NAMES.filter((n) => !SAMPLERS[n].stochastic).map((n) => [n, SAMPLERS[n].fn, SAMPLERS[n].order]);

test('every sampler draws N(mu, s^2) from sigma_max noise', () => {
  scope(() => {
    for (const [name, sampler, opts] of [...stochastic, ...deterministic.map(([n, s]) => [n, s, {}] as [string, Sampler<any>, object])]) {
      // ancestral steps drop Var(x0 | x) and converge slowly in the step count; the ODE is exact sooner
      const steps = stochastic.some(([n]) => n === name) ? 500 : 100;
      const x = sampler(gaussianDenoiser, noise(4000, 2, 1), karras(steps), { ...opts, generator: new Generator(2) });
      const { mean, std } = stats(x);
      // 8000 draws: standard errors 0.008 (mean) and 0.006 (std)
      assert.ok(Math.abs(mean - MU) < 0.04, `${name}: mean ${mean}`);
      assert.ok(Math.abs(std - S) < 0.03, `${name}: std ${std}`);
    }
  });
});

test('deterministic samplers converge to the closed-form ODE solution at their order', () => {
  scope(() => {
    const xT = noise(64, 8, 3);
    const want = exactEnd(xT);
    // the closed form at sigma = 0 itself, up to the final jump from sigma_min
    const at0 = xT.sub(MU).mul(S / Math.sqrt(S * S + SIGMA_MAX ** 2)).add(MU);
    assert.ok(maxAbs(want, at0) < 1e-4);
    for (const [name, sampler, order] of deterministic) {
      const errs = [32, 64, 128].map((n) => maxAbs(sampler(gaussianDenoiser, xT, karras(n)), want));
      const ratios = [errs[0] / errs[1], errs[1] / errs[2]];
      const target = 2 ** order;
      assert.ok(errs[2] < (order === 2 ? 5e-3 : 0.1), `${name}: errors ${errs}`);
      for (const r of ratios) assert.ok(r > 0.75 * target && r < 1.5 * target, `${name}: error ratios ${ratios} (errors ${errs}), want ~${target}`);
    }
  });
});

test('DDIM with eta = 0 is Euler on the probability-flow ODE', () => {
  scope(() => {
    const xT = noise(16, 4, 4);
    assert.ok(maxAbs(sampleDdim(gaussianDenoiser, xT, karras(10)), sampleEuler(gaussianDenoiser, xT, karras(10))) < 1e-12);
  });
});

test('the ancestral split with eta = 1 is the DDPM posterior; the last step leaves no noise', () => {
  const { sigmaDown, sigmaUp } = ancestralSplit(2, 1);
  assert.ok(Math.abs(sigmaDown - 1 / 2) < 1e-15, 'sigma_down = sigma_next^2 / sigma');
  assert.ok(Math.abs(sigmaUp ** 2 - (1 * (4 - 1)) / 4) < 1e-15, 'sigma_up^2 = sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2');
  assert.deepEqual(ancestralSplit(2, 0), { sigmaDown: 0, sigmaUp: 0 });
  scope(() => {
    for (const [name, sampler, opts] of [...stochastic, ...deterministic.map(([n, s]) => [n, s, {}] as [string, Sampler<any>, object])]) {
      const finals: Tensor[] = [];
      const x = sampler(gaussianDenoiser, noise(8, 3, 5), karras(6), {
        ...opts,
        generator: new Generator(6),
        callback: (info: StepInfo) => {
          if (info.sigmaNext === 0) finals.push(keep(info.denoised.clone()));
        },
      });
      assert.equal(finals.length, 1, `${name}: callback on the final step`);
      assert.equal(maxAbs(x, finals[0]), 0, `${name}: output is the final denoised estimate`);
      finals[0].dispose();
    }
  });
});

test('callback: once per step, sigmas decreasing, the state and its denoised estimate', () => {
  scope(() => {
    const sigmas = karras(7);
    const want = Array.from(sigmas.dataSync());
    for (const [name, sampler, opts] of [...stochastic, ...deterministic.map(([n, s]) => [n, s, {}] as [string, Sampler<any>, object])]) {
      const seen: StepInfo[] = [];
      sampler(gaussianDenoiser, noise(4, 2, 7), sigmas, { ...opts, generator: new Generator(1), callback: (info: StepInfo) => seen.push({ ...info }) });
      assert.deepEqual(seen.map((s) => s.i), [0, 1, 2, 3, 4, 5, 6], name);
      assert.deepEqual(seen.map((s) => s.sigmaNext), want.slice(1), name);
      for (const s of seen) assert.ok(s.sigma >= want[s.i] - 1e-12, name);
    }
  });
});

test('same seed, same samples; another seed, other samples', () => {
  scope(() => {
    const xT = noise(32, 4, 8);
    for (const [name, sampler, opts] of stochastic) {
      const a = sampler(gaussianDenoiser, xT, karras(8), { ...opts, generator: new Generator(9) });
      const b = sampler(gaussianDenoiser, xT, karras(8), { ...opts, generator: new Generator(9) });
      const c = sampler(gaussianDenoiser, xT, karras(8), { ...opts, generator: new Generator(10) });
      assert.equal(maxAbs(a, b), 0, name);
      assert.ok(maxAbs(a, c) > 1e-3, name);
    }
  });
});

test('Langevin corrector keeps N(mu, s^2 + sigma^2) invariant and converges to it', () => {
  scope(() => {
    const sigma = 1.5;
    const v = S * S + sigma * sigma;
    const g = new Generator(11);
    const start = torch.randn([4000, 64], { generator: g, dtype: 'float64' }).mul(Math.sqrt(v)).add(MU);
    const kept = stats(langevinCorrector(gaussianDenoiser, start, sigma, { steps: 20, snr: 0.05, generator: g }));
    assert.ok(Math.abs(kept.mean - MU) < 0.01, `mean ${kept.mean}`);
    assert.ok(Math.abs(kept.std / Math.sqrt(v) - 1) < 0.01, `std ${kept.std} vs ${Math.sqrt(v)}`);
    // from a point mass: ULA's stationary variance is v / (1 - eps / 2v), eps = 2 snr^2 v here
    const point = torch.zeros([2000, 64], { dtype: 'float64' });
    const mixed = stats(langevinCorrector(gaussianDenoiser, point, sigma, { steps: 400, snr: 0.1, generator: g }));
    assert.ok(Math.abs(mixed.mean - MU) < 0.02, `mean ${mixed.mean}`);
    assert.ok(Math.abs(mixed.std / Math.sqrt(v) - 1) < 0.03, `std ${mixed.std} vs ${Math.sqrt(v)}`);
  });
});

test('sampling frees every temporary', () => {
  scope(() => {
    const xT = noise(16, 4, 12);
    const sigmas = karras(6);
    for (const [name, sampler, opts] of [...stochastic, ...deterministic.map(([n, s]) => [n, s, {}] as [string, Sampler<any>, object])]) {
      const g = new Generator(1);
      sampler(gaussianDenoiser, xT, sigmas, { ...opts, generator: g }).dispose(); // warm up
      const before = memory().liveTensors;
      const out = sampler(gaussianDenoiser, xT, sigmas, { ...opts, generator: g });
      assert.equal(memory().liveTensors, before + 1, `${name}: only the result is live`);
      out.dispose();
      g.dispose();
    }
  });
});

test('bad sampler options are named with their value', () => {
  scope(() => {
    const xT = noise(2, 2, 1), sig = karras(3);
    assert.throws(() => sampleEulerAncestral(gaussianDenoiser, xT, sig, { eta: -1 }), /sampleEulerAncestral: eta must be a finite number >= 0, got -1/);
    assert.throws(() => sampleDdim(gaussianDenoiser, xT, sig, { eta: NaN }), /sampleEulerAncestral: eta must be a finite number >= 0, got NaN/);
    assert.throws(() => sampleDdpm(gaussianDenoiser, xT, sig, { sNoise: -0.5 }), /sNoise must be a finite number >= 0, got -0.5/);
    assert.throws(() => sampleHeun(gaussianDenoiser, xT, sig, { sChurn: -1 }), /sampleHeun: sChurn must be a finite number >= 0, got -1/);
    assert.throws(() => sampleHeun(gaussianDenoiser, xT, sig, { sTmin: 5, sTmax: 1 }), /sampleHeun: need 0 <= sTmin <= sTmax, got sTmin 5 and sTmax 1/);
    assert.throws(() => langevinCorrector(gaussianDenoiser, xT, 1, { steps: 1.5 }), /langevinCorrector: steps must be an integer >= 0, got 1.5/);
    assert.throws(() => langevinCorrector(gaussianDenoiser, xT, 1, { snr: 0 }), /langevinCorrector: snr must be a positive number, got 0/);
  });
});

test('sigmas must decrease', () => {
  assert.throws(() => scope(() => sampleEuler(gaussianDenoiser, noise(2, 2, 1), tensor([1, 2, 0], { dtype: 'float64' }))), /strictly decreasing/);
});

/** The denoiser wrapped to count its calls. */
function counted(model: Denoiser): { d: Denoiser; calls: () => number } {
  let n = 0;
  return { d: (x, sigma, cond) => { n++; return model(x, sigma, cond); }, calls: () => n };
}

test('the sampler table: the stated cost per step is the number of denoiser calls, for every sampler and step count', () => {
  assert.deepEqual([...SAMPLER_NAMES].sort(), ['ddim', 'ddpm', 'dpmpp-2m', 'euler', 'euler-ancestral', 'heun', 'pc']);
  assert.deepEqual(deterministic.map(([n, , o]) => [n, o]), [['euler', 1], ['ddim', 1], ['heun', 2], ['dpmpp-2m', 2]]);
  scope(() => {
    const xT = noise(3, 2, 5);
    for (const name of SAMPLER_NAMES) {
      const info = SAMPLERS[name];
      for (const steps of [1, 2, 3, 7]) {
        // at default options, and with the options that make the deterministic ones stochastic (same cost)
        for (const opts of [{}, { eta: 0.5, sChurn: 10 }]) {
          const { d, calls } = counted(gaussianDenoiser);
          info.fn(d, xT, karrasSigmas(steps, { sigmaMin: SIGMA_MIN, sigmaMax: SIGMA_MAX }), { ...opts, generator: new Generator(0) });
          assert.equal(calls(), (steps - 1) * info.evalsPerStep + info.evalsLastStep, `${name}, ${steps} steps, ${JSON.stringify(opts)}`);
          assert.equal(calls(), samplerNfe(name, steps), `${name}, ${steps} steps: samplerNfe`);
        }
      }
    }
  });
  // the figures a user sees in the CLI: Heun 18 steps = 35 evaluations
  assert.equal(samplerNfe('heun', 18), 35);
  assert.equal(samplerNfe('euler', 20), 20);
});

test('stepsForNfe is the most steps within an evaluation budget', () => {
  for (const name of SAMPLER_NAMES) {
    for (let nfe = 1; nfe <= 40; nfe++) {
      const steps = stepsForNfe(name, nfe);
      assert.ok(steps >= 1, `${name} nfe ${nfe}`);
      assert.ok(steps === 1 || samplerNfe(name, steps) <= nfe, `${name}: ${steps} steps cost ${samplerNfe(name, steps)} > ${nfe}`);
      assert.ok(samplerNfe(name, steps + 1) > nfe, `${name}: ${steps + 1} steps would fit in ${nfe}`);
    }
  }
  assert.equal(stepsForNfe('heun', 20), 10);
  assert.equal(samplerNfe('heun', stepsForNfe('heun', 50)), 49);
  assert.equal(stepsForNfe('dpmpp-2m', 10), 10);
  assert.throws(() => stepsForNfe('heun', 0), /stepsForNfe: nfe \(denoiser evaluations\) must be a positive integer, got 0/);
  assert.throws(() => stepsForNfe('heun', 2.5), /got 2.5/);
  assert.throws(() => samplerNfe('euler', 0), /samplerNfe: steps must be a positive integer, got 0/);
});

test('the table says which samplers are stochastic: only those depend on the generator', () => {
  scope(() => {
    const xT = noise(8, 4, 6);
    for (const name of SAMPLER_NAMES) {
      const run = (seed: number) => SAMPLERS[name].fn(gaussianDenoiser, xT, karras(5), { generator: new Generator(seed) });
      const diff = maxAbs(run(1), run(2));
      if (SAMPLERS[name].stochastic) assert.ok(diff > 1e-3, `${name} is stochastic: two seeds differ (${diff})`);
      else assert.equal(diff, 0, `${name} is deterministic`);
    }
  });
  assert.throws(() => samplerInfo('rk45'), /sampler: expected one of euler, euler-ancestral, ddpm, ddim, heun, dpmpp-2m, pc, got "rk45"/);
  assert.throws(() => samplerInfo('toString'), /sampler: expected one of/);
});

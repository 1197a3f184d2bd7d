// Schedules against their closed forms: VP identities, monotone log-SNR, endpoints, inverses,
// g² = −dλ/dt·σ_t² for VP, and the spacing of the discretisations (EDM, Karras et al. 2022, Eq. 5).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { functions as torch, tensor } from '../../src/tensor';
import {
  edmSigma, edmToVpSigma, edmToVpX, karrasSigmas, scheduleSigmas, sigmaFromLogSnr, uniformLogSnrSigmas,
  veSchedule, veSigmas, vpCosineSchedule, vpLinearSchedule, vpSigmas, vpToEdmSigma, vpToEdmX,
} from '../../src/diffusion/schedules';

function close(a: number, b: number, tol: number, what = ''): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
}

const ts = torch.linspace(0, 1, 101, { dtype: 'float64' });

test('VP schedules: α² + σ² = 1, λ decreasing, endpoints', () => {
  for (const s of [vpLinearSchedule(), vpCosineSchedule()]) {
    const a = s.alpha(ts).dataSync(), sg = s.sigma(ts).dataSync(), l = s.logSnr(ts).dataSync();
    for (let i = 0; i < a.length; i++) {
      close(a[i] * a[i] + sg[i] * sg[i], 1, 1e-12, `α²+σ² at ${i}`);
      if (i > 0) close(l[i], Math.log((a[i] * a[i]) / (sg[i] * sg[i])), 1e-7 * Math.max(1, Math.abs(l[i])), `λ at ${i}`);
      if (i > 0) assert.ok(l[i] < l[i - 1], `λ decreasing at ${i}`);
    }
    close(a[0], 1, 1e-15, 'α(0) = 1');
    assert.ok(sg[0] < 1e-7, `σ(0) ≈ 0: ${sg[0]}`);
  }
  close(vpLinearSchedule().alpha(1).item(), Math.exp(-0.25 * 19.9 - 0.05), 1e-15, 'linear α(1)');
  assert.ok(vpCosineSchedule().alpha(1).item() < 1e-15, 'cosine α(1) ≈ 0');
  // Nichol & Dhariwal 2021, Eq. 17 at t = 0.5
  const s = 0.008, f = (t: number) => Math.cos(((t + s) / (1 + s)) * Math.PI / 2) ** 2;
  close(vpCosineSchedule().alpha(0.5).item() ** 2, f(0.5) / f(0), 1e-15, 'cosine ᾱ(½)');
});

test('VE schedule: geometric σ, α = 1, endpoints', () => {
  const s = veSchedule({ sigmaMin: 0.02, sigmaMax: 100 });
  close(s.sigma(0).item(), 0.02, 1e-15, 'σ(0)');
  close(s.sigma(1).item(), 100, 1e-12, 'σ(1)');
  close(s.sigma(0.5).item(), Math.sqrt(0.02 * 100), 1e-13, 'σ(½) geometric mean');
  assert.equal(s.alpha(0.3).item(), 1);
  close(s.logSnr(0.5).item(), -Math.log(2), 1e-13, 'λ(½)');
});

test('g² = d σ²/dt for VE, −λ′(t)·σ_t² for VP; tFromSigma inverts σ_t/α_t', () => {
  const h = 1e-6;
  for (const s of [vpLinearSchedule(), vpCosineSchedule(), veSchedule()]) {
    for (const t of [0.05, 0.3, 0.7, 0.95]) {
      const dl = (s.logSnr(t + h).item() - s.logSnr(t - h).item()) / (2 * h);
      const sig = s.sigma(t).item(), g2 = s.g2(t).item();
      // VP: β = −d log α²/dt = −σ_t²·λ′; VE: dσ²/dt = −σ²·λ′ too (λ = −2 log σ)
      close(g2, -dl * sig * sig, 1e-6 * Math.max(1, g2), `${s.kind} g² at ${t}`);
      close(s.tFromSigma(edmSigma(s, t)).item(), t, 1e-10, `${s.kind} inverse at ${t}`);
    }
  }
});

test('VP ↔ EDM conversions', () => {
  const s = vpLinearSchedule();
  const a = s.alpha(0.4), sg = s.sigma(0.4);
  const edm = vpToEdmSigma(a, sg);
  close(edm.item(), Math.exp(-0.5 * s.logSnr(0.4).item()), 1e-12, 'σ = exp(−λ/2)');
  close(sigmaFromLogSnr(s.logSnr(0.4)).item(), edm.item(), 1e-12, 'sigmaFromLogSnr');
  const back = edmToVpSigma(edm);
  close(back.alpha.item(), a.item(), 1e-14, 'α round trip');
  close(back.sigma.item(), sg.item(), 1e-14, 'σ round trip');
  const x = tensor([[1.5, -2, 0.25]], { dtype: 'float64' });
  const rt = edmToVpX(vpToEdmX(x, a), a).dataSync();
  [1.5, -2, 0.25].forEach((v, i) => close(rt[i], v, 1e-14, 'x round trip'));
  close(vpToEdmX(x, 0.5).dataSync()[0], 3, 0, 'x/α');
});

test('karrasSigmas: endpoints, final zero, ρ-spacing (EDM Eq. 5)', () => {
  const sig = karrasSigmas(10, { sigmaMin: 0.002, sigmaMax: 80, rho: 7 }).dataSync();
  assert.equal(sig.length, 11);
  close(sig[0], 80, 1e-12, 'σ_max');
  close(sig[9], 0.002, 1e-15, 'σ_min');
  assert.equal(sig[10], 0);
  const roots = sig.slice(0, 10).map((x) => x ** (1 / 7));
  for (let i = 1; i < 10; i++) close(roots[i] - roots[i - 1], (0.002 ** (1 / 7) - 80 ** (1 / 7)) / 9, 1e-12, `σ^{1/ρ} step ${i}`);
  // ρ = 1 is linear in σ
  const lin = karrasSigmas(5, { sigmaMin: 1, sigmaMax: 5, rho: 1 }).dataSync();
  [5, 4, 3, 2, 1, 0].forEach((v, i) => close(lin[i], v, 1e-12, `linear ${i}`));
  assert.deepEqual(karrasSigmas(1, { sigmaMax: 3 }).dataSync(), [3, 0]);
  assert.throws(() => karrasSigmas(0), /n ≥ 1/);
  assert.throws(() => karrasSigmas(5, { sigmaMin: 80, sigmaMax: 1 }), /karrasSigmas: need 0 < sigmaMin < sigmaMax < Infinity, got sigmaMin 80 and sigmaMax 1/);
  assert.throws(() => karrasSigmas(5, { sigmaMin: 0 }), /got sigmaMin 0 and sigmaMax 80/);
  assert.throws(() => karrasSigmas(5, { rho: 0 }), /karrasSigmas: rho must be a positive number, got 0/);
});

test('vpSigmas, veSigmas, uniformLogSnrSigmas, scheduleSigmas end at 0 and decrease', () => {
  const vp = vpSigmas(8).dataSync();
  close(vp[0], Math.sqrt(Math.exp(0.5 * 19.8 + 0.1) - 1), 1e-10, 'VP σ(1), EDM Table 1');
  close(vp[7], Math.sqrt(Math.exp(0.5 * 19.8 * 1e-6 + 0.1 * 1e-3) - 1), 1e-12, 'VP σ(ε_s)');
  const ve = veSigmas(5, { sigmaMin: 0.02, sigmaMax: 100 }).dataSync();
  close(ve[0], 100, 1e-12, 'VE σ_max');
  close(ve[4], 0.02, 1e-14, 'VE σ_min');
  for (let i = 1; i < 4; i++) close(ve[i] / ve[i - 1], ve[i + 1] / ve[i], 1e-12, 'geometric');
  const ls = uniformLogSnrSigmas(4, { logSnrMin: -10, logSnrMax: 10 }).dataSync();
  close(ls[0], Math.exp(5), 1e-10, 'λ_min');
  close(ls[3], Math.exp(-5), 1e-14, 'λ_max');
  for (const arr of [vp, ve, ls, scheduleSigmas(vpCosineSchedule(), 6).dataSync()]) {
    assert.equal(arr[arr.length - 1], 0);
    for (let i = 1; i < arr.length; i++) assert.ok(arr[i] < arr[i - 1], 'decreasing');
  }
});

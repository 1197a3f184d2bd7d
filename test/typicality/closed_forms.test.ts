// Typicality closed forms against independent computations: Simpson integration of the chi density,
// Monte Carlo with fixed seeds, the Lambert W identity, known values of log Γ, and the numbers the
// posts quote (Dieleman, "Musings on typicality" and its addendum, 2020).
import { test } from 'node:test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { strict as assert } from 'node:assert';
import { Generator, scope, tensor } from '../../src/tensor';
import {
  EULER_GAMMA, MIRAGE_TYPICAL_RADIUS_LIMIT, binomial, chiCdf, chiLogPdf, chiMode, chiPdf, coinTable,
  entropyFromLogLikelihoods, gammaP, gammaQ, gaussianAnnulusMass, gaussianEntropy, gaussianLogDensity,
  gaussianTypicalSet, inTypicalSet, lambertW0, lambertWm1, lgamma, logUnitSphereArea, mirageEntropy,
  mirageLogDensity, mirageTypicalRadius, sampleGaussian, sampleMirage, unitSphereArea,
} from '../../src/typicality';
import { typicalityLines, typicalityReport, writeTypicalityReport } from '../../src/typicality/report';

function close(actual: number, expected: number, tol: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

function simpson(f: (x: number) => number, a: number, b: number, n = 2000): number {
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return (s * h) / 3;
}

test('lgamma matches known values of Γ', () => {
  const factorial = (n: number) => { let f = 1; for (let i = 2; i <= n; i++) f *= i; return f; };
  for (let n = 1; n <= 20; n++) close(lgamma(n), Math.log(factorial(n - 1)), 1e-13 * Math.max(1, Math.log(factorial(n - 1))), `lgamma(${n})`);
  close(lgamma(0.5), 0.5 * Math.log(Math.PI), 1e-14, 'Γ(½) = √π');
  close(lgamma(1.5), Math.log(Math.sqrt(Math.PI) / 2), 1e-14, 'Γ(3/2) = √π/2');
  close(lgamma(-0.5), Math.log(2 * Math.sqrt(Math.PI)), 1e-14, '|Γ(−½)| = 2√π');
  let s = lgamma(0.5);
  for (let k = 0; k < 50; k++) s += Math.log(k + 0.5);
  close(lgamma(50.5), s, 1e-11, 'recurrence');
  close(lgamma(1e6), 1e6 * Math.log(1e6) - 1e6 - 0.5 * Math.log(1e6) + 0.5 * Math.log(2 * Math.PI) + 1 / 12e6, 1e-6, 'Stirling at 1e6');
  assert.equal(lgamma(0), Infinity);
  assert.equal(lgamma(-3), Infinity);
});

test('incomplete gamma: P + Q = 1, exponential and χ²₂ closed forms', () => {
  for (const a of [0.5, 1, 2.5, 10, 50]) {
    for (const x of [0.01, 0.5, 1, 3, 10, 49, 51, 120]) close(gammaP(a, x) + gammaQ(a, x), 1, 1e-13, `P+Q a=${a} x=${x}`);
  }
  for (const x of [0.1, 1, 5, 20]) close(gammaP(1, x), 1 - Math.exp(-x), 1e-14, `P(1, ${x})`); // exponential cdf
  // P(2, x) = 1 − e^{−x} (1 + x)
  for (const x of [0.1, 1, 5, 20]) close(gammaP(2, x), 1 - Math.exp(-x) * (1 + x), 1e-14, `P(2, ${x})`);
  assert.throws(() => gammaP(0, 1), /a > 0/);
});

test('chi pdf integrates (Simpson) to the chi cdf, and its mode is sqrt(K − 1)', () => {
  for (const K of [1, 2, 3, 10, 100]) {
    const lo = K === 1 ? 0 : 0;
    for (const r of [0.5, Math.sqrt(K), Math.sqrt(K) + 2]) {
      close(simpson((s) => chiPdf(s, K), lo, r, 4000), chiCdf(r, K), 1e-9, `K=${K} r=${r}`);
    }
    close(simpson((s) => chiPdf(s, K), 0, Math.sqrt(K) + 15, 8000), 1, 1e-9, `K=${K} total mass`);
    if (K > 1) {
      const m = chiMode(K);
      assert.ok(chiLogPdf(m, K) > chiLogPdf(m - 1e-3, K) && chiLogPdf(m, K) > chiLogPdf(m + 1e-3, K), `mode K=${K}`);
    }
  }
  close(chiMode(100), Math.sqrt(99), 0, 'mode');
  // χ_1 is the half-Gaussian: f(r) = 2 φ(r)
  close(chiPdf(0.7, 1), (2 / Math.sqrt(2 * Math.PI)) * Math.exp(-0.245), 1e-15, 'half-Gaussian');
});

test("the post's 100-D Gaussian annulus numbers", () => {
  const m911 = gaussianAnnulusMass(100, 9, 11), m812 = gaussianAnnulusMass(100, 8, 12), below8 = chiCdf(8, 100);
  assert.ok(m911 > 0.84 && m911 < 0.85, `just over 84% in [9, 11]: ${m911}`);
  assert.ok(m812 > 0.99, `more than 99% in [8, 12]: ${m812}`);
  assert.ok(below8 > 0.0015 && below8 < 0.0025, `about 0.2% below 8: ${below8}`);
  // Monte Carlo with a fixed seed: 20000 radii of 100-D standard Gaussians
  scope(() => {
    const r = sampleGaussian(20000, 100, new Generator(1)).pow(2).sum([1]).sqrt().dataSync();
    const frac = (lo: number, hi: number) => r.filter((v) => v >= lo && v < hi).length / r.length;
    close(frac(9, 11), m911, 4 * Math.sqrt((m911 * (1 - m911)) / r.length), 'MC [9, 11]');
    close(frac(8, 12), m812, 4 * Math.sqrt((m812 * (1 - m812)) / r.length) + 1e-3, 'MC [8, 12]');
    close(frac(0, 8), below8, 4 * Math.sqrt((below8 * (1 - below8)) / r.length) + 1e-3, 'MC below 8');
  });
  // typical sets: the ε-annulus around sqrt(K); wider ε, more mass; width ≈ 4 holds most of it
  const t = gaussianTypicalSet(100, 0.2);
  close(t.rMin, Math.sqrt(60), 1e-12, 'rMin');
  close(t.rMax, Math.sqrt(140), 1e-12, 'rMax');
  assert.ok(t.mass > 0.99, `width ${t.width}: mass ${t.mass}`);
  assert.ok(gaussianTypicalSet(100, 0.05).mass < gaussianTypicalSet(100, 0.1).mass);
});

test('Lambert W: W(x) e^{W(x)} = x on both branches', () => {
  for (const x of [-1 / Math.E + 1e-12, -0.3, -0.1, -1e-5, 0, 1e-8, 0.5, 1, Math.E, 10, 1e3, 1e10, 1e100]) {
    const w = lambertW0(x);
    assert.ok(w >= -1, `W0(${x}) = ${w} >= -1`);
    close(w * Math.exp(w), x, 1e-14 * Math.max(1, Math.abs(x)), `W0(${x})`);
  }
  close(lambertW0(Math.E), 1, 1e-15, 'W0(e) = 1');
  close(lambertW0(1), 0.5671432904097838, 1e-15, 'omega constant');
  for (const x of [-1 / Math.E + 1e-12, -0.3, -0.2, -0.1, -1e-3, -1e-10, -1e-300]) {
    const w = lambertWm1(x);
    assert.ok(w <= -1, `W−1(${x}) = ${w} <= -1`);
    close(w * Math.exp(w), x, 1e-15 * Math.abs(x) * Math.max(4, Math.abs(w)), `W−1(${x})`); // e^w amplifies w's rounding by |w|
  }
  close(lambertWm1(-2 * Math.exp(-2)), -2, 1e-13, 'W−1(−2e^{−2}) = −2');
  close(lambertW0(-1 / Math.E), -1, 1e-7, 'branch point');
  assert.throws(() => lambertWm1(0.5), /-1\/e <= x < 0/);
});

test('entropies: H(N_K) = K/2 log 2πe, H(M_1) = H(N_1), and Monte Carlo −log f agrees', () => {
  close(gaussianEntropy(1), 0.5 * Math.log(2 * Math.PI * Math.E), 1e-15, 'H(N_1)');
  close(mirageEntropy(1), gaussianEntropy(1), 1e-14, 'H(M_1) = H(N_1)');
  close(gaussianEntropy(100), 50 * Math.log(2 * Math.PI * Math.E), 1e-12, 'H(N_100)');
  // M_1 ≡ N_1: the densities agree
  for (const r of [0, 0.3, 2]) close(mirageLogDensity(r, 1), gaussianLogDensity(r, 1), 1e-14, `f_M1(${r})`);
  scope(() => {
    for (const K of [3, 10, 100]) {
      const g = new Generator(7 + K);
      const rm = sampleMirage(40000, K, g).pow(2).sum([1]).sqrt().dataSync();
      const nll = rm.map((r) => -mirageLogDensity(r, K));
      const h = entropyFromLogLikelihoods(nll.map((v) => -v));
      const sd = Math.sqrt(nll.reduce((s, v) => s + (v - h) ** 2, 0) / nll.length);
      close(h, mirageEntropy(K), 4 * sd / Math.sqrt(nll.length), `MC H(M_${K})`);
      const rn = sampleGaussian(20000, K, g).pow(2).sum([1]).sqrt().dataSync();
      const hn = entropyFromLogLikelihoods(rn.map((r) => gaussianLogDensity(r, K)));
      close(hn, gaussianEntropy(K), 4 * Math.sqrt(K / 2) / Math.sqrt(rn.length), `MC H(N_${K})`);
    }
  });
  // the mirage piles up mass near the mode: its entropy is far below the Gaussian's
  assert.ok(mirageEntropy(100) < gaussianEntropy(100));
});

test('the mirage sampler: radius ~ |N(0, K)|, direction uniform, seeded', () => {
  scope(() => {
    const K = 10;
    const x = sampleMirage(30000, K, new Generator(3));
    assert.deepEqual(x.shape, [30000, K]);
    const r = x.pow(2).sum([1]).sqrt().dataSync();
    // half-Gaussian cdf with scale sqrt(K): P(½, r²/(2K)) = erf(r / sqrt(2K))
    for (const q of [0.5, 2, 3.16, 6]) {
      const emp = r.filter((v) => v <= q).length / r.length;
      const exact = gammaP(0.5, (q * q) / (2 * K));
      close(emp, exact, 4 * Math.sqrt((exact * (1 - exact)) / r.length) + 1e-3, `P(r <= ${q})`);
    }
    // direction: each coordinate of x/|x| has mean 0 and second moment 1/K
    const u = x.div(x.pow(2).sum([1], true).sqrt());
    close(u.mean().item(), 0, 0.01, 'direction mean');
    close(u.pow(2).mean([0]).max().item(), 1 / K, 0.01, 'direction second moment');
    assert.deepEqual(sampleMirage(4, 3, new Generator(5)).dataSync(), sampleMirage(4, 3, new Generator(5)).dataSync());
    // the flattened coordinates of M_100 are leptokurtic, N_100's are not
    const kurt = (v: number[]) => {
      const m = v.reduce((s, a) => s + a, 0) / v.length;
      const m2 = v.reduce((s, a) => s + (a - m) ** 2, 0) / v.length;
      return v.reduce((s, a) => s + (a - m) ** 4, 0) / v.length / (m2 * m2);
    };
    const kn = kurt(sampleGaussian(2000, 100, new Generator(9)).dataSync());
    const km = kurt(sampleMirage(2000, 100, new Generator(9)).dataSync());
    close(kn, 3, 0.1, 'Gaussian kurtosis');
    assert.ok(km > 8, `mirage kurtosis ${km}`);
  });
});

test('the mirage typical radius: solves its equation, r/sqrt(K) → 0.52984', () => {
  assert.equal(mirageTypicalRadius(1), 1);
  for (const K of [2, 3, 10, 100, 1000, 1e5]) {
    const r = mirageTypicalRadius(K);
    // typical set: f_MK(x) = exp(−H(M_K))
    close(-mirageLogDensity(r, K), mirageEntropy(K), 1e-9 * Math.max(1, mirageEntropy(K)), `K=${K}`);
    // equivalently r²/(2K) + (K − 1) log r = ½ + (K − 1)/2 (log(K/2) − γ)
    close((r * r) / (2 * K) + (K - 1) * Math.log(r), 0.5 + ((K - 1) / 2) * (Math.log(K / 2) - EULER_GAMMA), 1e-8 * K, `eq K=${K}`);
  }
  close(mirageTypicalRadius(1e8) / 1e4, 0.52984, 5e-6, 'K = 1e8');
  close(mirageTypicalRadius(1e6) / 1e3, 0.52984, 5e-5, 'K = 1e6');
  close(MIRAGE_TYPICAL_RADIUS_LIMIT, 0.52984, 5e-6, 'limit');
  // between the mode (0) and the mean sqrt(2K/π) of the half-Gaussian radius, below sqrt(K)
  for (const K of [10, 1000]) assert.ok(mirageTypicalRadius(K) < Math.sqrt((2 * K) / Math.PI));
});

test('unit sphere area: 2π^{K/2}/Γ(K/2), peaks at K = 7, tends to 0', () => {
  close(unitSphereArea(1), 2, 1e-14, 'two points');
  close(unitSphereArea(2), 2 * Math.PI, 1e-13, 'circle');
  close(unitSphereArea(3), 4 * Math.PI, 1e-13, 'sphere');
  close(unitSphereArea(4), 2 * Math.PI * Math.PI, 1e-12, '3-sphere');
  assert.equal(unitSphereArea(0), 0);
  const areas = Array.from({ length: 31 }, (_, K) => unitSphereArea(K));
  assert.equal(areas.indexOf(Math.max(...areas)), 7);
  assert.ok(areas[30] < 1e-2 && logUnitSphereArea(1000) < -1000);
});

test("the unfair-coin table (16 tosses, p(heads) = 3/4)", () => {
  const rows = coinTable();
  assert.equal(rows.length, 17);
  close(rows.reduce((s, r) => s + r.pHeads, 0), 1, 1e-14, 'p(#heads) sums to 1');
  assert.equal(rows.reduce((s, r) => s + r.sequences, 0), 2 ** 16);
  const bySeq = rows.reduce((a, b) => (b.pSequence > a.pSequence ? b : a));
  const byCount = rows.reduce((a, b) => (b.pHeads > a.pHeads ? b : a));
  assert.equal(bySeq.heads, 16);
  assert.equal(bySeq.pSequence.toExponential(2), '1.00e-2');
  assert.equal(byCount.heads, 12);
  assert.equal(byCount.pHeads.toExponential(2), '2.25e-1');
  assert.equal(rows[12].sequences, 1820);
  assert.equal(binomial(16, 8), 12870);
  close(rows[0].pSequence, 0.25 ** 16, 0, 'all tails');
});

test('typical-set membership and the entropy estimate', () => {
  const H = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)); // the coin's entropy per toss
  const logp = (h: number) => h * Math.log(0.75) + (16 - h) * Math.log(0.25);
  assert.ok(inTypicalSet(logp(12), 16, H, 0.05), '12 heads is typical');
  assert.ok(!inTypicalSet(logp(16), 16, H, 0.05), 'all heads is not');
  assert.ok(!inTypicalSet(logp(6), 16, H, 0.05), '6 heads is not');
  close(entropyFromLogLikelihoods([-1, -2, -3]), 2, 0, 'mean of −log p');
  scope(() => close(entropyFromLogLikelihoods(tensor([-1, -2, -3])), 2, 1e-12, 'tensor'));
  assert.throws(() => entropyFromLogLikelihoods([]), /no log-likelihoods/);
  assert.throws(() => inTypicalSet(0, 0, 1, 0.1), /n > 0/);
});

test('typicalityReport: results.json and index.html with the figures; the OOD section from ood.json', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typicality-test-'));
  const { results: r, report } = typicalityReport({ dir, samples: 2000, seed: 3 });
  assert.equal(report, path.join(dir, 'index.html'));
  const printed = typicalityLines(r).join('\n');
  assert.throws(() => typicalityReport({ dir, samples: 1e9 }), /samples must be an integer in \[100, 10000000\], got 1000000000/);
  assert.match(printed, /84\.28% of radii in \[9, 11\], 99\.54% in \[8, 12\], 0\.193% below 8/);
  assert.match(printed, /H\(N_1\) = 1\.418939, H\(M_1\) = 1\.418939/);
  assert.match(printed, /K=1e8 0\.52984/);
  assert.match(printed, /peaks at K = 7/);
  assert.match(printed, /all heads \(1\.00e-2\); most likely count: 12 heads \(2\.25e-1\)/);
  const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
  assert.equal(results.coin.length, 17);
  assert.deepEqual(results.histograms.map((h: { K: number }) => h.K), [1, 3, 10, 100]);
  let html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
  assert.ok(!/<script/.test(html), 'self-contained');
  assert.equal((html.match(/<svg/g) ?? []).length, 13); // 8 histograms, typical sets, 2 coin, radius, sphere area
  assert.match(html, /OOD score histograms and ROC curves/);
  assert.match(html, /No OOD results yet/);
  // the OOD experiment's file fills the hook
  fs.writeFileSync(path.join(dir, 'ood.json'), JSON.stringify({
    roc: { likelihood: [[0, 0], [0.5, 0.4], [1, 1]], typicality: [[0, 0], [0.1, 0.9], [1, 1]] },
    histograms: { 'in-distribution': { bins: [0, 1, 2, 3], counts: [1, 5, 2] } },
    auroc: { typicality: 0.95 },
  }));
  writeTypicalityReport(dir);
  html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
  assert.equal((html.match(/<svg/g) ?? []).length, 16);
  assert.match(html, /ROC: typicality/);
  assert.match(html, /in-distribution/);
  assert.match(html, /auroc/);
  fs.rmSync(dir, { recursive: true, force: true });
});

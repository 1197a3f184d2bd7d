// The diffusion model as the CLI uses it: sample-quality metrics against closed forms, the
// parameterisations' coefficients, the importance-sampled likelihood weighting against quadrature,
// generate(), and `refinery train diffusion` / `sample` end to end on a tiny network, with resume.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, functions as torch, memory, scope, tensor } from '../../src/tensor';
import { featureStats, frechetDistance, meanPairwiseDistance, sqrtPsd, withinClassDiversity } from '../../src/diffusion/metrics';
import { coefficientsFor, denoiserOf, generate, loadDiffusionModel, x0Coefficients } from '../../src/diffusion/model';
import { likelihoodImportance, likelihoodWeighting } from '../../src/diffusion/objectives';
import { precondition } from '../../src/diffusion/precondition';
import { edmSigma, karrasSigmas, vpLinearSchedule } from '../../src/diffusion/schedules';
import { modules } from '../../src/nn/module';
import { UNet } from '../../src/diffusion/unet';
import { PNG } from 'pngjs';

const readPng = (f: string) => PNG.sync.read(fs.readFileSync(f));

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
const stats = (mu: number[], cov: number[][]) => ({ mu: tensor(mu, { dtype: 'float64' }), cov: tensor(cov, { dtype: 'float64' }), n: 0 });

test('Fréchet distance: zero for equal Gaussians, closed forms for diagonal and 2×2 covariances', () => {
  scope(() => {
    const a = stats([1, 2, 3], [[2, 0.3, 0], [0.3, 1, 0.2], [0, 0.2, 0.5]]);
    close(frechetDistance(a, a), 0, 1e-9, 'equal');
    // diagonal: |mu1 - mu2|² + Σ (sqrt a_i − sqrt b_i)²
    const d1 = stats([0, 0, 0], [[4, 0, 0], [0, 1, 0], [0, 0, 9]]);
    const d2 = stats([1, -1, 2], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    close(frechetDistance(d1, d2), 6 + 1 + 0 + 4, 1e-9, 'diagonal');
    // 2×2: tr sqrt(S1^½ S2 S1^½) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)) (non-commuting S1, S2)
    const s1 = [[2, 0.8], [0.8, 1]], s2 = [[1, -0.5], [-0.5, 3]];
    const trS1S2 = s1[0][0] * s2[0][0] + s1[0][1] * s2[1][0] + s1[1][0] * s2[0][1] + s1[1][1] * s2[1][1];
    const det = (m: number[][]) => m[0][0] * m[1][1] - m[0][1] * m[1][0];
    const trSqrt = Math.sqrt(trS1S2 + 2 * Math.sqrt(det(s1) * det(s2)));
    close(frechetDistance(stats([0.5, 0], s1), stats([0, 1], s2)), 0.25 + 1 + 3 + 4 - 2 * trSqrt, 1e-9, '2x2');
    // symmetric in its arguments
    close(frechetDistance(stats([0, 1], s2), stats([0.5, 0], s1)), 0.25 + 1 + 3 + 4 - 2 * trSqrt, 1e-9, '2x2 swapped');
    const r = sqrtPsd(tensor(s1, { dtype: 'float64' }));
    assert.ok(r.matmul(r).sub(tensor(s1, { dtype: 'float64' })).abs().max().item() < 1e-12, 'sqrtPsd squares back');
  });
});

test('featureStats of samples converges to the generating Gaussian; FD of two sample sets of one Gaussian is small', () => {
  scope(() => {
    const g = new Generator(0);
    const L = tensor([[1, 0, 0], [0.5, 2, 0], [-0.3, 0.2, 0.7]], { dtype: 'float64' });
    const draw = (n: number) => torch.randn([n, 3], { generator: g, dtype: 'float64' }).matmul(L.t()).add(tensor([1, -2, 0.5], { dtype: 'float64' }));
    const s = featureStats(draw(200000));
    const cov = L.matmul(L.t());
    assert.ok(s.cov.sub(cov).abs().max().item() < 0.03, 'covariance');
    assert.ok(s.mu.sub(tensor([1, -2, 0.5], { dtype: 'float64' })).abs().max().item() < 0.02, 'mean');
    const fdSame = frechetDistance(featureStats(draw(20000)), featureStats(draw(20000)));
    const shifted = featureStats(draw(20000).add(tensor([0.5, 0, 0], { dtype: 'float64' })));
    const fdShift = frechetDistance(featureStats(draw(20000)), shifted);
    assert.ok(fdSame < 0.01, `same distribution: ${fdSame}`);
    close(fdShift, 0.25, 0.03, 'mean shift by 0.5 -> 0.25');
  });
});

test('mean pairwise distance and within-class diversity by hand', () => {
  scope(() => {
    const f = tensor([[0, 0], [3, 4], [0, 8]], { dtype: 'float64' }); // distances 5, 8, 5
    close(meanPairwiseDistance(f), 6, 1e-12, 'mean of 5, 8, 5');
    const feats = tensor([[0, 0], [3, 4], [10, 10], [10, 12], [7, 7]], { dtype: 'float64' });
    const d = withinClassDiversity(feats, [0, 0, 1, 1, 2], 3);
    assert.deepEqual(d.perClass.slice(0, 2), [5, 2]);
    assert.ok(Number.isNaN(d.perClass[2]), 'a class with one sample has no diversity');
    close(d.mean, 3.5, 1e-12, 'mean over classes with >= 2 samples');
    assert.throws(() => meanPairwiseDistance(tensor([[1, 2]])), /N >= 2/);
    assert.throws(() => withinClassDiversity(feats, [0, 1], 2), /2 labels for 5/);
  });
});

test('importance-sampled likelihood weighting: λ_lik·u/q = C/σ², and the estimator is unbiased (vs quadrature)', () => {
  scope(() => {
    const vp = vpLinearSchedule();
    const tMin = 1e-3;
    const is = likelihoodImportance(vp, { tMin });
    close(is.sigmaMin, edmSigma(vp, tMin).item(), 1e-12, 'sigmaMin');
    const C = (2 * Math.log(is.sigmaMax / is.sigmaMin)) / (1 - tMin);
    const sig = tensor([0.01, 0.3, 1, 7, 100], { dtype: 'float64' });
    const w = is.weighting(sig).dataSync();
    sig.dataSync().forEach((s, i) => close(w[i], C / (s * s), 1e-9 * (C / (s * s)), `w(${s})`));
    // E_{t ~ U[tMin, 1]}[λ_lik(σ(t)) f(σ(t))] by Simpson vs the importance-sampled Monte Carlo mean
    const f = (s: Tensor) => s.pow(4).div(s.square().add(1).square()); // bounded, keeps λ·f integrable
    const n = 20000;
    const t = torch.linspace(tMin, 1, n + 1, { dtype: 'float64' });
    const s = edmSigma(vp, t);
    const vals = likelihoodWeighting(vp)(s).mul(f(s)).dataSync();
    let simpson = vals[0] + vals[n];
    for (let i = 1; i < n; i++) simpson += (i % 2 ? 4 : 2) * vals[i];
    const exact = (simpson * ((1 - tMin) / n)) / 3 / (1 - tMin);
    const draws = is.sigmaSampler(400000, new Generator(1));
    const terms = is.weighting(draws).mul(f(draws));
    const mc = terms.mean().item() as number;
    const se = (terms.std().item() as number) / Math.sqrt(400000);
    assert.ok(Math.abs(mc - exact) < 4 * se, `importance MC ${mc} vs quadrature ${exact} (se ${se})`);
    assert.throws(() => likelihoodImportance({ ...vp, kind: 've' }), /VP schedule/);
  });
});

test('prediction coefficients: edm, eps (D = x − σF) and x0 (D = F) denoisers', () => {
  scope(() => {
    const sig = tensor([0.1, 1, 10], { dtype: 'float64' });
    const x0c = x0Coefficients()(sig);
    assert.deepEqual(Array.from(x0c.cSkip.dataSync()), [0, 0, 0]);
    assert.deepEqual(Array.from(x0c.cOut.dataSync()), [1, 1, 1]);
    const eps = coefficientsFor('eps', 0.5)(sig);
    assert.deepEqual(Array.from(eps.cOut.dataSync()), [-0.1, -1, -10]);
    const edm = coefficientsFor('edm', 0.5)(sig);
    close(edm.cSkip.dataSync()[1], 0.25 / 1.25, 1e-12, 'edm c_skip(1)');
    assert.throws(() => coefficientsFor('v' as never, 0.5), /prediction: expected one of edm, eps, x0/);
  });
});

const tinyNet = () => new UNet({ inChannels: 1, outChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1, imageSize: 28, attentionResolutions: [14], numHeads: 2, numClasses: 10, generator: new Generator(3) });

/** tinyNet with a non-zero output layer (a zero-initialised one would denoise to 0 whatever the noise), optionally in float64. */
function noisyNet(dtype: 'float32' | 'float64'): UNet {
  const net = tinyNet();
  (net.outConv.W as Tensor).requiresGrad_(false).normal_(0, 0.05, { generator: new Generator(5) });
  // UNet has no dtype option: swap each module's tensor fields for float64 copies
  if (dtype === 'float64') for (const m of modules(net)) for (const [k, v] of Object.entries(m)) if (v instanceof Tensor) (m as unknown as Record<string, Tensor>)[k] = v.detach().to('float64');
  return net;
}

test('generate: deterministic per seed, in [-1, 1], every guidance path, bad sampler named', () => {
  scope(() => {
    const d = denoiserOf(noisyNet('float32'), { prediction: 'edm', sigmaData: 0.5 });
    // The same network in float64. The sampler follows it: float32 noise plus a float64 D promotes x to float64.
    // Records max |F| and the max |x| evaluated at σ_min, for the float32 bound below.
    const net64 = noisyNet('float64');
    let fMax = 0, xAtMin = 0;
    const d64 = precondition((xIn, cNoise, extra) => {
      const F = net64.forward(xIn, cNoise, extra);
      fMax = Math.max(fMax, F.abs().max().item() as number);
      return F;
    }, coefficientsFor('edm', 0.5));
    const model64 = (x: Tensor, s: Tensor, extra?: Record<string, unknown>) => {
      if (s.dataSync()[0] <= 0.002 * (1 + 1e-6)) xAtMin = Math.max(xAtMin, x.abs().max().item() as number);
      return d64(x.to('float64'), s, extra);
    };
    const before = memory().liveTensors;
    const opts = { labels: [0, 1, 2, -1], guidance: 3, steps: 3, seed: 7 };
    const a = generate(d, opts);
    const b = generate(d, { ...opts, batchSize: 3 });
    assert.deepEqual(a.shape, [4, 1, 28, 28]);
    const [batching64, errA, errB] = scope(() => {
      const ref = generate(model64, opts);
      const ref3 = generate(model64, { ...opts, batchSize: 3 });
      assert.equal(ref.dtype, 'float64');
      const diffs = [ref.sub(ref3).abs().max().item(), a.sub(ref).abs().max().item(), b.sub(ref).abs().max().item()] as number[];
      return diffs;
    });
    // Batching changes only the order of the network's sums (libtorch picks kernels by batch size), so the
    // same seed must give the same samples up to rounding; a batching bug (noise, labels or generator draws
    // given to the wrong sample) changes them by O(1). In float64 the bound below with ε64 = 2^-52 for ε32
    // is ≈ 8e-11 (0 to 3e-13 measured); 1e-9 leaves room for any kernel.
    assert.ok(batching64 < 1e-9, `float64: same seed, same samples whatever the batching (max diff ${batching64})`);
    // In float32 each run carries rounding: Heun's correction x_{i+1} = x + (σ−σ')/2·(d + (x' − D(x'))/σ')
    // (EDM Alg. 2, l. 10-11) multiplies an error in D(x') by A_i = (σ−σ')/(2σ'); A = Σ A_i = 628 + 15 + ...
    // for σ = 80, 2.5, 0.002 and is dominated by the last correction, where D(x') ≈ x': CFG forms
    // (1+γ)·D_c − γ·D_u and then x' − D(x'), rounding ≤ (2+2γ)·ε32·|x'|; the network's error δF enters as
    // c_out·δF/σ' ≈ δF per branch, ≤ (1+2γ)·K·ε32·|F| after guidance, with K = 32 ulps for fp32 sums of ≤ 196
    // terms (√196 = 14; 10-13 ulps measured with AVX-512, AVX2 and scalar kernels at 1-3 threads).
    // (Errors at earlier evaluations move the samples 50-600x less than at the last, by perturbing each.)
    const sig = scope(() => Array.from(karrasSigmas(3).dataSync())), gamma = 3, K = 32, eps32 = 2 ** -23;
    let A = 0;
    for (let i = 0; i + 1 < sig.length; i++) if (sig[i + 1] > 0) A += (sig[i] - sig[i + 1]) / (2 * sig[i + 1]);
    const tol32 = eps32 * A * ((2 + 2 * gamma) * xAtMin + (1 + 2 * gamma) * K * fMax); // ≈ 0.04 (|x'| ≈ 14, |F| ≈ 1.9); 2.5e-4 measured
    assert.ok(errA <= tol32 && errB <= tol32, `float32, unbatched and batched, within the float32 bound of float64: ${errA}, ${errB} (tol ${tol32})`);
    assert.ok(scope(() => a.abs().max().item()) <= 1, 'clamped to [-1, 1]');
    const c = generate(d, { ...opts, seed: 8 });
    assert.ok(scope(() => a.sub(c).abs().max().item()) > 10 * tol32, 'another seed, other samples');
    for (const o of [{ guidance: 0 }, { guidance: 1 }, { temperature: 2 }, { threshold: 0.995 }, { clip: true }, { sampler: 'dpmpp-2m' as const }, { sampler: 'pc' as const }, { sampler: 'ddim' as const, eta: 0.5 }]) {
      const s = generate(d, { labels: [3, 4], steps: 2, seed: 1, ...o });
      assert.equal(s.shape[0], 2, JSON.stringify(o));
      s.dispose();
    }
    a.dispose(); b.dispose(); c.dispose();
    assert.equal(memory().liveTensors, before, 'no tensors leak');
    // the result belongs to the caller's scope like any op's, whether it came from one batch or several
    for (const batchSize of [4, 3, 1]) {
      scope(() => { generate(d, { ...opts, steps: 1, batchSize }); });
      assert.equal(memory().liveTensors, before, `scope frees generate's result (batchSize ${batchSize})`);
    }
    assert.throws(() => generate(d, { labels: [0], sampler: 'rk45' as never }), /sampler: expected one of/);
    assert.throws(() => generate(d, { labels: [0], steps: 0 }), /generate: steps must be a positive integer, got 0/);
  });
});

test('generate: each bad option is named with its value', () => {
  scope(() => {
    const d = denoiserOf(tinyNet(), { prediction: 'edm', sigmaData: 0.5 });
    assert.throws(() => generate(d, { labels: [] }), /generate: labels must hold at least one sample/);
    assert.throws(() => generate(d, { labels: [0], batchSize: 0 }), /generate: batchSize must be a positive integer, got 0/);
    assert.throws(() => generate(d, { labels: [0], shape: [28, 28] as never }), /generate: shape must be \[C, H, W\] of positive integers, got \[28,28\]/);
    assert.throws(() => generate(d, { labels: [0], guidance: NaN }), /generate: guidance must be a finite number, got NaN/);
    assert.throws(() => generate(d, { labels: [0], temperature: 0 }), /generate: temperature must be a positive number, got 0/);
    assert.throws(() => generate(d, { labels: [0], threshold: 99.5 }), /generate: threshold \(a percentile\) must lie in \(0, 1\], got 99.5/);
    assert.throws(() => generate(d, { labels: [0], sigmaMin: 100 }), /karrasSigmas: need 0 < sigmaMin < sigmaMax/);
  });
});

test('trainDiffusion / sampleGrid end to end on a tiny network: run folder, grids, resume, checkpoint', async () => {
  const { trainDiffusion, sampleGrid, evaluateDiffusion } = await import('../../src/diffusion');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusion-cli-'));
  const common = {
    runsDir: root, name: 'tiny', config: { batchSize: 8, model: { unet: { channels: 4 } } }, previewEvery: 3, guidances: [3], sampleSteps: 2, log: null,
  };
  const stderrWrite = process.stderr.write.bind(process.stderr);
  (process.stderr as unknown as { write: unknown }).write = () => true;
  try {
    assert.equal((await trainDiffusion({ ...common, maxSteps: 3 })).status, 'completed');
    const dir = path.join(root, 'tiny');
    for (const f of ['index.html', 'metrics.jsonl', 'config.json', 'model.safetensors', 'grid-guidance-3.png', 'trajectory.png', 'samples/step-000003.png']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    const grid = readPng(path.join(dir, 'grid-guidance-3.png'));
    assert.deepEqual([grid.width, grid.height], [8 * 30 + 2, 10 * 30 + 2], 'one row per class, 8 per row');
    const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    assert.match(html, /Ankle boot/);
    assert.match(html, /γ = 3/);
    // resume: continues from step 3 to 5
    const r = await trainDiffusion({ ...common, maxSteps: 5, resume: true });
    assert.equal(r.step, 5);
    const m = loadDiffusionModel(path.join(dir, 'model.safetensors'));
    assert.equal(m.meta.steps, 5);
    assert.equal(m.config.unet.channels, 4);
    const out = path.join(root, 's.png');
    const s = sampleGrid({ checkpoint: path.join(dir, 'model.safetensors'), n: 4, classLabel: 7, steps: 2, out });
    assert.equal(s.n, 4);
    assert.deepEqual([readPng(out).width, readPng(out).height], [2 * 30 + 2, 2 * 30 + 2]);
    await assert.rejects(trainDiffusion({ ...common, config: { ...common.config, weighting: 'bogus' as never } }), /weighting must be one of edm, eps, x0, min-snr, likelihood, got "bogus"/);
    await assert.rejects(trainDiffusion({ ...common, config: { ...common.config, noise: 'likelihood-is' } }), /use it with weighting 'likelihood'/);
    await assert.rejects(trainDiffusion({ ...common, config: { ...common.config, model: { unet: { channels: 5 } } } }), /model\.unet\.channels must be even/);
    await assert.rejects(trainDiffusion({ ...common, config: { ...common.config, batchSize: 60001 } }), /batchSize must be at most the 60000 training images/);
    assert.throws(() => sampleGrid({ checkpoint: path.join(dir, 'model.safetensors'), classLabel: 12 }), /classLabel must be a class index 0\.\.9 or -1/);
    assert.throws(() => sampleGrid({ checkpoint: path.join(root, 'nope.safetensors') }), /sampleGrid: no such file/);
    assert.throws(() => sampleGrid({ checkpoint: root }), /is a directory/);
    assert.throws(() => evaluateDiffusion({ checkpoint: path.join(dir, 'metrics.jsonl') }), /./);
  } finally {
    (process.stderr as unknown as { write: unknown }).write = stderrWrite;
    fs.rmSync(root, { recursive: true, force: true });
  }
});

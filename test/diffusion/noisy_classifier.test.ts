// The noise-conditional classifier for classifier guidance: shapes, input checks, gradients with
// respect to x, a tiny training run, and classifierGuidance driven by it (checked against a
// finite difference of log p(y | x_sigma)).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, enableGrad, functions as torch, grad, memory, noGrad, scope, tensor } from '../../src/tensor';
import { numParams } from '../../src/nn';
import { fashionMnist } from '../../src/data';
import { classifierGuidance } from '../../src/diffusion/guidance';
import type { Denoiser } from '../../src/diffusion/denoiser';
import { NoisyClassifier, evaluateNoisy, noisyClassifierLogProb } from '../../src/diffusion/noisy_classifier';
import { toSymmetric } from '../../src/diffusion/images';
import { NOISY_CLASSIFIER_CHECKPOINT, loadNoisyClassifier, trainNoisyClassifier } from '../../src/diffusion';

const root = path.resolve(__dirname, '..', '..', '..');
const f64 = { dtype: 'float64' as const };

test('shapes: logits (B, 10) for sigma as a number, a 0-d, (1,) or (B,) tensor; memory is flat', () => {
  const clf = new NoisyClassifier({}, { generator: new Generator(0) });
  assert.equal(numParams(clf), 117898);
  const live = memory().liveTensors;
  scope(() => {
    const x = torch.randn([3, 1, 28, 28], { generator: new Generator(1) });
    for (const sigma of [0.5, tensor(0.5), tensor([0.5]), tensor([0.002, 1, 80], f64), tensor([0, 1, 2])]) {
      const out: Tensor = clf(x, sigma);
      assert.deepEqual(out.shape, [3, 10]);
      assert.equal(out.dtype, 'float32');
      assert.ok(out.isfinite().all().item(), `non-finite logits at sigma ${String(sigma)}`);
    }
    // the same sigma given three ways gives the same logits; float64 input runs in the weights' dtype
    const a: Tensor = clf(x, 0.5), b: Tensor = clf(x, tensor([0.5, 0.5, 0.5], f64)), c: Tensor = clf(x.to('float64'), tensor(0.5));
    assert.ok(a.allclose(b) && a.allclose(c));
    // the noise level matters
    assert.ok(!a.allclose(clf(x, 5) as Tensor, { atol: 1e-4 }));
    // any image size (global average pooling)
    assert.deepEqual((clf(torch.randn([2, 1, 16, 20]), 1) as Tensor).shape, [2, 10]);
  });
  assert.equal(memory().liveTensors, live);
});

test('bad input gives a clear error', () => {
  const clf = new NoisyClassifier({}, { generator: new Generator(0) });
  scope(() => {
    const x = torch.zeros([2, 1, 28, 28]);
    assert.throws(() => clf(torch.zeros([2, 28, 28]), 1), /NoisyClassifier: expected x of shape \(B, 1, H, W\).*got \[2, 28, 28\]/);
    assert.throws(() => clf(torch.zeros([2, 3, 28, 28]), 1), /expected x of shape \(B, 1, H, W\)/);
    assert.throws(() => clf(torch.zeros([2, 1, 28, 28], { dtype: 'uint8' }), 1), /x must be floating point/);
    assert.throws(() => clf(x, tensor([1, 2, 3])), /sigma must be a number, a single value or shape \[2\], got shape \[3\]/);
    assert.throws(() => clf(x, -0.5), /sigma must be finite and >= 0, got -0.5/);
    assert.throws(() => clf(x, NaN), /sigma must be finite and >= 0/);
    assert.throws(() => clf(x, tensor([true, false])), /sigma must be a real-valued tensor, got bool/);
    assert.throws(() => noisyClassifierLogProb(clf, 10), /label 10 is not a class in 0..9/);
    assert.throws(() => noisyClassifierLogProb(clf, [1, 2, 3])(x, tensor([1, 1])), /3 labels for a batch of 2/);
  });
  assert.throws(() => new NoisyClassifier({ channels: [] }), /channels must be a non-empty list/);
  assert.throws(() => new NoisyClassifier({ fourierDim: 7 }), /fourierDim must be even/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noisy-clf-'));
  const file = path.join(dir, 'other.safetensors');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { saveCheckpoint } = require('../../src/train');
  saveCheckpoint(file, { model: clf, step: 0, config: { kind: 'fashion-classifier' } });
  assert.throws(() => loadNoisyClassifier(file), /not a noisy-classifier checkpoint/);
  assert.throws(() => loadNoisyClassifier(path.join(dir, 'missing.safetensors')), /no such file/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('gradients with respect to x flow: log p(y | x) has a finite, nonzero gradient matching finite differences', () => {
  const clf = new NoisyClassifier({}, { generator: new Generator(2), dtype: 'float64' });
  scope(() => {
    const x = torch.randn([4, 1, 28, 28], { generator: new Generator(3), ...f64 }).mul(0.8);
    const sigma = tensor([0.1, 0.7, 3, 20], f64);
    const logProb = noisyClassifierLogProb(clf, [0, 3, 7, 9]);
    const xg = x.clone().requiresGrad_(true);
    const lp = logProb(xg, sigma);
    assert.deepEqual(lp.shape, [4]);
    assert.ok(lp.le(0).all().item(), 'log-probabilities are <= 0');
    const [gx] = grad(lp.sum(), xg);
    assert.ok(gx && gx.isfinite().all().item());
    const perSample = gx!.reshape([4, -1]).norm(2, 1);
    assert.ok(perSample.gt(0).all().item(), `zero gradient for a sample: ${perSample.tolist()}`);
    // directional derivative against a central difference, per sample
    const v = torch.randn(x.shape, { generator: new Generator(4), ...f64 });
    const eps = 1e-5;
    const fd = noGrad(() => logProb(x.add(v.mul(eps)), sigma).sub(logProb(x.sub(v.mul(eps)), sigma)).div(2 * eps));
    const an = gx!.mul(v).reshape([4, -1]).sum(1);
    assert.ok(an.allclose(fd, { rtol: 1e-4, atol: 1e-7 }), `analytic ${an.tolist()} vs finite difference ${fd.tolist()}`);
    // the gradient w.r.t. a float32 x (the weights are float64) flows through the cast too
    const x32 = x.to('float32').requiresGrad_(true);
    const [g32] = grad(logProb(x32, sigma).sum(), x32);
    assert.equal(g32!.dtype, 'float32');
    assert.ok(g32!.to('float64').allclose(gx!, { rtol: 1e-3, atol: 1e-5 }));
  });
});

test('a tiny training run (60 steps of 32 from 256 images) drives the loss down at small sigma; weights round-trip through loadNoisyClassifier', async () => {
  const train = fashionMnist('train');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noisy-clf-train-'));
  try {
    const images = train.images.narrow(0, 0, 256), labels = train.labels.narrow(0, 0, 256);
    const testData = { images: train.images.narrow(0, 256, 64), labels: train.labels.narrow(0, 256, 64) };
    const sub = { images, labels };
    const lossAt = (clf: NoisyClassifier) => evaluateNoisy(clf, images, labels, 0.1, { generator: new Generator(9) }).logLoss;
    const before = lossAt(new NoisyClassifier({}, { generator: new Generator(0) })); // the same init as seed 0 below
    const out = path.join(dir, 'w.safetensors');
    const r = await trainNoisyClassifier({
      config: { steps: 60, batchSize: 32, lr: 5e-3, warmup: 5, seed: 0, sigma: { dist: 'loguniform', min: 0.01, max: 1 }, evalSigmas: [0.1] },
      trainData: sub, testData, runsDir: dir, name: 'tiny', out, progress: false, handleSignals: false, log: null, evalEvery: null,
    });
    assert.equal(r.status, 'completed');
    assert.equal(r.step, 60);
    const after = lossAt(r.model);
    assert.ok(after < 0.75 * before, `loss at sigma 0.1: ${before.toFixed(3)} -> ${after.toFixed(3)}`);
    assert.equal(r.accuracy.length, 1);
    assert.ok(fs.existsSync(path.join(dir, 'tiny', 'metrics.jsonl')));
    const loaded = loadNoisyClassifier(out);
    scope(() => {
      const x = toSymmetric(images.narrow(0, 0, 8));
      assert.ok((loaded(x, 0.3) as Tensor).equal(r.model(x, 0.3) as Tensor));
    });
    for (const t of [images, labels, testData.images, testData.labels]) t.dispose();
  } finally {
    train.images.dispose();
    train.labels.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('classifierGuidance with the noisy classifier: scale 0 is the unguided denoiser, scale > 0 adds gamma sigma^2 grad log p(y | x)', () => {
  const clf = new NoisyClassifier({}, { generator: new Generator(5), dtype: 'float64' });
  // an unconditional denoiser: the exact one for x0 ~ N(0, 0.5^2 I)
  const calls: number[] = [];
  const D: Denoiser = (x, sigma) => {
    calls.push(x.shape[0]);
    return x.mul(sigma.square().add(0.25).reciprocal().mul(0.25).reshape([-1, 1, 1, 1]));
  };
  scope(() => {
    const x = torch.randn([3, 1, 28, 28], { generator: new Generator(6), ...f64 });
    const sigma = tensor([0.3, 1.5, 6], f64);
    const y = [2, 5, 8];
    const logProb = noisyClassifierLogProb(clf, y);
    const base = D(x, sigma);
    const unguided = noGrad(() => classifierGuidance(D, logProb, { scale: 0 })(x, sigma));
    assert.ok(unguided.equal(base));

    const gamma = 2.5;
    const guided = noGrad(() => classifierGuidance(D, logProb, { scale: gamma })(x, sigma));
    const delta = guided.sub(base); // should be gamma sigma^2 grad_x log p(y | x)
    assert.ok(delta.abs().max().item() > 0);
    // compare with central differences of log p along random directions, per sample
    const eps = 1e-5;
    for (let k = 0; k < 2; k++) {
      const v = torch.randn(x.shape, { generator: new Generator(10 + k), ...f64 });
      const fd = logProb(x.add(v.mul(eps)), sigma).sub(logProb(x.sub(v.mul(eps)), sigma)).div(2 * eps); // (B,) v . grad
      const expected = fd.mul(sigma.square()).mul(gamma);
      const got = delta.mul(v).reshape([3, -1]).sum(1);
      assert.ok(got.allclose(expected, { rtol: 1e-4, atol: 1e-7 }), `guided change ${got.tolist()} vs ${expected.tolist()}`);
    }
    // and a small step along the change raises log p(y | x) for every sample
    const step = delta.div(delta.reshape([3, -1]).norm(2, 1).reshape([3, 1, 1, 1])).mul(1e-3);
    assert.ok(logProb(x.add(step), sigma).gt(logProb(x, sigma)).all().item());
    // it also works under enableGrad and from float32 samples
    const g32 = enableGrad(() => classifierGuidance(D, logProb, { scale: gamma })(x.to('float32'), sigma.to('float32')));
    assert.ok(g32.isfinite().all().item() && g32.sub(base.to('float32')).abs().max().item() > 0);
  });
});

test('the committed checkpoint (when present) classifies noisy Fashion-MNIST test images', (t) => {
  const file = path.join(root, NOISY_CLASSIFIER_CHECKPOINT);
  if (!fs.existsSync(file)) {
    t.skip(`${NOISY_CLASSIFIER_CHECKPOINT} not present`);
    return;
  }
  const clf = loadNoisyClassifier(file);
  const testSet = fashionMnist('test');
  try {
    const n = 1000;
    const imgs = testSet.images.narrow(0, 0, n), lbls = testSet.labels.narrow(0, 0, n);
    const at = (s: number) => evaluateNoisy(clf, imgs, lbls, s, { generator: new Generator(1) }).accuracy;
    const clean = at(0.002), mid = at(1), high = at(20);
    assert.ok(clean > 0.8, `accuracy at sigma 0.002: ${clean}`);
    assert.ok(mid > 0.6, `accuracy at sigma 1: ${mid}`);
    assert.ok(high < mid, 'accuracy falls with the noise level');
    imgs.dispose();
    lbls.dispose();
  } finally {
    testSet.images.dispose();
    testSet.labels.dispose();
  }
});

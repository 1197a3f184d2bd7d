// Ensemble weights (src/train/ensemble.ts): fitted on synthetic predictions, the weights recover a
// known mixture: exactly (to optimiser tolerance) with soft targets equal to the mixture, whose
// cross-entropy is minimised only there (Gibbs); within sampling error with labels drawn from it.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, scope, tensor } from '../../src/tensor';
import { fitEnsembleWeights, logLossOf, mixProbs } from '../../src/train';

/** M random (N, K) probability tables (softmax of scaled Gaussians: confident, different models). */
function models(M: number, N: number, K: number, seed: number): Tensor[] {
  const g = new Generator(seed);
  return Array.from({ length: M }, () => torch.randn([N, K], { generator: g, dtype: 'float64' }).mul(2).softmax(1));
}

test('fitEnsembleWeights: soft targets equal to a known mixture give back its weights', () => scope(() => {
  const P = models(3, 400, 5, 1), w = [0.6, 0.3, 0.1];
  const T = mixProbs(P, w);
  const fit = fitEnsembleWeights(P, T);
  // the loss is strictly convex in w near the optimum (independent P_m), its gradient driven to 1e-10:
  // the weights agree to ~1e-8
  fit.weights.forEach((v, m) => assert.ok(Math.abs(v - w[m]) < 1e-6, `w[${m}] = ${v}, want ${w[m]}`));
  assert.ok(Math.abs(fit.weights.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  const entropy = logLossOf(T, T); // the minimum cross-entropy is the entropy of the targets
  assert.ok(Math.abs(fit.logLoss - entropy) < 1e-10, `${fit.logLoss} vs entropy ${entropy}`);
}));

test('fitEnsembleWeights: labels drawn from a known mixture give its weights within sampling error', () => scope(() => {
  const N = 20000, P = models(3, N, 4, 2), w = [0.5, 0.35, 0.15];
  const labels = torch.multinomial(mixProbs(P, w), 1, { generator: new Generator(3) }).squeeze(1);
  const fit = fitEnsembleWeights(P, labels);
  // standard error of an MLE weight ~ 1/sqrt(N·I), I = O(1) here: ~0.01; 5 standard errors
  fit.weights.forEach((v, m) => assert.ok(Math.abs(v - w[m]) < 0.05, `w[${m}] = ${v}, want ${w[m]}`));
  // and it beats the uniform blend and every single model on the data it was fitted to
  const uniform = logLossOf(mixProbs(P, [1 / 3, 1 / 3, 1 / 3]), labels);
  assert.ok(fit.logLoss <= uniform + 1e-12 && P.every((p) => fit.logLoss <= logLossOf(p, labels) + 1e-12));
  assert.ok(Math.abs(fit.logLoss - logLossOf(mixProbs(P, fit.weights), labels)) < 1e-9, 'reported loss is the mixture\'s');
}));

test('fitEnsembleWeights / mixProbs: clear errors', () => scope(() => {
  const P = models(2, 10, 3, 4);
  assert.throws(() => fitEnsembleWeights([], tensor([0])), /fitEnsembleWeights: probs must be a non-empty array/);
  assert.throws(() => fitEnsembleWeights([P[0], torch.zeros([10, 4])], torch.zeros([10], { dtype: 'int64' })), /probs\[1\] must be \(N, K\) = \(10, 3\) like probs\[0\], got shape \[10, 4\]/);
  assert.throws(() => fitEnsembleWeights(P, torch.zeros([9], { dtype: 'int64' })), /targets must be \(10,\) labels or \(10, 3\) probabilities, got shape \[9\]/);
  assert.throws(() => mixProbs(P, [1]), /mixProbs: weights must be 2 finite numbers >= 0, got \[1\]/);
  assert.deepEqual(fitEnsembleWeights([P[0]], torch.zeros([10], { dtype: 'int64' })).weights, [1]);
}));

// Masked diffusion (MDLM): the continuous-time NELBO against a value computed by hand on a
// two-token sequence over a tiny vocabulary (exact quadrature of the enumerated masks, and the
// Monte Carlo estimator the training uses), sampling that never changes given tokens, the
// no-change cache (same tokens, fewer evaluations), semi-autoregressive long generation.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, memory, noGrad, scope, tensor } from '../../src/tensor';
import { MASK_ID } from '../../src/text/bpe';
import { MDLM_T_MIN, mdlmGenerateLong, mdlmIntegrand, mdlmNelbo, mdlmSample, subsLogProbs } from '../../src/text/mdlm';
import { TextTransformer } from '../../src/text/transformer';

// x = [3, 4] over V = 5 (id 1 is the mask). A context-dependent model, given as probabilities of
// the true token at each masked position for each mask pattern:
//   only position 0 masked: p(x0 = 3) = 0.5     only position 1 masked: p(x1 = 4) = 0.25
//   both masked:            p(x0 = 3) = 0.2, p(x1 = 4) = 0.1
// With α_t = 1 - t a pattern with one mask has probability t(1 - t), both masks t², so the NELBO is
//   ∫_0^1 (1/t)[t(1-t)(A1 + A2) + t²(B1 + B2)] dt = (A1 + A2)/2 + (B1 + B2)/2,
// A1 = -log 0.5, A2 = -log 0.25, B1 = -log 0.2, B2 = -log 0.1.
const X = [3, 4];
const A1 = -Math.log(0.5), A2 = -Math.log(0.25), B1 = -Math.log(0.2), B2 = -Math.log(0.1);

/** Logits (B, 2, 5): the true token gets the stated probability, the rest spread over the other three non-mask tokens. */
function tinyNet(z: Tensor): Tensor {
  const rows = z.tolist() as number[][];
  const out = rows.map((r) => {
    const m0 = r[0] === MASK_ID, m1 = r[1] === MASK_ID;
    const p0 = m0 && m1 ? 0.2 : 0.5, p1 = m0 && m1 ? 0.1 : 0.25;
    const dist = (p: number, truth: number) => [0, 1, 2, 3, 4].map((v) => (v === truth ? Math.log(p) : v === MASK_ID ? 3 : Math.log((1 - p) / 3)));
    return [dist(p0, X[0]), dist(p1, X[1])];
  });
  return tensor(out, { dtype: 'float64' });
}

test('MDLM NELBO: enumerated masks with exact quadrature equal the hand-computed value', () => {
  noGrad(() => scope(() => {
    const hand = (A1 + A2) / 2 + (B1 + B2) / 2;
    // the integrand is linear in t: 2-point Gauss-Legendre on [0, 1] is exact
    const nodes = [0.5 - 0.5 / Math.sqrt(3), 0.5 + 0.5 / Math.sqrt(3)];
    let total = 0;
    for (const t of nodes) {
      for (const [m0, m1] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const pr = (m0 ? t : 1 - t) * (m1 ? t : 1 - t);
        const z = tensor([[m0 ? MASK_ID : X[0], m1 ? MASK_ID : X[1]]], { dtype: 'int64' });
        const v = mdlmIntegrand(subsLogProbs(tinyNet(z)), tensor([X], { dtype: 'int64' }), z, tensor([t], { dtype: 'float64' })).item();
        total += 0.5 * pr * v;
      }
    }
    assert.ok(Math.abs(total - hand) < 1e-12, `${total} vs ${hand}`);
  }));
});

test('MDLM NELBO: the training estimator (stratified t on [t_min, 1], random masks) is unbiased for the hand value', () => {
  noGrad(() => scope(() => {
    const N = 20000;
    const x = tensor(Array.from({ length: N }, () => X), { dtype: 'int64' });
    const v = mdlmNelbo(tinyNet, x, new Generator(0)).to('float64');
    const mean = v.mean().item(), sd = v.std().item();
    // t ~ U[t_min, 1]: the hand integral over [t_min, 1], divided by its length
    const a = MDLM_T_MIN;
    const hand = ((A1 + A2) * ((1 - a) - (1 - a * a) / 2) + (B1 + B2) * (1 - a * a) / 2) / (1 - a);
    // stratified times make the estimator's error smaller than the iid one: 4 iid standard errors bound it
    assert.ok(Math.abs(mean - hand) < 4 * sd / Math.sqrt(N), `${mean} vs ${hand} (sd ${sd})`);
  }));
});

test('SUBS: the mask token gets probability zero', () => {
  scope(() => {
    const lp = subsLogProbs(torch.randn([2, 3, 6], { generator: new Generator(0) }));
    assert.equal(lp.select(2, MASK_ID).exp().max().item(), 0);
    assert.ok(lp.exp().sum(2).sub(1).abs().max().item() < 1e-6);
  });
});

function randomBidirectional(seed: number): TextTransformer {
  const m = new TextTransformer({ vocabSize: 12, maxLen: 10, dim: 16, depth: 1, heads: 2, mlpRatio: 2, positions: 'rotary', causal: false, adaLN: false, inputDim: 0 }, new Generator(seed));
  m.eval();
  return m;
}

test('MDLM sampling: given tokens never change, nothing stays masked; the no-change cache gives the same tokens with fewer evaluations', () => {
  const m = randomBidirectional(1);
  const net = (z: Tensor) => m(z);
  const template = [5, MASK_ID, MASK_ID, 7, MASK_ID, 9, MASK_ID, MASK_ID, 4, MASK_ID];
  scope(() => {
    const tpl = tensor([template, template, template], { dtype: 'int64' });
    const a = mdlmSample(net, { template: tpl, steps: 200, generator: new Generator(3) });
    const b = mdlmSample(net, { template: tpl, steps: 200, generator: new Generator(3), cache: false });
    assert.deepEqual(a.tokens.tolist(), b.tokens.tolist());
    assert.equal(b.nfe, 200);
    // at most one evaluation per step that revealed something, plus the first: <= 3 rows × 6 masks + 1
    assert.ok(a.nfe <= 19, `nfe ${a.nfe}`);
    for (const row of a.tokens.tolist() as number[][]) {
      template.forEach((v, j) => { if (v !== MASK_ID) assert.equal(row[j], v, `position ${j}`); });
      assert.ok(!row.includes(MASK_ID));
    }
  });
  const before = memory().liveTensors;
  scope(() => { mdlmSample(net, { template: tensor([template], { dtype: 'int64' }), steps: 5, generator: new Generator(0) }); });
  assert.equal(memory().liveTensors, before);
  assert.throws(() => mdlmSample(net, { template: tensor([template], { dtype: 'int64' }), steps: 0, generator: new Generator(0) }), /steps must be a positive integer, got 0/);
});

test('semi-autoregressive generation: long texts whose windows keep the previous window\'s tail as a given prefix', () => {
  const m = randomBidirectional(2);
  const r = mdlmGenerateLong((z) => m(z), { length: 23, seqLen: 10, overlap: 4, steps: 8, batchSize: 2, prompt: [5, 6], generator: new Generator(0) });
  assert.equal(r.tokens.length, 2);
  for (const row of r.tokens) {
    assert.equal(row.length, 23);
    assert.deepEqual(row.slice(0, 2), [5, 6]);
    assert.ok(!row.includes(MASK_ID));
  }
});

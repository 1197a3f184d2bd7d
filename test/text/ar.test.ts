// The backbone and the autoregressive model: rotary positions against a float64 complex rotation,
// causality, adaLN-Zero starting as the identity, an exactly normalised likelihood (enumerated on a
// tiny vocabulary), KV-cached generation equal to uncached generation token for token,
// classifier-free guidance at γ = 0 and 1, beam search, bad input.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, memory, noGrad, scope, tensor } from '../../src/tensor';
import { TextTransformer, TextTransformerConfig, applyRotary } from '../../src/text/transformer';
import { arBeamSearch, arGenerate, arLoss, arModelConfig, arNll, cachedStep, uncachedStep } from '../../src/text/ar';
import { greedy, topK, temperature } from '../../src/typicality/decoding';

function tiny(over: Partial<TextTransformerConfig> = {}, seed = 0): TextTransformer {
  const m = new TextTransformer({ ...arModelConfig({ vocabSize: 11, maxLen: 16, dim: 16, depth: 2, heads: 2, mlpRatio: 2, positions: 'rotary' }), ...over }, new Generator(seed));
  m.eval();
  return m;
}

test('rotary positions rotate each (x_i, x_{i+dh/2}) pair by position·θ_i (float64 complex reference)', () => {
  scope(() => {
    const dh = 4, T = 3, start = 5;
    const x = torch.randn([1, 1, T, dh], { dtype: 'float64', generator: new Generator(1) });
    const got = applyRotary(x, start, 16).tolist() as number[][][][];
    const xs = x.tolist() as number[][][][];
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < dh / 2; i++) {
        const th = (start + t) * Math.pow(10000, -2 * i / dh);
        const re = xs[0][0][t][i], im = xs[0][0][t][i + dh / 2];
        // (re + i·im) · e^{iθ}
        const expRe = re * Math.cos(th) - im * Math.sin(th), expIm = re * Math.sin(th) + im * Math.cos(th);
        assert.ok(Math.abs(got[0][0][t][i] - expRe) < 1e-6 && Math.abs(got[0][0][t][i + dh / 2] - expIm) < 1e-6);
      }
    }
  });
});

test('causal backbone: changing later tokens leaves earlier logits unchanged; the bidirectional one sees them', () => {
  noGrad(() => scope(() => {
    for (const positions of ['rotary', 'learned'] as const) {
      const m = tiny({ positions });
      const a = tensor([[1, 2, 3, 4, 5, 6]], { dtype: 'int64' }), b = tensor([[1, 2, 3, 9, 9, 9]], { dtype: 'int64' });
      const la = m(a), lb = m(b);
      assert.ok(la.narrow(1, 0, 3).sub(lb.narrow(1, 0, 3)).abs().max().item() === 0, positions);
      assert.ok(la.narrow(1, 3, 3).sub(lb.narrow(1, 3, 3)).abs().max().item() > 1e-4);
      const bi = tiny({ positions, causal: false });
      assert.ok(bi(a).narrow(1, 0, 3).sub(bi(b).narrow(1, 0, 3)).abs().max().item() > 1e-4);
    }
  }));
});

test('adaLN-Zero: at initialisation the output does not depend on the noise level; after a change of the gates it does', () => {
  noGrad(() => scope(() => {
    const m = tiny({ causal: false, adaLN: true });
    const x = tensor([[1, 2, 3, 4]], { dtype: 'int64' });
    const l0 = m(x, { noise: tensor([0.1]) }), l1 = m(x, { noise: tensor([0.9]) });
    assert.equal(l0.sub(l1).abs().max().item(), 0);
    (m.blocks[0].mod!.W as Tensor).fill_(0.1);
    assert.ok(m(x, { noise: tensor([0.1]) }).sub(m(x, { noise: tensor([0.9]) })).abs().max().item() > 1e-4);
    assert.throws(() => m(x), /conditioned on a noise level \(adaLN\); pass \{ noise \}/);
  }));
});

test('the AR likelihood is exactly normalised: exp(-NLL) over all 4^3 sequences sums to 1', () => {
  noGrad(() => scope(() => {
    const m = tiny({ vocabSize: 4, maxLen: 4 });
    const seqs: number[][] = [];
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) for (let c = 0; c < 4; c++) seqs.push([a, b, c]);
    const w = tensor(seqs, { dtype: 'int64' });
    let total = 0;
    for (let i = 0; i < seqs.length; i++) total += Math.exp(-arNll(m, w.narrow(0, i, 1), 2).nll);
    assert.ok(Math.abs(total - 1) < 1e-5, `sum ${total}`);
    // the batched NLL is the sum of the per-sequence ones
    const all = arNll(m, w, 2, 7);
    assert.equal(all.tokens, 64 * 3);
    const mean = arLoss(m, w, 2).item();
    assert.ok(Math.abs(all.nll - mean * 192) < 1e-3 * all.nll);
  }));
});

test('KV-cached generation equals uncached generation token for token; cached logits match within float32 rounding', () => {
  const m = tiny();
  noGrad(() => scope(() => {
    const hist = tensor([[2, 5, 7, 1, 9, 3, 3, 8]], { dtype: 'int64' });
    const cached = cachedStep(m);
    try {
      for (let T = 1; T <= 8; T++) {
        const a = cached.step(hist.narrow(1, 0, T)), b = uncachedStep(m)(hist.narrow(1, 0, T));
        assert.ok(a.sub(b).abs().max().item() < 1e-5, `T=${T}`);
      }
    } finally {
      cached.dispose();
    }
  }));
  for (const processors of [[greedy()], [temperature(1.5), topK(5)]]) {
    const run = (cache: boolean) => arGenerate(m, { prompt: [4, 5], length: 12, batchSize: 3, processors, cache, generator: new Generator(7) });
    const a = run(true), b = run(false);
    assert.deepEqual(a.tokens, b.tokens);
    assert.equal(a.tokens.length, 3);
    assert.equal(a.tokens[0].length, 12);
  }
  const before = memory().liveTensors;
  arGenerate(m, { prompt: [4], length: 10, batchSize: 2, generator: new Generator(1), guidance: 2 });
  assert.equal(memory().liveTensors, before);
});

test('AR classifier-free guidance: γ = 1 is the prompted model, γ = 0 the unprompted one (greedy), 2 NFE per token', () => {
  const m = tiny({}, 3);
  const plain = arGenerate(m, { prompt: [4, 6], length: 8, processors: [greedy()], generator: new Generator(0) });
  const g1 = arGenerate(m, { prompt: [4, 6], length: 8, processors: [greedy()], generator: new Generator(0), guidance: 1 });
  assert.deepEqual(g1.tokens, plain.tokens);
  assert.equal(plain.nfe, 8);
  const none = arGenerate(m, { prompt: [], length: 8, processors: [greedy()], generator: new Generator(0) });
  const g0 = arGenerate(m, { prompt: [4, 6], length: 8, processors: [greedy()], generator: new Generator(0), guidance: 0 });
  assert.deepEqual(g0.tokens, none.tokens);
  assert.equal(g0.nfe, 16);
});

test('beam search with one beam is greedy decoding', () => {
  const m = tiny({}, 5);
  const greedyOut = arGenerate(m, { prompt: [1, 2], length: 6, processors: [greedy()], generator: new Generator(0) });
  const beam = arBeamSearch(m, { prompt: [1, 2], length: 6, beams: 1 });
  assert.deepEqual(beam.tokens, greedyOut.tokens[0]);
  const wide = arBeamSearch(m, { prompt: [1, 2], length: 6, beams: 4 });
  assert.ok(wide.logProb >= beam.logProb - 1e-6);
});

test('bad input: lengths over the maximum, guidance without a prompt, a cache on a bidirectional model', () => {
  const m = tiny();
  assert.throws(() => arGenerate(m, { prompt: [1, 2, 3], length: 14, generator: new Generator(0) }), /exceed the model's maximum length 16 \(at most 13 new tokens/);
  assert.throws(() => arGenerate(m, { prompt: [], length: 4, guidance: 2, generator: new Generator(0) }), /guidance needs a prompt/);
  assert.throws(() => arGenerate(m, { prompt: [1], length: 0, generator: new Generator(0) }), /length must be a positive integer, got 0/);
  const bi = tiny({ causal: false });
  assert.throws(() => scope(() => bi(tensor([[1]], { dtype: 'int64' }), { cache: bi.newCache() })), /cache needs a causal model/);
  assert.throws(() => new TextTransformer({ ...m.config, dim: 15 }), /dim must be divisible by heads \(2\), got 15/);
  assert.throws(() => scope(() => m(tensor([[1.5]]))), /expected token ids \(B, T\) int64, got float32\[1, 1\]/);
});

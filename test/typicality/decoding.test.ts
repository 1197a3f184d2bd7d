// Decoding strategies against hand-computed outputs on small logits: temperature, top-k, nucleus,
// locally typical sampling, greedy, composition, classifier-free guidance, seeded sampling,
// beam search on a tiny Markov model (checked by enumeration), eos handling, no leaks.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Tensor, Generator, functions as torch, memory, scope, tensor } from '../../src/tensor';
import {
  temperature, topK, topP, typical, greedy, compose, cfgLogits, sampleToken, generate, beamSearch,
  type LogitsProcessor,
} from '../../src/typicality/decoding';

const NEG = -Infinity;

/** logits whose softmax is exactly (up to rounding) the given probabilities */
function logitsOf(...rows: number[][]): Tensor {
  return tensor(rows.map((r) => r.map(Math.log)), { dtype: 'float64' });
}

function rows(t: Tensor): number[][] { return t.tolist() as number[][]; }

function close(actual: number[][], expected: number[][], tol = 1e-9): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((r, b) => {
    assert.equal(r.length, expected[b].length);
    r.forEach((v, j) => {
      const e = expected[b][j];
      if (!Number.isFinite(e)) assert.equal(v, e, `[${b}][${j}]: ${v} vs ${e}`);
      else assert.ok(Math.abs(v - e) <= tol * Math.max(1, Math.abs(e)), `[${b}][${j}]: ${v} vs ${e}`);
    });
  });
}

/** which tokens survive (finite) in each row */
function kept(t: Tensor): number[][] {
  return rows(t).map((r) => r.flatMap((v, j) => (Number.isFinite(v) ? [j] : [])));
}

function apply(proc: LogitsProcessor, x: Tensor): Tensor {
  return proc(x);
}

// p = [0.4, 0.2, 0.15, 0.15, 0.1]: H = 1.48780 nats; -log p = [0.91629, 1.60944, 1.89712, 1.89712,
// 2.30259]; |-log p - H| = [0.57151, 0.12164, 0.40932, 0.40932, 0.81479]. Typical order 1, 2, 3, 0, 4.
const P5 = [0.4, 0.2, 0.15, 0.15, 0.1];

test('temperature divides the logits', () => scope(() => {
  const x = tensor([[1, 2, -3, 0, 4]], { dtype: 'float64' });
  close(rows(apply(temperature(2), x)), [[0.5, 1, -1.5, 0, 2]]);
  close(rows(apply(temperature(0.5), x)), [[2, 4, -6, 0, 8]]);
  assert.throws(() => temperature(0), /positive/);
}));

test('topK keeps exactly k tokens; ties go to the lower index', () => scope(() => {
  const x = tensor([[1, 3, 3, 2, 3], [5, 4, 3, 2, 1]], { dtype: 'float64' });
  close(rows(apply(topK(2), x)), [[NEG, 3, 3, NEG, NEG], [5, 4, NEG, NEG, NEG]]);
  assert.deepEqual(kept(apply(topK(3), x)), [[1, 2, 4], [0, 1, 2]]);
  assert.deepEqual(kept(apply(topK(4), x)), [[1, 2, 3, 4], [0, 1, 2, 3]]);
  close(rows(apply(topK(10), x)), rows(x));
  const f32 = tensor([[0.5, 0.1, 0.9, 0.9, 0.2]]);
  const y = apply(topK(1), f32);
  assert.equal(y.dtype, 'float32');
  assert.deepEqual(kept(y), [[2]]);
}));

test('topP (nucleus): boundaries, p = 1 keeps all, tiny p keeps the top token', () => scope(() => {
  const x = logitsOf(P5);
  // sorted masses 0.4, 0.2, 0.15, 0.15, 0.1; cumulative 0.4, 0.6, 0.75, 0.9, 1.0
  assert.deepEqual(kept(apply(topP(0.6), x)), [[0, 1]]);         // exactly on a boundary
  assert.deepEqual(kept(apply(topP(0.61), x)), [[0, 1, 2]]);     // just past it: ties 2/3 by index
  assert.deepEqual(kept(apply(topP(0.75), x)), [[0, 1, 2]]);
  assert.deepEqual(kept(apply(topP(0.5), x)), [[0, 1]]);
  assert.deepEqual(kept(apply(topP(1), x)), [[0, 1, 2, 3, 4]]);
  assert.deepEqual(kept(apply(topP(1e-6), x)), [[0]]);
  // kept logits are unchanged
  close(rows(apply(topP(0.6), x)), [[Math.log(0.4), Math.log(0.2), NEG, NEG, NEG]]);
  // batched rows are independent; already removed tokens stay removed
  const b = tensor([[0, 0, 0, 0], [NEG, 0, 10, NEG]], { dtype: 'float64' });
  assert.deepEqual(kept(apply(topP(0.5), b)), [[0, 1], [2]]);
}));

test('typical: the typical set excludes the most likely token', () => scope(() => {
  const x = logitsOf(P5);
  // typical order 1 (0.2), 2 (0.15), 3 (0.15), 0 (0.4), 4 (0.1); cumulative 0.2, 0.35, 0.5, 0.9, 1.0
  assert.deepEqual(kept(apply(typical(0.5), x)), [[1, 2, 3]]);   // boundary: 0.5 reached, token 0 out
  assert.deepEqual(kept(apply(typical(0.3), x)), [[1, 2]]);
  assert.deepEqual(kept(apply(typical(0.2), x)), [[1]]);
  assert.deepEqual(kept(apply(typical(0.51), x)), [[0, 1, 2, 3]]);
  assert.deepEqual(kept(apply(typical(1), x)), [[0, 1, 2, 3, 4]]);
  // a removed token (-inf) has infinite surprise and never comes back
  const y = tensor([[Math.log(0.5), Math.log(0.5), NEG]], { dtype: 'float64' });
  assert.deepEqual(kept(apply(typical(1), y)), [[0, 1]]);
}));

test('greedy keeps only the argmax (first on ties)', () => scope(() => {
  const x = tensor([[0.1, 2, -1, 2], [3, 0, 0, 0]], { dtype: 'float64' });
  close(rows(apply(greedy(), x)), [[NEG, 2, NEG, NEG], [3, NEG, NEG, NEG]]);
}));

test('compose applies left to right and order matters', () => scope(() => {
  // probabilities 0.4, 0.3, 0.2, 0.1
  const x = logitsOf([0.4, 0.3, 0.2, 0.1]);
  // topK(2) then topP(0.5): renormalised 4/7, 3/7 -> 4/7 >= 0.5 keeps token 0 only
  assert.deepEqual(kept(apply(compose(topK(2), topP(0.5)), x)), [[0]]);
  // topP(0.8) then topK(2): topP keeps {0, 1, 2} (0.9 >= 0.8), topK(2) -> {0, 1}
  assert.deepEqual(kept(apply(compose(topP(0.8), topK(2)), x)), [[0, 1]]);
  // topK(3) then topP(0.8): renormalised 4/9, 3/9, 2/9 -> cumulative 0.444, 0.778, 1 -> all three
  assert.deepEqual(kept(apply(compose(topK(3), topP(0.8)), x)), [[0, 1, 2]]);
  // temperature then topK: values scaled, mask applied
  close(rows(apply(compose(temperature(2), topK(1)), tensor([[2, 4, 0]], { dtype: 'float64' }))), [[NEG, 2, NEG]]);
  // the empty composition is the identity (a copy)
  close(rows(apply(compose(), x)), rows(x));
}));

test('cfgLogits: gamma 0 is the unconditional model, 1 the conditional, 3 extrapolates', () => scope(() => {
  const u = tensor([[0, 0, 0]], { dtype: 'float64' });                 // log p(x|∅) = log 1/3
  const c = logitsOf([0.5, 0.25, 0.25]);
  const lu = Math.log(1 / 3);
  const lc = [Math.log(0.5), Math.log(0.25), Math.log(0.25)];
  close(rows(cfgLogits(u, c, 0)), [[lu, lu, lu]]);
  close(rows(cfgLogits(u, c, 1)), [lc]);
  // γ = 3: lu + 3 (lc - lu) = 3 lc - 2 lu
  close(rows(cfgLogits(u, c, 3)), [lc.map((v) => 3 * v - 2 * lu)]);
  // unnormalised inputs are log-softmaxed first: shifting logits changes nothing
  close(rows(cfgLogits(u.add(7), c.add(-2), 3)), [lc.map((v) => 3 * v - 2 * lu)]);
  // γ = 3 sharpens: after renormalising, p(0) = 0.5^3 / (0.5^3 + 2 · 0.25^3) = 0.8
  close(rows(cfgLogits(u, c, 3).softmax(-1)), [[0.8, 0.1, 0.1]], 1e-12);
  // a token impossible under either model stays impossible (no NaN)
  const c2 = tensor([[0, 0, NEG]], { dtype: 'float64' });
  assert.deepEqual(kept(cfgLogits(u, c2, 3)), [[0, 1]]);
  assert.deepEqual(kept(cfgLogits(c2, u, 3)), [[0, 1]]);
}));

test('sampleToken: frequencies match the processed distribution; the seed fixes the draws', () => scope(() => {
  const N = 20000;
  const base = logitsOf([0.4, 0.3, 0.2, 0.1, 0.0001]);
  const processed = topK(3)(base);                                       // 4/9, 3/9, 2/9, 0, 0
  const batch = processed.expand([N, 5]);
  const draws = sampleToken(batch, { generator: new Generator(1234) });
  assert.deepEqual(draws.shape, [N]);
  assert.equal(draws.dtype, 'int64');
  const counts = rows(torch.bincount(draws, { minlength: 5 }).unsqueeze(0))[0];
  assert.equal(counts[3] + counts[4], 0, 'removed tokens are never drawn');
  const expected = [4 / 9, 3 / 9, 2 / 9].map((q) => q * N);
  const chi2 = expected.reduce((s, e, j) => s + (counts[j] - e) ** 2 / e, 0);
  assert.ok(chi2 < 18.4, `chi-square ${chi2} (2 dof, p = 1e-4 cut-off 18.4); counts ${counts}`);
  // determinism
  const again = sampleToken(batch, { generator: new Generator(1234) });
  assert.ok(again.equal(draws));
  const other = sampleToken(batch, { generator: new Generator(99) });
  assert.ok(!other.equal(draws));
  // one finite logit: always that token
  const one = greedy()(tensor([[0.3, 0.2, 0.9, 0.1]]).expand([100, 4]));
  assert.deepEqual([...new Set(rows(sampleToken(one, { generator: new Generator(0) }).unsqueeze(0))[0])], [2]);
  assert.throws(() => sampleToken(tensor([[NEG, NEG]]), { generator: new Generator(0) }), /no finite logit/);
}));

// A tiny Markov model over {0: bos, 1: a, 2: b, 3: eos}; the next token depends on the last one.
//   bos -> a 0.5, b 0.4, eos 0.1
//   a   -> a 0.4, b 0.3, eos 0.3
//   b   -> a 0.05, b 0.05, eos 0.9
//   eos -> eos 1
// Greedy: bos a a a (0.5 · 0.4 · 0.4 = 0.08 at maxLength 4). The most likely sequence is
// bos b eos (0.4 · 0.9 = 0.36).
const TABLE = [
  [0, 0.5, 0.4, 0.1],
  [0, 0.4, 0.3, 0.3],
  [0, 0.05, 0.05, 0.9],
  [0, 0, 0, 1],
];
const EOS = 3;
function markovStep(tokens: Tensor): Tensor {
  return scope(() => {
    const last = tokens.i(':', -1);                                      // (N,)
    return logitsOf(...TABLE).indexSelect(0, last);                      // (N, 4) log-probabilities
  });
}

/** best log-probability over all sequences from `start` of total length <= maxLength (eos ends one) */
function enumerateBest(start: number, maxLength: number): { seq: number[]; logp: number } {
  let best = { seq: [] as number[], logp: -Infinity };
  const walk = (seq: number[], logp: number): void => {
    const last = seq[seq.length - 1];
    if ((last === EOS && seq.length > 1) || seq.length === maxLength) {
      if (logp > best.logp) best = { seq: [...seq], logp };
      return;
    }
    TABLE[last].forEach((q, t) => { if (q > 0) walk([...seq, t], logp + Math.log(q)); });
  };
  walk([start], 0);
  return best;
}

test('beam search finds the enumerated optimum where greedy does not; eos pads', () => scope(() => {
  const best = enumerateBest(0, 4);
  assert.deepEqual(best.seq, [0, 2, 3]);
  assert.ok(Math.abs(best.logp - Math.log(0.36)) < 1e-12);
  for (const beams of [2, 3]) {
    const r = beamSearch(markovStep, { beams, maxLength: 4, bos: 0, eos: EOS });
    assert.deepEqual(rows(r.tokens), [[0, 2, 3, 3]]);
    close([r.scores.tolist() as number[]], [[Math.log(0.36)]], 1e-9);
    assert.deepEqual(r.beamTokens.shape, [1, beams, 4]);
    const bs = (r.beamScores.tolist() as number[][])[0];
    bs.slice(1).forEach((s, j) => assert.ok(s <= bs[j], 'beams best first'));
  }
  // beam width 2 at step 2 keeps (bos b eos 0.36, bos a a 0.2); the runner-up ends as bos a a a 0.08
  const r2 = beamSearch(markovStep, { beams: 2, maxLength: 4, bos: 0, eos: EOS });
  assert.deepEqual(rows(r2.beamTokens.i(0)), [[0, 2, 3, 3], [0, 1, 1, 1]]);
  close(rows(r2.beamScores), [[Math.log(0.36), Math.log(0.08)]], 1e-9);
}));

test('beams = 1 is greedy decoding', () => scope(() => {
  const r = beamSearch(markovStep, { beams: 1, maxLength: 4, bos: 0, eos: EOS });
  assert.deepEqual(rows(r.tokens), [[0, 1, 1, 1]]);
  close([r.scores.tolist() as number[]], [[Math.log(0.08)]], 1e-9);
  const g = generate(markovStep, { processors: [greedy()], maxLength: 4, bos: 0, eos: EOS, generator: new Generator(0) });
  assert.deepEqual(rows(g.tokens), rows(r.tokens));
}));

test('beam search is batched: each row of a prefix batch is searched independently', () => scope(() => {
  // row 0 starts at bos; row 1 starts at a (best from a within 3 more tokens: a eos 0.3 vs a b eos 0.27)
  const prefix = tensor([[0], [1]], { dtype: 'int64' });
  const r = beamSearch(markovStep, { beams: 3, maxLength: 4, bos: prefix, eos: EOS });
  assert.deepEqual(rows(r.tokens), [[0, 2, 3, 3], [1, 3, 3, 3]]);
  close([r.scores.tolist() as number[]], [[Math.log(0.36), Math.log(0.3)]], 1e-9);
  assert.deepEqual(enumerateBest(1, 4).seq, [1, 3]);
}));

test('beam search without eos runs to maxLength; lengthPenalty favours longer hypotheses', () => scope(() => {
  const r = beamSearch(markovStep, { beams: 2, maxLength: 3, bos: 0 });
  // without eos, eos is an ordinary token (eos -> eos 1): bos b eos (0.36) beats bos a a (0.2)
  assert.deepEqual(rows(r.tokens), [[0, 2, 3]]);
  // log 0.1 / 1 = -2.30 vs log 0.36 / 2 = -0.51 vs log(0.08) / 3 = -0.84 with penalty 1:
  // the normalised ranking still prefers bos b eos
  const lp = beamSearch(markovStep, { beams: 3, maxLength: 4, bos: 0, eos: EOS, lengthPenalty: 1 });
  assert.deepEqual(rows(lp.tokens), [[0, 2, 3, 3]]);
  close([lp.scores.tolist() as number[]], [[Math.log(0.36)]], 1e-9);
  // from a: the raw optimum is a eos (0.3), but per generated token a b eos wins:
  // log 0.27 / 2 = -0.655 > log 0.108 / 3 = -0.742 (a a b eos) > log 0.3 / 1 = -1.204
  const from = tensor([[1]], { dtype: 'int64' });
  assert.deepEqual(rows(beamSearch(markovStep, { beams: 3, maxLength: 4, bos: from, eos: EOS }).tokens), [[1, 3, 3, 3]]);
  const long = beamSearch(markovStep, { beams: 3, maxLength: 4, bos: from, eos: EOS, lengthPenalty: 1 });
  assert.deepEqual(rows(long.tokens), [[1, 2, 3, 3]]);
  close([long.scores.tolist() as number[]], [[Math.log(0.27)]], 1e-9);
}));

test('processors keep the dtype of float32 logits', () => scope(() => {
  const x = tensor([[2, 1, 0.5, 0.1, -1]]);
  for (const p of [temperature(2), topK(2), topP(0.5), typical(0.5), greedy()]) assert.equal(p(x).dtype, 'float32');
  assert.deepEqual(kept(topP(0.5)(x)), [[0]]);          // p = 0.559, 0.205, ...
  assert.deepEqual(kept(topP(0.7)(x)), [[0, 1]]);
}));

test('generate: seeded sampling with eos stops rows and pads; deterministic; lengths', () => scope(() => {
  const run = (seed: number) => generate(markovStep, { maxLength: 12, bos: 0, batchSize: 64, eos: EOS, generator: new Generator(seed) });
  const a = run(7);
  const b = run(7);
  assert.ok(a.tokens.equal(b.tokens));
  assert.deepEqual(a.lengths, b.lengths);
  assert.deepEqual(a.tokens.shape, [64, 12]);
  rows(a.tokens).forEach((r, i) => {
    assert.equal(r[0], 0);
    const at = r.indexOf(EOS);
    const len = at < 0 ? 12 : at + 1;
    assert.equal(a.lengths[i], len);
    if (at >= 0) assert.ok(r.slice(at).every((t) => t === EOS), 'padded with eos after finishing');
    assert.ok(r.slice(1, len).every((t) => t !== 0), 'bos has probability 0 after the start');
  });
  // processors see ctx.step and the history
  const seen: number[] = [];
  const spy: LogitsProcessor = (x, ctx) => { seen.push(ctx!.step!); assert.equal(ctx!.tokens!.shape[1], ctx!.step! + 1); return x.clone(); };
  generate(markovStep, { processors: [spy, greedy()], maxLength: 4, bos: 0, eos: EOS, generator: new Generator(0) });
  assert.deepEqual(seen, [0, 1, 2]);
}));

test('no tensors leak from processors, sampling, generate or beam search', () => {
  const x = logitsOf(P5);
  const before = memory().liveTensors;
  for (let i = 0; i < 3; i++) {
    for (const p of [temperature(0.7), topK(2), topP(0.7), typical(0.5), greedy(), compose(topK(3), typical(0.9))]) p(x).dispose();
    cfgLogits(x, x, 2).dispose();
    sampleToken(x, { generator: new Generator(i) }).dispose();
    const g = generate(markovStep, { processors: [topP(0.9)], maxLength: 6, bos: 0, batchSize: 4, eos: EOS, generator: new Generator(i) });
    g.tokens.dispose();
    const r = beamSearch(markovStep, { beams: 3, maxLength: 5, bos: 0, batchSize: 2, eos: EOS });
    r.tokens.dispose(); r.scores.dispose(); r.beamTokens.dispose(); r.beamScores.dispose();
  }
  assert.equal(memory().liveTensors, before);
  x.dispose();
});

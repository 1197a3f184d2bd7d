// Sampling and evaluation of the text models (`refinery sample text`, `refinery eval text`).
//
// Evaluation, as the papers measure it:
//   test NLL     per token on the first N windows of the test split: exact for the AR model; for
//                MDLM the continuous-time NELBO and for CDCD the continuous-time variational bound
//                (cdcd.ts `diffusionBound`), both upper bounds on -log p estimated by Monte Carlo,
//                reported with their standard error;
//   gen. ppl     the perplexity of the samples under a fixed autoregressive judge (a larger AR model
//                trained on the same train split), with the unigram entropy of the samples beside it
//                (low entropy exposes repetitive samples) and distinct-n;
//   cost         network evaluations and seconds per 1,000 generated tokens;
//   infilling    on test windows with a span of tokens removed: the judge's perplexity of the filled
//                windows and the exact-match rate of single masked tokens (diffusion models).
import { Generator, Tensor, noGrad, scope, tensor } from '../tensor';
import { SafetensorsFile } from '../tensor/safetensors_format';
import { recordedKind } from '../train/checkpoint';
import { shippedFile } from '../train/shipped';
import { Progress } from '../train/progress';
import { LogitsProcessor, temperature as temperatureProc, topK as topKProc, topP as topPProc, typical as typicalProc } from '../typicality/decoding';
import { arNll } from './ar';
import { brownTokenizer, tokenWindows } from './data';
import { NllMeasure, TEXT_MODELS, TextLM, TextModelName, loadTextLM, meanNll, textKind, lmParams } from './lm';
import { TextTransformer } from './transformer';
import './mdlm';
import './cdcd';

/** The shipped checkpoint of each model (README: trained with the commands there). */
export const TEXT_CHECKPOINTS: Record<TextModelName | 'judge', string> = {
  ar: 'checkpoints/text-ar.safetensors',
  mdlm: 'checkpoints/text-mdlm.safetensors',
  cdcd: 'checkpoints/text-cdcd.safetensors',
  judge: 'checkpoints/text-judge.safetensors',
};

/** Which text model a checkpoint file holds (from its safetensors header); a clear error otherwise. */
export function textModelOf(file: string): TextModelName {
  let f: SafetensorsFile;
  try {
    f = SafetensorsFile.open(file);
  } catch (e) {
    throw new Error(`${file} is not a safetensors checkpoint (${(e as Error).message})`);
  }
  try {
    let config: unknown = null;
    try {
      config = f.metadata.config === undefined ? null : JSON.parse(f.metadata.config);
    } catch {
      config = null;
    }
    const kind = recordedKind(config, f.metadata);
    const m = TEXT_MODELS.find((x) => textKind(x) === kind);
    if (!m) throw new Error(`${file} is not a text model checkpoint (its kind is ${kind === null ? 'not recorded' : JSON.stringify(kind)}; expected one of ${TEXT_MODELS.map(textKind).join(', ')})`);
    return m;
  } finally {
    f.close();
  }
}

/**
 * An infilling template from text with `___` for each gap: the text between gaps is tokenised, each
 * gap becomes `gapTokens` positions to fill (the space before a gap goes with the filled words).
 */
export function infillTemplate(pattern: string, gapTokens: number): (number | null)[] {
  if (!pattern.includes('___')) throw new RangeError(`infill: the pattern must contain at least one ___ (a gap to fill), got ${JSON.stringify(pattern)}`);
  if (!Number.isSafeInteger(gapTokens) || gapTokens < 1) throw new RangeError(`infill: gapTokens must be a positive integer, got ${gapTokens}`);
  const bpe = brownTokenizer();
  const parts = pattern.split('___');
  const out: (number | null)[] = [];
  parts.forEach((p, i) => {
    const text = i < parts.length - 1 ? p.replace(/\s+$/, '') : p;
    out.push(...bpe.encode(text));
    if (i < parts.length - 1) for (let k = 0; k < gapTokens; k++) out.push(null);
  });
  return out;
}

export interface SampleTextOptions {
  /** Checkpoint file (default: the shipped one of `model`). */
  checkpoint?: string;
  model?: TextModelName;
  /** Prompt text (a prefix); '' for unconditional samples. */
  prompt?: string;
  /** Infilling pattern with ___ gaps (diffusion models). */
  infill?: string;
  gapTokens?: number;
  n?: number;
  /** Tokens to generate (AR: after the prompt; diffusion: the window length, default the model's). */
  length?: number;
  steps?: number;
  guidance?: number;
  /** AR decoding: temperature, top-k, nucleus p, typical mass. */
  temperature?: number;
  topK?: number;
  topP?: number;
  typical?: number;
  seed?: number;
}

/** Decoded samples of a text checkpoint; the given parts of a prompt or template are included. */
export function sampleText(o: SampleTextOptions): { texts: string[]; model: TextModelName; nfe: number; seconds: number; tokens: number } {
  const file = o.checkpoint ?? shippedFile(TEXT_CHECKPOINTS[o.model ?? 'cdcd']);
  const model = textModelOf(file);
  const { lm } = loadTextLM(file);
  const bpe = brownTokenizer();
  const L = lm.config.backbone.seqLen;
  if (o.prompt !== undefined && o.infill !== undefined) throw new RangeError('sampleText: give a prompt or an infilling pattern, not both');
  const prompt = o.prompt ? bpe.encode(o.prompt) : [];
  const template = o.infill !== undefined ? infillTemplate(o.infill, o.gapTokens ?? 3) : undefined;
  const processors: LogitsProcessor[] = [];
  if (o.temperature !== undefined) processors.push(temperatureProc(o.temperature));
  if (o.topK !== undefined) processors.push(topKProc(o.topK));
  if (o.topP !== undefined) processors.push(topPProc(o.topP));
  if (o.typical !== undefined) processors.push(typicalProc(o.typical));
  if (model !== 'ar' && processors.length) throw new RangeError(`sampleText: temperature/top-k/top-p/typical are decoding strategies of the autoregressive model; this checkpoint is ${model}`);
  if (prompt.length >= L) throw new RangeError(`sampleText: the prompt is ${prompt.length} tokens; the model's window is ${L} tokens, so at most ${L - 1} leave room to generate`);
  if (template && template.length > L) throw new RangeError(`sampleText: the infilling pattern is ${template.length} tokens (gaps included); the model's window is ${L} tokens`);
  const length = o.length ?? (model === 'ar' ? L - prompt.length : L);
  const t0 = performance.now();
  const r = lm.sample({ prompt, template, length, batchSize: o.n ?? 4, steps: o.steps ?? 64, guidance: o.guidance, processors, generator: new Generator(o.seed ?? 0) });
  const seconds = (performance.now() - t0) / 1000;
  const texts = r.tokens.map((row) => {
    // infilling: the template's positions only (the rest of the window is generated but not part of the answer)
    const ids = model === 'ar' ? [...prompt, ...row] : template ? row.slice(0, template.length) : row;
    // a diffusion window's text runs to its first <eos> after the given part
    const cut = ids.indexOf(3, template ? template.length : prompt.length);
    return bpe.decode(cut >= 0 && model !== 'ar' ? ids.slice(0, cut) : ids);
  });
  return { texts, model, nfe: r.nfe, seconds, tokens: r.tokens.length * (model === 'ar' ? r.tokens[0].length : L - prompt.length) };
}

/** Unigram entropy (nats) of the pooled tokens and distinct-n (unique n-grams / n-grams) of samples. */
export function sampleStatistics(rows: number[][]): { unigramEntropy: number; distinct1: number; distinct2: number; distinct3: number } {
  const counts = new Map<number, number>();
  let total = 0;
  for (const r of rows) for (const t of r) { counts.set(t, (counts.get(t) ?? 0) + 1); total++; }
  let H = 0;
  for (const c of counts.values()) H -= (c / total) * Math.log(c / total);
  const distinct = (n: number) => {
    const seen = new Set<string>();
    let all = 0;
    for (const r of rows) for (let i = 0; i + n <= r.length; i++) { seen.add(r.slice(i, i + n).join(',')); all++; }
    return all ? seen.size / all : 0;
  };
  return { unigramEntropy: H, distinct1: distinct(1), distinct2: distinct(2), distinct3: distinct(3) };
}

export interface EvalTextOptions {
  checkpoints: string[];
  /** The AR judge for generative perplexity (default: the shipped judge). */
  judge?: string;
  /** Test windows for the NLL (default 256). */
  testWindows?: number;
  /** Monte Carlo draws per window of the diffusion models' bounds (default 8). */
  boundDraws?: number;
  /** Samples per model (default 32) of the model's window length. */
  samples?: number;
  steps?: number;
  guidance?: number;
  seed?: number;
  /** Also evaluate infilling (diffusion models; default true). */
  infilling?: boolean;
  progress?: boolean;
}

export interface TextEvalRow {
  checkpoint: string;
  model: TextModelName;
  params: number;
  tokensSeen: number | null;
  /** Test NLL per token (nats) and what it is. */
  testNll: number;
  testMeasure: NllMeasure;
  /** Standard error of testNll (Monte Carlo and the choice of windows; 0 when exact). */
  testSe: number;
  /** CDCD: the noise level its bound's decoder reads (chosen on validation windows, `chooseDecoderLevel`). */
  tDecoder?: number;
  /** exp(testNll): a perplexity (exact) or an upper bound on it (elbo, vlb). */
  testPpl: number;
  genPpl: number;
  unigramEntropy: number;
  distinct1: number;
  distinct2: number;
  distinct3: number;
  /** Network evaluations (forward passes of the batch; AR: one per token, with the KV cache). */
  nfePerSample: number;
  secondsPer1kTokens: number;
  steps: number | null;
  infillPpl?: number;
  infillExactMatch?: number;
}

/** The judge's perplexity of token rows (each scored as a window from <bos>). */
export function judgePerplexity(judge: TextTransformer, rows: number[][]): number {
  return noGrad(() => scope(() => {
    const w = tensor(rows, { dtype: 'int64' });
    const r = arNll(judge, w, 2);
    return Math.exp(r.nll / r.tokens);
  }));
}

/** The decoder levels t_d tried for CDCD's bound. */
export const DECODER_LEVELS = [1, 2, 3, 5, 8, 13, 20, 30, 50, 100];

/**
 * CDCD's bound holds for any decoder level t_d (cdcd.ts `diffusionBound`); this picks the one with
 * the smallest bound on the first 32 validation windows (4 draws each), so that the test windows
 * are not used to choose it.
 */
export function chooseDecoderLevel(lm: TextLM, bpe: ReturnType<typeof brownTokenizer>, seed: number, levels = DECODER_LEVELS): number {
  const L = lm.config.backbone.seqLen;
  const o = lm.config.cdcd as { tMin?: number; tMax?: number } | undefined;
  const tMin = o?.tMin ?? 1, tMax = o?.tMax ?? 300;
  const val = tokenWindows('validation', bpe, L);
  try {
    const sub = scope(() => val.narrow(0, 0, Math.min(32, val.shape[0])).clone());
    try {
      let best = tMin, bestV = Infinity;
      for (const t of levels.filter((x) => x >= tMin && x < tMax)) {
        const v = noGrad(() => meanNll(lm, sub, new Generator(seed + 1), 32, { draws: 4, tDecoder: t })).nllPerToken;
        if (v < bestV) { bestV = v; best = t; }
      }
      return best;
    } finally {
      sub.dispose();
    }
  } finally {
    val.dispose();
  }
}

/** Evaluates each checkpoint as described at the top of this file (same seeds and sizes for all). */
export function evalText(o: EvalTextOptions): TextEvalRow[] {
  const judgeFile = o.judge ?? shippedFile(TEXT_CHECKPOINTS.judge);
  const judgeLm = loadTextLM(judgeFile, 'ar').lm;
  const judge = judgeLm.module as TextTransformer;
  const bpe = brownTokenizer();
  const rows: TextEvalRow[] = [];
  const nSamples = o.samples ?? 32;
  const nTest = o.testWindows ?? 256;
  const progress = o.progress ? new Progress({ label: 'eval text', total: o.checkpoints.length * 3 }) : null;
  try {
    for (const file of o.checkpoints) {
      const model = textModelOf(file);
      const { lm, config } = loadTextLM(file);
      const L = lm.config.backbone.seqLen;
      const test = tokenWindows('test', bpe, L);
      const sub = scope(() => test.narrow(0, 0, Math.min(nTest, test.shape[0])).clone());
      test.dispose();
      const tDecoder = model === 'cdcd' ? chooseDecoderLevel(lm, bpe, o.seed ?? 0) : undefined;
      const nll = noGrad(() => meanNll(lm, sub, new Generator(o.seed ?? 0), 32, { draws: o.boundDraws ?? 8, tDecoder }));
      progress?.update(1);
      // unconditional samples of L tokens
      const t0 = performance.now();
      const s = lm.sample({ prompt: [], length: L, batchSize: nSamples, steps: o.steps ?? 64, generator: new Generator(o.seed ?? 0) });
      const seconds = (performance.now() - t0) / 1000;
      const sampleRows = s.tokens.map((r) => r.slice(0, L));
      const genPpl = judgePerplexity(judge, sampleRows);
      const stats = sampleStatistics(sampleRows);
      progress?.update(1);
      const row: TextEvalRow = {
        checkpoint: file, model, params: lmParams(lm), tokensSeen: (config.tokensSeen as number | undefined) ?? null,
        testNll: nll.nllPerToken, testSe: nll.se, ...(tDecoder !== undefined ? { tDecoder } : {}), testMeasure: nll.measure, testPpl: Math.exp(nll.nllPerToken), genPpl, ...stats,
        nfePerSample: s.nfe,
        secondsPer1kTokens: seconds / (nSamples * L) * 1000,
        steps: model === 'ar' ? null : (o.steps ?? 64),
      };
      if ((o.infilling ?? true) && model !== 'ar') Object.assign(row, evalInfilling(lm, judge, sub, o.steps ?? 64, o.seed ?? 0));
      progress?.update(1);
      rows.push(row);
      sub.dispose();
    }
  } finally {
    progress?.close();
  }
  return rows;
}

/**
 * Infilling on test windows: a span of 8 tokens in the middle of each of 16 windows is removed and
 * filled (judge perplexity of the filled windows), and single tokens (one per window, 32 windows)
 * are masked and predicted (exact-match rate).
 */
export function evalInfilling(lm: TextLM, judge: TextTransformer, windows: Tensor, steps: number, seed: number): { infillPpl: number; infillExactMatch: number } {
  const all = windows.tolist() as number[][];
  const L = all[0].length;
  const span = 8, start = Math.floor(L / 2) - span / 2;
  const spans = all.slice(0, 16).map((w) => w.map((v, j) => (j >= start && j < start + span ? null : v)));
  const filled = lm.sample({ prompt: [], templates: spans, length: L, batchSize: spans.length, steps, generator: new Generator(seed) }).tokens;
  const infillPpl = judgePerplexity(judge, filled);
  const rows = all.slice(0, 32);
  const at = rows.map((_, k) => (k * 37 + 11) % L); // one masked position per window, spread, fixed
  const singles = rows.map((w, k) => w.map((v, j) => (j === at[k] ? null : v)));
  const out = lm.sample({ prompt: [], templates: singles, length: L, batchSize: singles.length, steps, generator: new Generator(seed) }).tokens;
  const hits = out.filter((r, k) => r[at[k]] === rows[k][at[k]]).length;
  return { infillPpl, infillExactMatch: hits / rows.length };
}

export function formatEvalTable(rows: TextEvalRow[]): string {
  const head = '| model | params | tokens seen | test NLL/token (ppl) | gen. ppl (judge) | unigram H | distinct-1/2/3 | NFE | s / 1k tokens | infill ppl | infill exact |';
  const lines = rows.map((r) => {
    const what = r.testMeasure === 'exact' ? 'exact' : r.testMeasure === 'elbo' ? 'NELBO, ≥ true' : `VLB with t_d = ${r.tDecoder ?? '?'}, ≥ true`;
    const se = r.testMeasure === 'exact' ? '' : ` ± ${r.testSe.toFixed(3)}`;
    return `| ${r.model} | ${(r.params / 1e6).toFixed(2)}M | ${r.tokensSeen === null ? '?' : (r.tokensSeen / 1e6).toFixed(2) + 'M'} | ${r.testNll.toFixed(3)}${se} (${r.testPpl.toFixed(1)}, ${what}) | ${r.genPpl.toFixed(1)} | ${r.unigramEntropy.toFixed(2)} | ${r.distinct1.toFixed(2)}/${r.distinct2.toFixed(2)}/${r.distinct3.toFixed(2)} | ${r.nfePerSample} | ${r.secondsPer1kTokens.toFixed(2)} | ${r.infillPpl?.toFixed(1) ?? '-'} | ${r.infillExactMatch?.toFixed(2) ?? '-'} |`;
  });
  return [head, '|' + '---|'.repeat(11), ...lines].join('\n');
}

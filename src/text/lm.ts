// The three language models behind one interface, so that training, evaluation and sampling treat
// them alike: a module (everything a checkpoint holds), a training loss, a held-out negative
// log-likelihood (exact for the AR model, an upper bound for the diffusion models) and sampling.
import { Generator, Tensor, scope } from '../tensor';
import type { Module } from '../nn/module';
import { numParams } from '../nn/module';
import { CheckpointObject, loadCheckpoint } from '../train/checkpoint';
import { requireFile } from '../train/shipped';
import type { LogitsProcessor } from '../typicality/decoding';
import { AR_KIND, arGenerate, arLoss, arModelConfig, arNll } from './ar';
import { Positions, TextTransformer, TextTransformerConfig } from './transformer';

export type NllMeasure = 'exact' | 'elbo' | 'vlb';

export const TEXT_MODELS = ['ar', 'mdlm', 'cdcd'] as const;
export type TextModelName = typeof TEXT_MODELS[number];

/** The backbone shared by the three models (same width and depth for a fair comparison). */
export interface BackboneConfig {
  vocabSize: number;
  seqLen: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  positions: Positions;
}

export const DEFAULT_BACKBONE: BackboneConfig = { vocabSize: 4096, seqLen: 128, dim: 192, depth: 4, heads: 4, mlpRatio: 4, positions: 'rotary' };

export interface SampleOptions {
  /** Prompt tokens (a prefix); [] for unconditional samples. */
  prompt: number[];
  /** Tokens to generate after the prompt (AR), or the sequence length incl. the prompt (diffusion: default seqLen). */
  length: number;
  batchSize: number;
  /** Denoising steps (diffusion models). */
  steps?: number;
  /** Classifier-free guidance scale on the prompt (1: none). */
  guidance?: number;
  /** Decoding strategies (AR). */
  processors?: LogitsProcessor[];
  /**
   * Infilling (diffusion models): a full sequence template where null marks a position to fill;
   * the given tokens never change. Replaces prompt/length.
   */
  template?: (number | null)[];
  /** One template per row (batchSize rows); replaces template. */
  templates?: (number | null)[][];
  generator: Generator;
}

export interface TextLM {
  readonly name: TextModelName;
  readonly kind: string;
  /** The whole state a checkpoint holds, as one module. */
  readonly module: Module;
  /** The JSON model config a checkpoint records (rebuilds the model with buildTextLM). */
  readonly config: TextLMConfig;
  /** Mean training loss of windows (B, L) and extra metrics; differentiable. */
  loss(windows: Tensor, generator: Generator): { loss: Tensor; [metric: string]: Tensor | number };
  /**
   * Negative log-likelihood (nats, summed over tokens) and what it is: 'exact' (AR), 'elbo' (MDLM's
   * continuous-time NELBO, an upper bound) or 'vlb' (CDCD's continuous-time variational bound, an
   * upper bound; `draws` Monte Carlo draws of the noise level per window, `tDecoder` the noise level
   * its decoder reads, default t_min). Stochastic estimates also
   * give the value of each window (`perWindow`, nats), from which a standard error follows.
   */
  nll(windows: Tensor, generator: Generator, o?: { draws?: number; tDecoder?: number }): { nll: number; tokens: number; bound: boolean; measure: NllMeasure; perWindow?: number[] };
  /** Stateful objects besides the module that a training checkpoint must hold to resume exactly (CDCD: the CDF's optimizer). */
  checkpointObjects?(): Record<string, CheckpointObject>;
  /** Generated tokens (prompt excluded for AR; the full sequence for diffusion) and network evaluations. */
  sample(o: SampleOptions): { tokens: number[][]; nfe: number };
}

export interface TextLMConfig {
  model: TextModelName;
  backbone: BackboneConfig;
  /** Per-model options (mdlm / cdcd). */
  [key: string]: unknown;
}

export function textKind(model: TextModelName): string {
  return `text-${model}`;
}

class ARModel implements TextLM {
  readonly name = 'ar' as const;
  readonly kind = AR_KIND;
  readonly module: TextTransformer;
  constructor(readonly config: TextLMConfig, generator?: Generator) {
    this.module = new TextTransformer(arBackbone(config.backbone), generator);
  }
  loss(windows: Tensor) {
    return { loss: arLoss(this.module, windows, 2) };
  }
  nll(windows: Tensor) {
    return { ...arNll(this.module, windows, 2), bound: false, measure: 'exact' as const };
  }
  sample(o: SampleOptions) {
    if (o.template) throw new Error('sample: the autoregressive model cannot infill (a template with gaps needs a diffusion model: mdlm or cdcd)');
    return arGenerate(this.module, { prompt: o.prompt, length: o.length, batchSize: o.batchSize, processors: o.processors, guidance: o.guidance, generator: o.generator });
  }
}

export function arBackbone(b: BackboneConfig): TextTransformerConfig {
  return arModelConfig({ vocabSize: b.vocabSize, maxLen: b.seqLen, dim: b.dim, depth: b.depth, heads: b.heads, mlpRatio: b.mlpRatio, positions: b.positions });
}

type Builder = (config: TextLMConfig, generator?: Generator) => TextLM;
const BUILDERS: Partial<Record<TextModelName, Builder>> = { ar: (c, g) => new ARModel(c, g) };

/** Registers the builder of a model (the diffusion models' files do this on import). */
export function registerTextModel(name: TextModelName, build: Builder): void {
  BUILDERS[name] = build;
}

/** Builds a model from its config (fresh weights from `generator`). */
export function buildTextLM(config: TextLMConfig, generator?: Generator): TextLM {
  const b = BUILDERS[config.model];
  if (!b) throw new RangeError(`buildTextLM: model must be one of ${TEXT_MODELS.filter((m) => BUILDERS[m]).join(', ')}, got ${JSON.stringify(config.model)}`);
  return b(config, generator);
}

/** Loads a text model checkpoint (any of the three kinds, or only `expect` when given). */
export function loadTextLM(file: string, expect?: TextModelName): { lm: TextLM; config: Record<string, unknown> } {
  requireFile(file, 'loadTextLM');
  const ck = loadCheckpoint(file);
  try {
    const config = (ck.config ?? {}) as Record<string, unknown>;
    const kinds = TEXT_MODELS.map(textKind);
    if (!kinds.includes(String(ck.kind))) throw new Error(`loadTextLM: ${file} is not a text model checkpoint (its kind is ${JSON.stringify(ck.kind)}; expected one of ${kinds.join(', ')})`);
    if (expect && ck.kind !== textKind(expect)) throw new Error(`loadTextLM: ${file} is a ${ck.kind} checkpoint, expected ${textKind(expect)}`);
    const lm = buildTextLM(config.lm as TextLMConfig);
    ck.restore({ model: lm.module });
    lm.module.eval();
    return { lm, config };
  } finally {
    ck.dispose();
  }
}

export function lmParams(lm: TextLM): number {
  return numParams(lm.module);
}

/**
 * Mean NLL per token of windows in batches, without gradients (for evaluation). For the stochastic
 * bounds, `se` is the standard error of the per-token mean (standard deviation of the per-window
 * estimates / √windows / tokens per window); 0 for the exact likelihood.
 */
export function meanNll(lm: TextLM, windows: Tensor, generator: Generator, batchSize = 32, o: { draws?: number; tDecoder?: number } = {}): { nllPerToken: number; se: number; bound: boolean; measure: NllMeasure; tokens: number } {
  let nll = 0, tokens = 0, bound = false;
  let measure: NllMeasure = 'exact';
  const perWindow: number[] = [];
  const [N, L] = windows.shape;
  for (let i = 0; i < N; i += batchSize) {
    const r = scope(() => lm.nll(windows.narrow(0, i, Math.min(batchSize, N - i)), generator, o));
    nll += r.nll;
    tokens += r.tokens;
    bound = r.bound;
    measure = r.measure;
    if (r.perWindow) perWindow.push(...r.perWindow);
  }
  let se = 0;
  if (perWindow.length > 1) {
    const m = perWindow.reduce((a, b) => a + b, 0) / perWindow.length;
    const v = perWindow.reduce((a, b) => a + (b - m) ** 2, 0) / (perWindow.length - 1);
    se = Math.sqrt(v / perWindow.length) / L;
  }
  return { nllPerToken: nll / tokens, se, bound, measure, tokens };
}

// A DiffWave-style waveform denoiser (Kong et al. 2021): a stack of non-causal dilated convolutions
// (kernel 3, dilations 1, 2, ..., 2^(cycle-1) repeated) with gated units, residual and skip
// connections, conditioned on the noise level (sinusoidal embedding and an MLP, added before every
// dilated convolution) and on global labels (e.g. pitch and instrument, each with a learnable null
// class for classifier-free guidance). It is a raw network F(c_in x, c_noise, { labels }) for
// src/diffusion's EDM preconditioning, so its loss, samplers and guidance are the ones the image
// models use: waveforms are just (B, T) tensors to them.
import { DType, Generator, Tensor, functions as torch, noGrad, scope, tensor } from '../tensor';
import { Conv1d, Embedding, Linear, Module, SinusoidalEmbedding } from '../nn';
import type { InitOptions } from '../nn/layers/util';
import type { Denoiser } from '../diffusion/denoiser';
import { edmPrecondition } from '../diffusion/precondition';
import { karrasSigmas } from '../diffusion/schedules';
import { SamplerName, samplerInfo } from '../diffusion/samplers';
import { classifierFreeGuidance } from '../diffusion/guidance';

export interface DiffWaveConfig {
  /** Residual layers in all. Default 12. */
  layers: number;
  /** Dilations cycle 1 .. 2^(cycle-1). Default 6. */
  cycle: number;
  residualChannels: number;
  kernelSize: number;
  /** Label name -> number of classes (each gets an extra null class for guidance). */
  globalClasses: Record<string, number>;
  sampleRate: number;
  /** Standard deviation of the training waveforms (EDM preconditioning). */
  sigmaData: number;
}

export const DEFAULT_DIFFWAVE: DiffWaveConfig = {
  layers: 12, cycle: 6, residualChannels: 48, kernelSize: 3, globalClasses: { pitch: 128, instrument: 10 }, sampleRate: 16000, sigmaData: 0.2,
};
export const DIFFWAVE_KIND = 'diffwave';

const posInt = (v: unknown, what: string): number => {
  if (!Number.isInteger(v) || (v as number) < 1) throw new RangeError(`DiffWave: ${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
};

class DiffWaveLayer extends Module {
  conv: Conv1d;
  noise: Linear;
  cond: Linear | null;
  res: Conv1d;
  skip: Conv1d;
  constructor(c: DiffWaveConfig, readonly dilation: number, embDim: number, condDim: number, io: InitOptions) {
    super();
    const R = c.residualChannels;
    this.conv = new Conv1d(R, 2 * R, c.kernelSize, { dilation, padding: 'same', ...io });
    this.noise = new Linear(embDim, R, io);
    this.cond = condDim > 0 ? new Linear(condDim, 2 * R, { b: null, ...io }) : null;
    this.res = new Conv1d(R, R, 1, io);
    this.skip = new Conv1d(R, R, 1, io);
  }
  forward(x: Tensor, emb: Tensor, g: Tensor | null): [Tensor, Tensor] {
    return scope(() => {
      let a = this.conv(x.add(this.noise(emb).unsqueeze(2)));
      if (this.cond && g) a = a.add(this.cond(g).unsqueeze(2));
      const [t, s] = a.chunk(2, 1);
      const z = t.tanh().mul(s.sigmoid());
      return [this.res(z).add(x).mul(Math.SQRT1_2), this.skip(z)];
    });
  }
}

export class DiffWave extends Module {
  readonly config: DiffWaveConfig;
  readonly globalNames: string[];
  input: Conv1d;
  sin: SinusoidalEmbedding;
  mlp1: Linear;
  mlp2: Linear;
  globals: Embedding[];
  stack: DiffWaveLayer[];
  post1: Conv1d;
  post2: Conv1d;

  constructor(config: Partial<DiffWaveConfig> = {}, o: { generator?: Generator; dtype?: DType } = {}) {
    super();
    const c: DiffWaveConfig = { ...DEFAULT_DIFFWAVE, ...config, globalClasses: { ...(config.globalClasses ?? DEFAULT_DIFFWAVE.globalClasses) } };
    for (const k of ['layers', 'cycle', 'residualChannels', 'kernelSize', 'sampleRate'] as const) posInt(c[k], k);
    if (c.kernelSize % 2 === 0) throw new RangeError(`DiffWave: kernelSize must be odd (a centred, non-causal kernel), got ${c.kernelSize}`);
    if (c.cycle > 16) throw new RangeError(`DiffWave: cycle must be at most 16, got ${c.cycle}`);
    if (!(c.sigmaData > 0)) throw new RangeError(`DiffWave: sigmaData must be positive, got ${c.sigmaData}`);
    for (const [k, n] of Object.entries(c.globalClasses)) posInt(n, `globalClasses.${k}`);
    this.config = c;
    const io: InitOptions = { generator: o.generator, dtype: o.dtype };
    const R = c.residualChannels, E = 4 * R;
    this.globalNames = Object.keys(c.globalClasses);
    this.input = new Conv1d(1, R, 1, io);
    this.sin = new SinusoidalEmbedding(R, { dtype: o.dtype });
    this.mlp1 = new Linear(R, E, io);
    this.mlp2 = new Linear(E, E, io);
    // index n of each table is the null class
    this.globals = this.globalNames.map((k) => new Embedding(c.globalClasses[k] + 1, E, io));
    this.stack = Array.from({ length: c.layers }, (_, i) => new DiffWaveLayer(c, 2 ** (i % c.cycle), E, this.globalNames.length ? E : 0, io));
    this.post1 = new Conv1d(R, R, 1, io);
    // zero-initialised output: the denoiser starts as c_skip x (DiffWave initialises its output projection to zero)
    this.post2 = new Conv1d(R, 1, 1, { W: (shape, jo) => torch.zeros(shape, { dtype: jo.dtype ?? 'float32' }), ...io });
  }

  /** Samples on each side an output depends on: (k - 1) / 2 * sum(dilations). */
  get receptiveField(): number {
    const c = this.config;
    let s = 0;
    for (let i = 0; i < c.layers; i++) s += 2 ** (i % c.cycle);
    return ((c.kernelSize - 1) / 2) * s;
  }

  /** Labels [B, K] (columns in globalNames order; -1 is the null class) to the summed embedding [B, E]. */
  labelVector(labels: unknown, batch: number): Tensor | null {
    if (!this.globalNames.length) return null;
    const K = this.globalNames.length;
    return scope(() => {
      let l: Tensor;
      if (labels === null || labels === undefined) l = torch.full([batch, K], -1, { dtype: 'int64' });
      else if (labels instanceof Tensor) l = labels.ndim === 1 && K === 1 ? labels.unsqueeze(1) : labels;
      else throw new TypeError(`DiffWave: labels must be an int64 Tensor [${batch}, ${K}] (${this.globalNames.join(', ')}; -1 for none) or null, got ${typeof labels}`);
      if (l.ndim !== 2 || l.shape[1] !== K || (l.shape[0] !== batch && l.shape[0] !== 1)) throw new RangeError(`DiffWave: labels must have shape [${batch}, ${K}] (${this.globalNames.join(', ')}), got [${l.shape.join(', ')}]`);
      if (l.shape[0] === 1 && batch !== 1) l = l.expand([batch, K]);
      let v: Tensor | null = null;
      this.globalNames.forEach((k, i) => {
        const n = this.config.globalClasses[k];
        const col = l.select(1, i);
        if (col.min().item() < -1 || col.max().item() >= n) throw new RangeError(`DiffWave: labels column ${i} (${k}) must be in -1..${n - 1}, got values in ${col.min().item()}..${col.max().item()}`);
        const e = this.globals[i](torch.where(col.lt(0), torch.full([], n, { dtype: 'int64' }), col));
        v = v ? v.add(e) : e;
      });
      return v!;
    });
  }

  /** The raw network: xIn [B, T] (scaled noisy audio), cNoise [B], extra.labels -> [B, T]. */
  forward(xIn: Tensor, cNoise: Tensor, extra?: Record<string, unknown>): Tensor {
    if (!(xIn instanceof Tensor) || xIn.ndim !== 2) throw new RangeError(`DiffWave: x must be a Tensor [batch, samples], got ${xIn instanceof Tensor ? `[${xIn.shape.join(', ')}]` : typeof xIn}`);
    const b = xIn.shape[0];
    return scope(() => {
      const emb = torch.silu(this.mlp2(torch.silu(this.mlp1(this.sin(cNoise))))); // [B, E]
      const g = this.labelVector(extra?.labels, b);
      let x = this.input(xIn.unsqueeze(1)).relu(); // [B, R, T]
      let skips: Tensor | null = null;
      for (const layer of this.stack) {
        const [y, s] = layer(x, emb, g);
        x = y;
        skips = skips ? skips.add(s) : s;
      }
      const out = this.post2(this.post1(skips!.mul(1 / Math.sqrt(this.stack.length))).relu());
      return out.squeeze(1);
    });
  }

  /** The EDM-preconditioned denoiser D(x, σ, { labels }) for src/diffusion's losses and samplers. */
  denoiser(): Denoiser {
    return edmPrecondition((x, c, extra) => this.forward(x, c, extra), { sigmaData: this.config.sigmaData });
  }
}

export interface DiffWaveSampleOptions {
  /** Labels [B, K] (int64; -1 for none) or null for unconditional. */
  labels: Tensor | null;
  batch?: number;
  length: number;
  /** Classifier-free guidance scale (1: conditional, default). */
  guidance?: number;
  sampler?: SamplerName;
  steps?: number;
  sigmaMin?: number;
  sigmaMax?: number;
  generator?: Generator;
}

/** Draws waveforms [B, length] with an EDM sampler from src/diffusion on the Karras σ grid, clipped to [-1, 1]. */
export function sampleDiffWave(model: DiffWave, o: DiffWaveSampleOptions): Tensor {
  const batch = o.batch ?? (o.labels ? o.labels.shape[0] : 1);
  posInt(batch, 'sample: batch');
  posInt(o.length, 'sample: length');
  const steps = o.steps ?? 12;
  posInt(steps, 'sample: steps');
  const gamma = o.guidance ?? 1;
  if (!Number.isFinite(gamma)) throw new RangeError(`DiffWave: sample: guidance must be a finite number, got ${gamma}`);
  const info = samplerInfo(o.sampler ?? 'heun');
  const sigmaMax = o.sigmaMax ?? 20 * model.config.sigmaData, sigmaMin = o.sigmaMin ?? 2e-4;
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => scope(() => {
      const base = model.denoiser();
      const labels = o.labels;
      let d: Denoiser = (x, s, extra) => base(x, s, { ...extra, labels });
      if (labels && gamma !== 1) {
        const nullCond = torch.full([1, labels.shape[1]], -1, { dtype: 'int64' });
        d = classifierFreeGuidance(base, { scale: gamma, key: 'labels', cond: labels, nullCond });
      }
      const sigmas = karrasSigmas(steps, { sigmaMin, sigmaMax, rho: 7 });
      const x = torch.randn([batch, o.length], { generator: o.generator }).mul(sigmaMax);
      return info.fn(d, x, sigmas, { generator: o.generator }).clamp(-1, 1);
    }));
  } finally {
    model.train(wasTraining);
  }
}

/** Labels [B, K] for a DiffWave model from named columns, e.g. { pitch: [60, 62], instrument: [0, 3] }. */
export function diffwaveLabels(model: DiffWave, named: Record<string, number[]>): Tensor {
  const K = model.globalNames.length;
  const cols = model.globalNames.map((k) => {
    if (!(k in named)) throw new TypeError(`diffwaveLabels: missing ${k} (the model is conditioned on ${model.globalNames.join(', ')})`);
    return named[k];
  });
  const n = cols[0].length;
  if (cols.some((c) => c.length !== n)) throw new RangeError('diffwaveLabels: every label list must have the same length');
  const flat: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < K; j++) flat.push(cols[j][i]);
  return tensor(flat, { dtype: 'int64' }).reshape([n, K]);
}

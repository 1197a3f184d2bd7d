// WaveNet (van den Oord et al. 2016): stacks of dilated causal convolutions (dilations 1, 2, ...,
// 2^(L-1), repeated), gated tanh x sigmoid units, residual and skip connections, a 256-way softmax
// over mu-law codes, global conditioning (e.g. pitch, instrument, voice) and local conditioning on an
// upsampled mel spectrogram (vocoder mode). Generation comes two ways that give the same samples:
// naive (each new sample recomputes the whole receptive field: O(2^L) per sample) and cached
// (one queue of past activations per layer, as fast-wavenet, Paine et al. 2016: O(L) per sample).
import { DType, Generator, Tensor, functions as torch, noGrad, scope, keep, tensor } from '../tensor';
import type { InitOptions } from '../nn/layers/util';
import { Conv1d, Embedding, Linear, Module } from '../nn';
import { muLawDecodeTorchaudio } from './mulaw';

export interface WaveNetConfig {
  /** Layers per stack; stack k's layer i has dilation 2^i. Default 10. */
  layers: number;
  /** Stacks (repeats of the dilation cycle). Default 2. */
  stacks: number;
  /** Kernel size of the dilated convolutions (WaveNet: 2). */
  kernelSize: number;
  residualChannels: number;
  gateChannels: number;
  skipChannels: number;
  /** Output classes: mu-law codes (torchaudio's convention, 0..quantization-1). Default 256. */
  quantization: number;
  /** Global conditioning: a categorical label name -> its number of classes (embeddings summed). */
  globalClasses: Record<string, number>;
  /** Local conditioning: channels of the conditioning frames (e.g. 80 mel bins), 0 for none. */
  localChannels: number;
  /** Samples per conditioning frame (the mel hop): frames are repeated this many times. */
  localHop: number;
  sampleRate: number;
}

export const DEFAULT_WAVENET: WaveNetConfig = {
  layers: 10, stacks: 2, kernelSize: 2, residualChannels: 32, gateChannels: 64, skipChannels: 64,
  quantization: 256, globalClasses: {}, localChannels: 0, localHop: 256, sampleRate: 16000,
};
/** The `kind` in a WaveNet checkpoint's config. */
export const WAVENET_KIND = 'wavenet';

const posInt = (v: unknown, what: string, min = 1): number => {
  if (!Number.isInteger(v) || (v as number) < min) throw new RangeError(`WaveNet: ${what} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v as number;
};

/** The dilations of every layer in order: stacks x [1, 2, ..., 2^(layers-1)]. */
export function wavenetDilations(layers: number, stacks: number): number[] {
  posInt(layers, 'layers');
  posInt(stacks, 'stacks');
  return Array.from({ length: layers * stacks }, (_, i) => 2 ** (i % layers));
}

/**
 * Samples of input one output sample depends on: (k - 1) * sum(dilations) + 1, r9y9/wavenet_vocoder's
 * `receptive_field_size` (its first convolution is 1x1, as here). ibab/tensorflow-wavenet adds its
 * initial causal convolution's width - 1 on top: pass `initialKernel` for that count.
 */
export function receptiveField(layers: number, stacks: number, kernelSize = 2, initialKernel = 1): number {
  posInt(kernelSize, 'kernelSize');
  posInt(initialKernel, 'initialKernel');
  return (kernelSize - 1) * wavenetDilations(layers, stacks).reduce((a, b) => a + b, 0) + 1 + (initialKernel - 1);
}

/** One residual layer: dilated causal conv -> (+ conditioning) -> tanh(a) * sigmoid(b) -> 1x1 to residual and skip. */
export class WaveNetLayer extends Module {
  conv: Conv1d;
  res: Conv1d;
  skip: Conv1d;
  cond: Linear | null;
  local: Conv1d | null;
  readonly dilation: number;

  constructor(c: WaveNetConfig, dilation: number, condDim: number, g: InitOptions = {}) {
    super();
    this.dilation = dilation;
    this.conv = new Conv1d(c.residualChannels, c.gateChannels, c.kernelSize, { dilation, padding: 'causal', ...g });
    this.res = new Conv1d(c.gateChannels / 2, c.residualChannels, 1, g);
    this.skip = new Conv1d(c.gateChannels / 2, c.skipChannels, 1, g);
    this.cond = condDim > 0 ? new Linear(condDim, c.gateChannels, { b: null, ...g }) : null;
    this.local = c.localChannels > 0 ? new Conv1d(c.localChannels, c.gateChannels, 1, { b: null, ...g }) : null;
  }

  // Gates from the pre-activation a [B, gate, T] (any T): residual output and skip contribution.
  gate(a: Tensor, x: Tensor): [Tensor, Tensor] {
    const [t, s] = a.chunk(2, 1);
    const z = t.tanh().mul(s.sigmoid());
    return [this.res(z).add(x).mul(Math.SQRT1_2), this.skip(z)];
  }

  /** x [B, R, T], g [B, condDim] or null, l [B, localChannels, T] or null -> [residual out, skip]. */
  forward(x: Tensor, g: Tensor | null, l: Tensor | null): [Tensor, Tensor] {
    return scope(() => {
      let a = this.conv(x);
      if (this.cond && g) a = a.add(this.cond(g).unsqueeze(2));
      if (this.local && l) a = a.add(this.local(l));
      return this.gate(a, x);
    });
  }
}

/** Global conditioning labels (e.g. { pitch, instrument }), each [B] int64. */
export type GlobalLabels = Record<string, Tensor>;

export class WaveNet extends Module {
  readonly config: WaveNetConfig;
  input: Embedding;
  globals: Embedding[];
  stack: WaveNetLayer[];
  post1: Conv1d;
  post2: Conv1d;
  readonly globalNames: string[];

  constructor(config: Partial<WaveNetConfig> = {}, o: { generator?: Generator; dtype?: DType } = {}) {
    super();
    const c: WaveNetConfig = { ...DEFAULT_WAVENET, ...config, globalClasses: { ...(config.globalClasses ?? DEFAULT_WAVENET.globalClasses) } };
    for (const k of ['layers', 'stacks', 'kernelSize', 'residualChannels', 'gateChannels', 'skipChannels', 'localHop', 'sampleRate'] as const) posInt(c[k], k);
    posInt(c.quantization, 'quantization', 2);
    posInt(c.localChannels, 'localChannels', 0);
    if (c.gateChannels % 2) throw new RangeError(`WaveNet: gateChannels must be even (tanh and sigmoid halves), got ${c.gateChannels}`);
    if (c.layers > 16) throw new RangeError(`WaveNet: layers must be at most 16 (dilation 2^15), got ${c.layers}`);
    for (const [k, n] of Object.entries(c.globalClasses)) posInt(n, `globalClasses.${k}`);
    this.config = c;
    const g: InitOptions = { generator: o.generator, dtype: o.dtype };
    this.globalNames = Object.keys(c.globalClasses);
    // The first layer is a 1x1 convolution of the one-hot code, i.e. an embedding of the code.
    this.input = new Embedding(c.quantization, c.residualChannels, g);
    const condDim = this.globalNames.length ? c.residualChannels : 0;
    this.globals = this.globalNames.map((k) => new Embedding(c.globalClasses[k], c.residualChannels, g));
    this.stack = wavenetDilations(c.layers, c.stacks).map((d) => new WaveNetLayer(c, d, condDim, g));
    this.post1 = new Conv1d(c.skipChannels, c.skipChannels, 1, g);
    this.post2 = new Conv1d(c.skipChannels, c.quantization, 1, g);
  }

  get receptiveField(): number {
    return receptiveField(this.config.layers, this.config.stacks, this.config.kernelSize);
  }

  /** The summed global-conditioning embedding [B, R] (null without global conditioning). */
  globalVector(labels: GlobalLabels | undefined, batch: number): Tensor | null {
    if (!this.globalNames.length) return null;
    if (!labels) throw new TypeError(`WaveNet: this model is conditioned on ${this.globalNames.join(', ')}: pass labels { ${this.globalNames.join(', ')} }`);
    return scope(() => {
      let v: Tensor | null = null;
      this.globalNames.forEach((k, i) => {
        const y = labels[k];
        if (!(y instanceof Tensor)) throw new TypeError(`WaveNet: labels.${k} must be an int64 Tensor [${batch}], got ${y === undefined ? 'nothing' : typeof y}`);
        if (y.ndim !== 1 || y.shape[0] !== batch) throw new RangeError(`WaveNet: labels.${k} must have shape [${batch}], got [${y.shape.join(', ')}]`);
        const n = this.config.globalClasses[k];
        if (y.numel() && (y.min().item() < 0 || y.max().item() >= n)) throw new RangeError(`WaveNet: labels.${k} must be in 0..${n - 1}, got values in ${y.min().item()}..${y.max().item()}`);
        const e = this.globals[i](y);
        v = v ? v.add(e) : e;
      });
      return v!;
    });
  }

  /** Local conditioning frames [B, C, F] -> per-sample [B, C, F * hop] (each frame repeated hop times). */
  upsample(local: Tensor | undefined, batch: number, length: number): Tensor | null {
    if (!this.config.localChannels) return null;
    const c = this.config;
    if (!(local instanceof Tensor)) throw new TypeError(`WaveNet: this model is a vocoder: pass local conditioning frames [${batch}, ${c.localChannels}, frames]`);
    if (local.ndim !== 3 || local.shape[0] !== batch || local.shape[1] !== c.localChannels) {
      throw new RangeError(`WaveNet: local must have shape [${batch}, ${c.localChannels}, frames], got [${local.shape.join(', ')}]`);
    }
    if (local.shape[2] * c.localHop < length) throw new RangeError(`WaveNet: local has ${local.shape[2]} frames, covering ${local.shape[2] * c.localHop} samples at hop ${c.localHop}; ${length} are needed`);
    return scope(() => local.repeatInterleave(c.localHop, 2).narrow(2, 0, length));
  }

  /**
   * Teacher-forced logits: codes [B, T] int64 (mu-law codes) -> [B, quantization, T], where output t
   * depends on codes[..t] only; it predicts codes[t + 1]. Local frames [B, C, F] condition output t with
   * the frame of sample t + localOffset (loss() passes 1: each prediction sees the frame of the sample it predicts).
   */
  forward(codes: Tensor, labels?: GlobalLabels, local?: Tensor, localOffset = 0): Tensor {
    if (!(codes instanceof Tensor) || codes.ndim !== 2) throw new RangeError(`WaveNet: codes must be an int64 Tensor [batch, time], got ${codes instanceof Tensor ? `[${codes.shape.join(', ')}]` : typeof codes}`);
    const [b, t] = codes.shape;
    return scope(() => {
      const g = this.globalVector(labels, b);
      const l = this.upsample(local, b, t + localOffset)?.narrow(2, localOffset, t) ?? null;
      let x = this.input(codes).transpose(1, 2); // [B, R, T]
      let skips: Tensor | null = null;
      for (const layer of this.stack) {
        const [y, s] = layer(x, g, l);
        x = y;
        skips = skips ? skips.add(s) : s;
      }
      return this.post2(this.post1(skips!.relu()).relu());
    });
  }

  /** Mean cross-entropy in nats of predicting codes[:, 1:] from codes[:, :-1] (bits per sample: / ln 2). */
  loss(codes: Tensor, labels?: GlobalLabels, local?: Tensor): Tensor {
    return scope(() => {
      const t = codes.shape[1];
      const logits = this.forward(codes.narrow(1, 0, t - 1), labels, local, 1);
      return torch.crossEntropyLoss(logits, codes.narrow(1, 1, t - 1));
    });
  }
}

export interface GenerateOptions {
  /** Samples to generate. */
  length: number;
  /** Examples in the batch (default 1, or the labels' batch). */
  batch?: number;
  labels?: GlobalLabels;
  /** Local conditioning frames [B, C, F] (vocoder mode). */
  local?: Tensor;
  /** Softmax temperature (default 1); 0 is greedy (argmax). */
  temperature?: number;
  generator?: Generator;
  /** 'cached' (default, O(layers) per sample) or 'naive' (recompute the receptive field, O(2^layers)). */
  method?: 'cached' | 'naive';
  /** The code before the first sample (default: the code of silence, quantization / 2). */
  start?: number;
  /** Called after every `every` samples with the number done (progress bars). */
  onProgress?: (done: number, total: number) => void;
  every?: number;
  /** Also return every step's logits [B, quantization, length] (e.g. to score the samples). */
  withLogits?: boolean;
  /**
   * Codes [B, P] to continue from (a primer, as WaveNet's generation from a prompt): the result holds only the
   * new samples; local frames, when given, cover the primer and then the new samples.
   */
  prime?: Tensor;
}

// Draws codes from logits [B, Q] with one uniform per example: the inverse CDF, so that two generation methods
// with the same uniforms and (nearly) the same logits pick the same codes.
function drawCodes(logits: Tensor, u: Tensor, temperature: number): Tensor {
  if (temperature === 0) return logits.argmax(1);
  const p = logits.div(temperature).softmax(1);
  const cdf = p.cumsum(1);
  const idx = torch.searchsorted(cdf, u.unsqueeze(1).mul(cdf.narrow(1, cdf.shape[1] - 1, 1)), { right: true }).squeeze(1);
  return idx.clampMax(logits.shape[1] - 1);
}

/**
 * Generate `length` mu-law codes autoregressively; returns { codes [B, length] int64, audio [B, length]
 * float in [-1, 1] }. Both methods consume the same random numbers, so for the same generator seed they
 * give the same samples (exactly in float64; in float32 up to draws that land within rounding of a
 * boundary of the softmax's CDF).
 */
export function generate(model: WaveNet, o: GenerateOptions): { codes: Tensor; audio: Tensor; logits?: Tensor } {
  const c = model.config;
  posInt(o.length, 'generate: length');
  if (o.length > 10_000_000) throw new RangeError(`WaveNet: generate: length must be at most 10,000,000 samples, got ${o.length}`);
  const firstLabel = o.labels ? Object.values(o.labels)[0] : undefined;
  const batch = o.batch ?? (firstLabel ? firstLabel.shape[0] : o.local ? o.local.shape[0] : 1);
  posInt(batch, 'generate: batch');
  const temperature = o.temperature ?? 1;
  if (!(temperature >= 0 && temperature <= 100)) throw new RangeError(`WaveNet: generate: temperature must be in [0, 100], got ${temperature}`);
  const method = o.method ?? 'cached';
  if (method !== 'cached' && method !== 'naive') throw new RangeError(`WaveNet: generate: method must be 'cached' or 'naive', got ${JSON.stringify(method)}`);
  const start = o.start ?? Math.floor(c.quantization / 2);
  if (!Number.isInteger(start) || start < 0 || start >= c.quantization) throw new RangeError(`WaveNet: generate: start must be a code in 0..${c.quantization - 1}, got ${start}`);
  const every = o.every ?? 1000;
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => scope(() => {
      const dtype = (model.post2.W as Tensor).dtype;
      const g = model.globalVector(o.labels, batch)?.to(dtype) ?? null;
      const p = o.prime;
      if (p !== undefined && (!(p instanceof Tensor) || p.ndim !== 2 || p.shape[0] !== batch || p.dtype !== 'int64')) {
        throw new RangeError(`WaveNet: generate: prime must be int64 codes [${batch}, P], got ${p instanceof Tensor ? `${p.dtype} [${p.shape.join(', ')}]` : typeof p}`);
      }
      if (p && p.numel() && (p.min().item() < 0 || p.max().item() >= c.quantization)) throw new RangeError(`WaveNet: generate: prime codes must be in 0..${c.quantization - 1}`);
      const P = p ? p.shape[1] : 0;
      const l = model.upsample(o.local, batch, P + o.length)?.to(dtype) ?? null;
      const uniforms = temperature === 0 ? null : torch.rand([o.length, batch], { generator: o.generator, dtype: 'float64' }).to(dtype);
      const out: Tensor[] = [], logits: Tensor[] = [];
      const stepper = method === 'cached' ? new CachedStepper(model, batch, g, l) : new NaiveStepper(model, g, l);
      try {
        let prev = torch.full([batch], start, { dtype: 'int64' });
        if (p && P > 0) {
          stepper.prime(prev, p);
          prev = p.select(1, P - 1);
        }
        for (let t = 0; t < o.length; t++) {
          const next = scope(() => {
            const z = stepper.step(prev, P + t);
            if (o.withLogits) logits.push(keep(z));
            return drawCodes(z, uniforms ? uniforms.select(0, t) : tensor([0]), temperature);
          });
          out.push(next);
          prev = next;
          if (o.onProgress && ((t + 1) % every === 0 || t + 1 === o.length)) o.onProgress(t + 1, o.length);
        }
      } finally {
        stepper.dispose();
      }
      const codes = torch.stack(out, 1);
      const all = o.withLogits ? torch.stack(logits, 2) : null;
      logits.forEach((z) => z.dispose());
      return { codes, audio: muLawDecodeTorchaudio(codes, c.quantization), ...(all ? { logits: all } : {}) };
    }));
  } finally {
    model.train(wasTraining);
  }
}

/**
 * One step of generation at a time (streaming, or timing one method): the logits of the next sample from the
 * previous code. Made by wavenetStepper; dispose() frees its queues.
 */
export interface Stepper {
  /** Logits [B, Q] of the sample after `prev` [B], the code at step t - 1. */
  step(prev: Tensor, t: number): Tensor;
  /** Consume the primer codes [B, P] (steps 0 .. P - 1, the first after `start`) without drawing. */
  prime(start: Tensor, codes: Tensor): void;
  dispose(): void;
}

/**
 * A stepper for `method` over a batch: call prime() (optional) and then step(prev, t) for t = P, P + 1, ...
 * (without gradients; put the model in eval mode; generate() is this loop with sampling). Labels and local frames as generate's.
 */
export function wavenetStepper(model: WaveNet, o: { method?: 'cached' | 'naive'; batch: number; labels?: GlobalLabels; local?: Tensor; length?: number }): Stepper {
  posInt(o.batch, 'wavenetStepper: batch');
  const dtype = (model.post2.W as Tensor).dtype;
  const g = model.globalVector(o.labels, o.batch)?.to(dtype) ?? null;
  const l = o.local ? model.upsample(o.local, o.batch, o.length ?? o.local.shape[2] * model.config.localHop)?.to(dtype) ?? null : null;
  if (g) keep(g);
  if (l) keep(l);
  const inner = noGrad(() => ((o.method ?? 'cached') === 'cached' ? new CachedStepper(model, o.batch, g, l) : new NaiveStepper(model, g, l)));
  return {
    step: (prev, t) => noGrad(() => inner.step(prev, t)),
    prime: (start, codes) => noGrad(() => inner.prime(start, codes)),
    dispose: () => { inner.dispose(); g?.dispose(); l?.dispose(); },
  };
}

// Naive: keep the last receptive-field codes and run the whole network over that window at every step.
class NaiveStepper implements Stepper {
  private history: Tensor[] = [];
  private readonly rf: number;
  constructor(private model: WaveNet, private g: Tensor | null, private l: Tensor | null) {
    this.rf = model.receptiveField;
  }
  step(prev: Tensor, t: number): Tensor {
    this.history.push(keep(prev.clone()));
    if (this.history.length > this.rf) this.history.shift()!.dispose();
    const m = this.model, n = this.history.length;
    return scope(() => {
      const window = torch.stack(this.history, 1); // [B, n]: the codes of steps t - n .. t - 1
      const lw = this.l ? this.l.narrow(2, t - n + 1, n) : null; // the frames of steps t - n + 1 .. t
      let x = m.input(window).transpose(1, 2);
      let skips: Tensor | null = null;
      for (const layer of m.stack) {
        const [y, s] = layer(x, this.g, lw);
        x = y;
        skips = skips ? skips.add(s) : s;
      }
      const last = skips!.narrow(2, n - 1, 1);
      return m.post2(m.post1(last.relu()).relu()).squeeze(2);
    });
  }
  prime(start: Tensor, codes: Tensor): void {
    // The history before step P holds the codes of steps .. P - 2 (start, then the primer but its last code,
    // which step P pushes): the network reruns on the window anyway, so nothing is computed here.
    const all = [start, ...codes.narrow(1, 0, codes.shape[1] - 1).unbind(1)];
    for (const h of all.slice(Math.max(0, all.length - (this.rf - 1)))) this.history.push(keep(h.clone()));
  }
  dispose(): void {
    this.history.forEach((h) => h.dispose());
  }
}

// Cached (fast-wavenet): layer i with dilation d needs its inputs from d, 2d, ..., (k - 1) d steps ago, so it keeps
// a ring of its last (k - 1) d inputs; a step is then one matrix product of [past inputs, input] with the conv's taps
// stacked, the gate, and the 1x1 residual and skip convolutions as matrix products.
class CachedStepper implements Stepper {
  private taps: Tensor[];
  private bias: (Tensor | null)[];
  private res: [Tensor, Tensor][];
  private skip: [Tensor, Tensor][];
  private rings: Tensor[];
  private readonly owned: Tensor[] = [];
  constructor(private model: WaveNet, batch: number, g: Tensor | null, private l: Tensor | null) {
    const k = model.config.kernelSize;
    const own = (t: Tensor) => (this.owned.push(keep(t)), t);
    // W [gate, R, k]: tap j multiplies the input (k - 1 - j) d steps back; stacked as [k R, gate] in tap order.
    this.taps = model.stack.map((layer) => own((layer.conv.W as Tensor).permute([2, 1, 0]).reshape([-1, (layer.conv.W as Tensor).shape[0]]).contiguous()));
    // The conv bias plus the global conditioning's projection: one [B, gate] (or [gate]) term per layer.
    this.bias = model.stack.map((layer) => {
      const parts = [layer.conv.b as Tensor | null, layer.cond && g ? layer.cond(g) : null].filter((x): x is Tensor => x !== null);
      return parts.length ? own(parts.length === 2 ? parts[0].add(parts[1]) : parts[0].clone()) : null;
    });
    const mat = (c: Conv1d): [Tensor, Tensor] => [own((c.W as Tensor).squeeze(2).t().contiguous()), own(c.b ? (c.b as Tensor).clone() : torch.zeros([(c.W as Tensor).shape[0]], { dtype: (c.W as Tensor).dtype }))];
    this.res = model.stack.map((layer) => mat(layer.res));
    this.skip = model.stack.map((layer) => mat(layer.skip));
    // Before the start the rings hold zeros: what the causal convolution's padding feeds the layer.
    const dtype = (model.post2.W as Tensor).dtype;
    this.rings = model.stack.map((layer) => own(torch.zeros([(k - 1) * layer.dilation, batch, model.config.residualChannels], { dtype })));
  }
  step(prev: Tensor, t: number): Tensor {
    const m = this.model, k = m.config.kernelSize;
    return scope(() => {
      let x = m.input(prev); // [B, R]
      const local = this.l ? this.l.select(2, t) : null;
      let skips: Tensor | null = null;
      m.stack.forEach((layer, i) => {
        const d = layer.dilation, ring = this.rings[i], n = ring.shape[0];
        const past = Array.from({ length: k - 1 }, (_, j) => ring.select(0, (((t - (k - 1 - j) * d) % n) + n) % n));
        const inp = torch.cat([...past, x], 1); // [B, k R]
        let a = this.bias[i] ? torch.addmm(this.bias[i]!, inp, this.taps[i]) : inp.matmul(this.taps[i]);
        if (layer.local && local) a = a.add(layer.local(local.unsqueeze(2)).squeeze(2));
        ring.select(0, t % n).copy_(x);
        const [th, sg] = a.chunk(2, 1);
        const z = th.tanh().mul(sg.sigmoid());
        x = torch.addmm(this.res[i][1], z, this.res[i][0]).add(x).mul(Math.SQRT1_2);
        skips = skips ? torch.addmm(skips, z, this.skip[i][0]).add(this.skip[i][1]) : torch.addmm(this.skip[i][1], z, this.skip[i][0]);
      });
      return m.post2(m.post1(skips!.relu().unsqueeze(2)).relu()).squeeze(2);
    });
  }
  prime(start: Tensor, codes: Tensor): void {
    // Teacher-forced steps through the primer fill the rings (their logits are dropped).
    let prev = start;
    for (let t = 0; t < codes.shape[1]; t++) {
      scope(() => this.step(prev, t));
      prev = codes.select(1, t);
    }
  }
  dispose(): void {
    this.owned.forEach((x) => x.dispose());
  }
}

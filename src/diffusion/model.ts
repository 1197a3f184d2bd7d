// A class-conditional image diffusion model as the CLI trains, saves, loads and samples it: a U-Net,
// the output parameterisation (EDM preconditioning, ε- or x0-prediction) that makes it a denoiser,
// and sampling with any sampler, classifier-free guidance, score temperature or classifier guidance.
import { Generator, Tensor, checkComputeDevice, functions as torch, keep, noGrad, scope, tensor } from '../tensor';
import { loadModel } from '../train/checkpoint';
import { Progress } from '../train/progress';
import type { Denoiser } from './denoiser';
import { CoefficientFn, edmCoefficients, epsCoefficients, precondition } from './precondition';
import { SamplerName, StepInfo, TableSamplerOptions, samplerInfo } from './samplers';
import { NoisyLogProb, classifierFreeGuidance, classifierGuidance, dynamicThresholding, scoreTemperature } from './guidance';
import { karrasSigmas } from './schedules';
import { UNet, UNetConfig } from './unet';

/** What the network's output means: 'edm' (Karras et al. 2022 preconditioning), 'eps' or 'x0'. */
export type Prediction = 'edm' | 'eps' | 'x0';
export const PREDICTIONS: readonly Prediction[] = ['edm', 'eps', 'x0'];

export type UNetShape = Omit<UNetConfig, 'generator' | 'dropoutGenerator'>;

export interface DiffusionModelConfig {
  unet: UNetShape;
  prediction: Prediction;
  /** σ_data of the EDM preconditioning (the data are images in [-1, 1]). */
  sigmaData: number;
}

export const DEFAULT_DIFFUSION_MODEL: DiffusionModelConfig = {
  unet: { inChannels: 1, outChannels: 1, channels: 32, channelMult: [1, 2, 2], numResBlocks: 1, imageSize: 28, numClasses: 10, dropout: 0 },
  prediction: 'edm',
  sigmaData: 0.5,
};

/**
 * x0-prediction in EDM form: D = F(c_in·x, c_noise), c_skip = 0, c_out = 1, with the same
 * c_in = 1/sqrt(σ² + 1) (the VP-scaled input) and c_noise = ¼ ln σ as epsCoefficients, so that the
 * ε- and x0-predicting networks differ only in what their output means.
 */
export function x0Coefficients(): CoefficientFn {
  return (sigma) => ({
    cSkip: torch.zerosLike(sigma),
    cOut: torch.onesLike(sigma),
    cIn: sigma.square().add(1).rsqrt(),
    cNoise: sigma.log().mul(0.25),
  });
}

export function coefficientsFor(prediction: Prediction, sigmaData: number): CoefficientFn {
  switch (prediction) {
    case 'edm': return edmCoefficients({ sigmaData });
    case 'eps': return epsCoefficients();
    case 'x0': return x0Coefficients();
    default: throw new TypeError(`prediction: expected one of ${PREDICTIONS.join(', ')}, got ${JSON.stringify(prediction)}`);
  }
}

/** The denoiser D(x, σ, { labels }) of a U-Net under the config's parameterisation. */
export function denoiserOf(net: UNet, cfg: Pick<DiffusionModelConfig, 'prediction' | 'sigmaData'>): Denoiser {
  return precondition((xIn, cNoise, extra) => net.forward(xIn, cNoise, extra), coefficientsFor(cfg.prediction, cfg.sigmaData));
}

export function buildUNet(cfg: DiffusionModelConfig, generator?: Generator): UNet {
  return new UNet({ ...cfg.unet, generator });
}

/** The `kind` in the config of a diffusion model's checkpoint. */
export const DIFFUSION_KIND = 'diffusion';
/** What the denoiser takes and returns, as checkpoints record it (`config.input`). */
export const DIFFUSION_INPUT = { range: [-1, 1], note: 'images scaled to [-1, 1] (x * 2 - 1 of [0, 1] pixels); the denoiser D(x, sigma, labels) returns the same scale' };

/**
 * Loads a checkpoint written by `refinery train diffusion` (EMA weights and config in its metadata),
 * or a PyTorch state dict of its twin (python/refinery_twins.py), without touching any generator.
 */
export function loadDiffusionModel(file: string): { net: UNet; config: DiffusionModelConfig; denoiser: Denoiser; meta: Record<string, unknown> } {
  // a throwaway generator for the initial weights: loading leaves the global one alone
  let model: DiffusionModelConfig = DEFAULT_DIFFUSION_MODEL;
  const { model: net, config } = loadModel(file, DIFFUSION_KIND, (c: DiffusionModelConfig) => buildUNet((model = c), new Generator(0)), DEFAULT_DIFFUSION_MODEL);
  return { net, config: model, denoiser: denoiserOf(net, model), meta: config };
}

export interface GenerateOptions {
  /** Class of each sample; -1 or null for unconditional. */
  labels: number[];
  /** Classifier-free guidance scale γ (0 unconditional, 1 conditional; default 1). */
  guidance?: number;
  /** Guide only for σ in this interval. */
  guidanceInterval?: [number, number];
  /** Multiply the (conditional) score by this factor instead (score temperature; default none). */
  temperature?: number;
  /** Classifier guidance: log p(y | x_σ) of a noise-conditional classifier for the labels, and its scale; the model runs unconditionally. */
  classifier?: { logProb: (labels: Tensor) => NoisyLogProb; scale: number };
  /** Imagen's dynamic thresholding percentile (e.g. 0.995). */
  threshold?: number;
  /** Static thresholding: clamp D(x, σ) to [-1, 1] at every step (DDPM's clip_denoised). */
  clip?: boolean;
  sampler?: SamplerName;
  steps?: number;
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
  /** Heun's S_churn (default 0). */
  churn?: number;
  /** DDIM's eta (default 0) and Euler-ancestral's (default 1); the other samplers ignore it. */
  eta?: number;
  seed?: number;
  /** Images per batch (default 100). */
  batchSize?: number;
  /** Image shape (C, H, W) (default 1×28×28). */
  shape?: [number, number, number];
  progress?: boolean | string;
  /**
   * Where the sampling runs (the model's device; default 'cpu'). The initial noise is drawn on the
   * CPU from the seed and moved, so a seed gives the same images on any device (to its arithmetic).
   */
  device?: string;
  /** Called with each step of the FIRST batch (e.g. for a trajectory strip). */
  callback?: (info: StepInfo) => void;
}

/** The guided denoiser for one batch of labels. */
export function guidedDenoiser(model: Denoiser, labels: Tensor, o: GenerateOptions): Denoiser {
  const gamma = o.guidance ?? 1;
  let d: Denoiser;
  const conditional: Denoiser = (x, s, extra) => model(x, s, { ...extra, labels });
  const unconditional: Denoiser = (x, s, extra) => model(x, s, { ...extra, labels: null });
  if (o.classifier) {
    d = classifierGuidance(unconditional, o.classifier.logProb(labels), { scale: o.classifier.scale });
  } else if (o.temperature !== undefined) {
    d = scoreTemperature(conditional, o.temperature);
  } else if (gamma === 1) {
    d = conditional;
  } else if (gamma === 0) {
    d = unconditional;
  } else {
    d = classifierFreeGuidance(model, { scale: gamma, key: 'labels', cond: labels, nullCond: tensor([-1], { dtype: 'int64', device: labels.device }), interval: o.guidanceInterval });
  }
  if (o.threshold !== undefined) d = dynamicThresholding(d, { percentile: o.threshold });
  if (o.clip) {
    const inner = d;
    d = (x, s, extra) => inner(x, s, extra).clamp(-1, 1);
  }
  return d;
}

/**
 * Draws images in [-1, 1] (N, C, H, W) for the given labels, batch by batch, deterministically from the seed.
 * The result is owned like any op's result: by the enclosing scope if there is one, whatever the batching.
 */
export function generate(model: Denoiser, o: GenerateOptions): Tensor {
  const sample = samplerInfo(o.sampler ?? 'heun').fn;
  const steps = o.steps ?? 18;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`generate: steps must be a positive integer, got ${steps}`);
  if (!Array.isArray(o.labels)) throw new TypeError(`generate: labels must be an array of class ids (-1 or null for unconditional), got ${typeof o.labels}`);
  const n = o.labels.length;
  if (n < 1) throw new RangeError('generate: labels must hold at least one sample, got none');
  const batchSize = o.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`generate: batchSize must be a positive integer, got ${batchSize}`);
  const shape = o.shape ?? [1, 28, 28];
  if (shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d < 1)) throw new RangeError(`generate: shape must be [C, H, W] of positive integers, got ${JSON.stringify(shape)}`);
  const gamma = o.guidance ?? 1;
  if (!Number.isFinite(gamma)) throw new RangeError(`generate: guidance must be a finite number, got ${gamma}`);
  if (o.temperature !== undefined && !(o.temperature > 0 && Number.isFinite(o.temperature))) throw new RangeError(`generate: temperature must be a positive number, got ${o.temperature}`);
  if (o.threshold !== undefined && !(o.threshold > 0 && o.threshold <= 1)) throw new RangeError(`generate: threshold (a percentile) must lie in (0, 1], got ${o.threshold}`);
  const sigmas = karrasSigmas(steps, { sigmaMin: o.sigmaMin ?? 0.002, sigmaMax: o.sigmaMax ?? 80, rho: o.rho ?? 7 });
  const generator = new Generator(o.seed ?? 0);
  const device = o.device === undefined ? 'cpu' : checkComputeDevice('generate', o.device);
  const batches = Math.ceil(n / batchSize);
  const bar = o.progress ? new Progress({ total: batches * steps, label: typeof o.progress === 'string' ? o.progress : 'sampling', unit: 'step' }) : null;
  const out: Tensor[] = [];
  keep(sigmas);
  try {
    for (let b = 0; b < batches; b++) {
      const ids = o.labels.slice(b * batchSize, (b + 1) * batchSize);
      const img = noGrad(() => scope(() => {
        const labels = tensor(ids.map((l) => (l === null || l < 0 ? -1 : l)), { dtype: 'int64', device });
        const d = guidedDenoiser(model, labels, o);
        const x = torch.randn([ids.length, ...shape], { generator }).to({ device }).mul(o.sigmaMax ?? 80);
        const opts: TableSamplerOptions = {
          generator,
          eta: o.eta,
          sChurn: o.churn,
          callback: (info: StepInfo) => { if (b === 0) o.callback?.(info); bar?.update(1); },
        };
        return sample(d, x, sigmas, opts);
      }));
      out.push(img.clamp(-1, 1));
      img.dispose();
    }
  } finally {
    bar?.close();
    sigmas.dispose();
  }
  const all = out.length === 1 ? out[0] : torch.cat(out, 0);
  if (out.length > 1) out.forEach((t) => t.dispose());
  return all;
}

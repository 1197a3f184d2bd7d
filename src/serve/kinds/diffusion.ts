// The diffusion kind: sample a class-conditional image diffusion checkpoint (the shipped
// Fashion-MNIST model, or any diffusion checkpoint in a run folder) with any sampler of the
// sampler table, streaming each step's x and D(x, σ) as PNG grids, then the final grid and the
// same noise at other guidance scales.
import * as fs from 'fs';
import { UsageError, choice, int, num, numList, seedFlag } from '../../cli/flags';
import { MAX_GUIDANCE } from '../../cli/limits';
import { encodePng, FASHION_MNIST_CLASSES } from '../../data';
import { DIFFUSION_CHECKPOINT, DIFFUSION_KIND, SAMPLERS, SAMPLER_NAMES, generate, loadDiffusionModel, samplerNfe } from '../../diffusion';
import type { Denoiser } from '../../diffusion';
import { Tensor, memory } from '../../tensor';
import { shippedFile } from '../../train/shipped';
import { toUnit } from '../../diffusion/images';
import { CheckpointEntry, listCheckpoints } from '../checkpoints';
import { JobContext, ServeContext, modelKind } from '../kind';
import { MAX_COMPARE, MAX_STUDIO_SAMPLES, MAX_STUDIO_STEPS } from '../limits';

/** The shipped checkpoint's id in the checkpoint list. */
export const SHIPPED = 'shipped';

/** The checkpoints a request may name: the shipped one, then the run folders' diffusion checkpoints. */
export function diffusionCheckpoints(ctx: ServeContext): CheckpointEntry[] {
  // a file that records no kind may be a PyTorch state dict of the twin: the loader decides
  return listCheckpoints(ctx.runsDir, { [SHIPPED]: shippedFile(DIFFUSION_CHECKPOINT) }, (kind) => kind === null || kind === DIFFUSION_KIND);
}

const CLASS_NAMES = [...FASHION_MNIST_CLASSES];

function params(ctx: ServeContext) {
  const ids = diffusionCheckpoints(ctx).map((c) => c.id);
  return {
    checkpoint: choice({ description: 'diffusion checkpoint', choices: ids, default: SHIPPED }),
    class: int({ description: 'one class for every sample, 0-9 (-1: unconditional; absent: classes in turn)', min: -1, max: 9 }),
    guidance: num({ description: 'classifier-free guidance scale γ', default: 3, min: 0, max: MAX_GUIDANCE }),
    sampler: choice({ description: 'sampler', choices: SAMPLER_NAMES, default: 'heun' }),
    steps: int({ description: 'noise levels', default: 18, min: 1, max: MAX_STUDIO_STEPS }),
    seed: seedFlag('seed of the initial noise'),
    n: int({ description: 'samples', default: 16, min: 1, max: MAX_STUDIO_SAMPLES }),
    compare: numList({ description: 'further guidance scales, sampled from the same noise', min: 0, max: MAX_GUIDANCE }),
  };
}

/** Images per row of a grid of n: classes in turn fill rows of 10 (one class per column), else a square. */
const gridRow = (n: number, classInTurn: boolean): number => (classInTurn ? Math.min(10, n) : Math.ceil(Math.sqrt(n)));

const dataUrl = (png: Buffer): string => `data:image/png;base64,${png.toString('base64')}`;

/** A grid of images in [-1, 1] as a PNG data URL. */
function gridUrl(x: Tensor, nrow: number): string {
  const unit = toUnit(x);
  try {
    return dataUrl(encodePng(unit, { nrow }));
  } finally {
    unit.dispose();
  }
}

// one model per worker, reloaded when the file changes
let cached: { key: string; denoiser: Denoiser; sigmaData: number } | null = null;

function loadCached(file: string): { denoiser: Denoiser; sigmaData: number } {
  const st = fs.statSync(file);
  const key = `${file}:${st.size}:${st.mtimeMs}`;
  if (cached?.key !== key) {
    cached = null;
    const m = loadDiffusionModel(file);
    cached = { key, denoiser: m.denoiser, sigmaData: m.config.sigmaData };
  }
  return cached;
}

export type DiffusionJob = {
  checkpoint: string;
  file: string;
  class?: number;
  guidance: number;
  sampler: (typeof SAMPLER_NAMES)[number];
  steps: number;
  seed: number;
  n: number;
  compare: number[];
};

export const diffusionKind = modelKind({
  name: 'diffusion',
  title: 'Diffusion sampler',
  params,
  check(v, ctx): DiffusionJob {
    const compare = v.compare ?? [];
    if (compare.length > MAX_COMPARE) throw new UsageError(`compare: expected at most ${MAX_COMPARE} guidance scales, got ${compare.length}`);
    const entry = diffusionCheckpoints(ctx).find((c) => c.id === v.checkpoint)!;
    if (entry.problem) throw new UsageError(`checkpoint: ${JSON.stringify(v.checkpoint)} is not a usable diffusion checkpoint: ${entry.problem}`);
    return { checkpoint: v.checkpoint, file: entry.path, class: v.class, guidance: v.guidance, sampler: v.sampler, steps: v.steps, seed: v.seed, n: v.n, compare };
  },
  options(ctx) {
    return {
      checkpoints: diffusionCheckpoints(ctx).map(({ id, problem }) => ({ id, problem })),
      classes: CLASS_NAMES,
      samplers: SAMPLER_NAMES.map((name) => ({ name, description: SAMPLERS[name].description, stochastic: SAMPLERS[name].stochastic })),
      limits: { n: MAX_STUDIO_SAMPLES, steps: MAX_STUDIO_STEPS, guidance: MAX_GUIDANCE, compare: MAX_COMPARE },
      defaults: { checkpoint: SHIPPED, guidance: 3, sampler: 'heun', steps: 18, seed: 0, n: 16 },
    };
  },
  run(p, job: JobContext) {
    const o = p as unknown as DiffusionJob;
    job.checkCancelled();
    const t0 = performance.now();
    const { denoiser, sigmaData } = loadCached(o.file);
    const inTurn = o.class === undefined;
    const labels = Array.from({ length: o.n }, (_, i) => (inTurn ? i % 10 : o.class!));
    const nrow = gridRow(o.n, inTurn);
    const nfe = samplerNfe(o.sampler, o.steps) * (o.guidance === 0 || o.guidance === 1 ? 1 : 2);
    job.emit('start', { steps: o.steps, n: o.n, nfe, nrow, loadSeconds: (performance.now() - t0) / 1000 });
    const settings = { labels, sampler: o.sampler, steps: o.steps, seed: o.seed, batchSize: o.n };
    const tSample = performance.now();
    const grid = (guidance: number, onStep: (info: Parameters<NonNullable<Parameters<typeof generate>[1]['callback']>>[0]) => void): { url: string; seconds: number } => {
      const t = performance.now();
      const imgs = generate(denoiser, { ...settings, guidance, callback: (info) => { job.checkCancelled(); onStep(info); } });
      try {
        return { url: gridUrl(imgs, nrow), seconds: (performance.now() - t) / 1000 };
      } finally {
        imgs.dispose();
      }
    };
    const main = grid(o.guidance, (info) => {
      // x at noise level σ has std ≈ sqrt(σ² + σ_data²): shown scaled to the data's range
      const scale = sigmaData / Math.sqrt(info.sigma ** 2 + sigmaData ** 2);
      const shown = info.x.mul(scale);
      try {
        job.emit('step', {
          i: info.i, sigma: info.sigma, sigmaNext: info.sigmaNext, ms: performance.now() - tSample,
          x: gridUrl(shown, nrow), denoised: gridUrl(info.denoised, nrow),
        });
      } finally {
        shown.dispose();
      }
    });
    job.emit('grid', { guidance: o.guidance, png: main.url, seconds: main.seconds });
    for (const g of o.compare) {
      const r = grid(g, (info) => job.emit('progress', { guidance: g, i: info.i, steps: o.steps }));
      job.emit('grid', { guidance: g, png: r.url, seconds: r.seconds });
    }
    // the worker's tensors after the job: the cached model's and nothing else (a test checks that
    // they do not grow from job to job)
    const { liveTensors, liveBytes } = memory();
    job.emit('done', { seconds: (performance.now() - t0) / 1000, liveTensors, liveBytes });
  },
});

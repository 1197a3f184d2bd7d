// Training a language model on the Brown corpus (`refinery train text --model ar|mdlm|cdcd`):
// shuffled windows of the train split through the repository's training loop (progress bar,
// run folder, resumable checkpoints, metrics, report), held-out loss on validation windows, sample
// texts at each evaluation, and at the end the model file, the final samples and the report.
import * as path from 'path';
import * as fs from 'fs';
import { Generator, Tensor, assertWritable, getNumThreads, keep, manualSeed, scope } from '../tensor';
import { DataLoader } from '../data/loader';
import { Adam, cosineWithWarmup, clipGradNorm } from '../optim';
import { saveCheckpoint, train, writeReport } from '../train';
import { linePlot } from '../train/report';
import { ByteLevelBPE } from './bpe';
import { brownTokenizer, tokenWindows } from './data';
import { BackboneConfig, DEFAULT_BACKBONE, TEXT_MODELS, TextLM, TextLMConfig, TextModelName, buildTextLM, lmParams, meanNll, textKind } from './lm';
import './mdlm'; // registers the model
import './cdcd'; // registers the model

export interface TextTrainConfig {
  kind: string;
  lm: TextLMConfig;
  batchSize: number;
  lr: number;
  warmup: number;
  /** Steps of the cosine schedule (0: constant after warm-up). */
  scheduleSteps: number;
  gradClip: number;
  seed: number;
}

export interface TrainTextOptions {
  model: TextModelName;
  backbone?: Partial<BackboneConfig>;
  /** Model-specific options (mdlm / cdcd fields of the config). */
  options?: Record<string, unknown>;
  batchSize?: number;
  lr?: number;
  warmup?: number;
  /** Stop after this many optimizer steps (also the length of the cosine schedule unless scheduleSteps). */
  steps?: number;
  /** Length of the cosine learning-rate schedule (default: steps), e.g. to match a run that a time limit stopped. */
  scheduleSteps?: number;
  /** Stop after this many minutes (default 20). */
  maxMinutes?: number;
  /** Validation loss and samples every this many steps (default 250). */
  evalEvery?: number;
  seed?: number;
  name?: string;
  runsDir?: string;
  resume?: boolean;
  out?: string;
  log?: ((msg: string) => void) | null;
}

export interface TrainTextResult {
  status: 'completed' | 'time-limit' | 'interrupted';
  step: number;
  runDir: string;
  out: string | null;
  checkpoint: string;
  tokensSeen: number;
  params: number;
}

/** Decoded samples as HTML paragraphs. */
export function samplesHtml(texts: string[]): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return texts.map((t) => `<p style="font-family:Georgia,serif;max-width:900px;border-left:3px solid #ccc;padding-left:8px">${esc(t)}</p>`).join('\n');
}

/** Unconditional samples of a model, decoded (fixed seed). */
export function sampleTexts(lm: TextLM, bpe: ByteLevelBPE, n: number, o: { steps?: number; seed?: number } = {}): string[] {
  const len = lm.config.backbone.seqLen;
  const r = lm.sample({ prompt: [], length: len, batchSize: n, steps: o.steps ?? 64, generator: new Generator(o.seed ?? 0) });
  return r.tokens.map((row) => bpe.decode(row, { keepSpecials: true }));
}

export async function trainText(o: TrainTextOptions): Promise<TrainTextResult> {
  if (!(TEXT_MODELS as readonly string[]).includes(o.model)) throw new RangeError(`trainText: model must be one of ${TEXT_MODELS.join(', ')}, got ${JSON.stringify(o.model)}`);
  const backbone: BackboneConfig = { ...DEFAULT_BACKBONE, ...o.backbone };
  const steps = o.steps ?? 0;
  const scheduleSteps = o.scheduleSteps ?? steps;
  if (!Number.isSafeInteger(scheduleSteps) || scheduleSteps < 0) throw new RangeError(`trainText: scheduleSteps must be a non-negative integer, got ${scheduleSteps}`);
  const maxMinutes = o.maxMinutes ?? 20;
  const evalEvery = o.evalEvery ?? 250;
  if (!Number.isSafeInteger(steps) || steps < 0) throw new RangeError(`trainText: steps must be a non-negative integer (0: only the time limit), got ${steps}`);
  if (!(maxMinutes > 0) || !Number.isFinite(maxMinutes)) throw new RangeError(`trainText: maxMinutes must be a positive number, got ${maxMinutes}`);
  if (!Number.isSafeInteger(evalEvery) || evalEvery < 1) throw new RangeError(`trainText: evalEvery must be a positive integer, got ${evalEvery}`);
  const cfg: TextTrainConfig = {
    kind: textKind(o.model),
    lm: { model: o.model, backbone, ...(o.options ? { [o.model]: o.options } : {}) },
    batchSize: o.batchSize ?? 32, lr: o.lr ?? 1e-3, warmup: o.warmup ?? (scheduleSteps ? Math.min(200, Math.floor(scheduleSteps / 10)) : 200), scheduleSteps, gradClip: 1, seed: o.seed ?? 0,
  };
  if (!Number.isSafeInteger(cfg.batchSize) || cfg.batchSize < 1) throw new RangeError(`trainText: batchSize must be a positive integer, got ${cfg.batchSize}`);
  if (!(cfg.lr > 0)) throw new RangeError(`trainText: lr must be a positive number, got ${cfg.lr}`);
  const say = o.log === null ? () => {} : (o.log ?? ((m: string) => console.log(m)));
  const runsDir = o.runsDir ?? 'runs';
  let name = o.name ?? `text-${o.model}`;
  if (o.name === undefined && !o.resume) {
    for (let k = 2; fs.existsSync(path.join(runsDir, name, 'config.json')); k++) name = `text-${o.model}-${k}`;
  }
  if (o.out !== undefined) assertWritable(o.out, 'trainText: out', { createDir: true });

  manualSeed(cfg.seed);
  const bpe = brownTokenizer();
  if (bpe.vocabSize !== backbone.vocabSize) throw new RangeError(`trainText: backbone.vocabSize ${backbone.vocabSize} differs from the tokenizer's ${bpe.vocabSize}`);
  const lm = buildTextLM(cfg.lm, new Generator(cfg.seed));
  const noiseGen = new Generator(cfg.seed + 1);
  const windows = tokenWindows('train', bpe, backbone.seqLen);
  const val = keep(scope(() => tokenWindows('validation', bpe, backbone.seqLen).narrow(0, 0, 128).clone()));
  const loader = new DataLoader({ windows }, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true });
  const lr = scheduleSteps > 0 ? cosineWithWarmup({ base: cfg.lr, warmup: cfg.warmup, total: scheduleSteps, final: cfg.lr * 0.1 }) : (s: number) => cfg.lr * Math.min(1, (s + 1) / cfg.warmup);
  const optimizer = new Adam(lm.module, { lr, betas: [0.9, 0.98] });
  const params = lmParams(lm);
  const tokensPerStep = cfg.batchSize * backbone.seqLen;
  say(`train text: ${o.model}, ${params.toLocaleString('en-US')} parameters (dim ${backbone.dim}, depth ${backbone.depth}, ${backbone.positions} positions), `
    + `windows of ${backbone.seqLen} tokens, batch ${cfg.batchSize}; ${steps ? `${steps} steps or ` : ''}at most ${maxMinutes} min, ${getNumThreads()} threads -> ${path.join(runsDir, name)}`);
  const t0 = Date.now();
  const result = await train({
    run: name, runsDir, config: cfg, resume: Boolean(o.resume), model: lm.module, optimizer, objects: lm.checkpointObjects?.(),
    data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }),
    manualUpdate: true,
    stepFn: (batch: { windows: Tensor }) => {
      optimizer.zeroGrad();
      const out = lm.loss(batch.windows, noiseGen);
      out.loss.backward();
      clipGradNorm(lm.module, cfg.gradClip);
      optimizer.step();
      return out;
    },
    steps: steps || 1_000_000, maxSeconds: maxMinutes * 60, stepsPerEpoch: loader.length, logEvery: 10,
    evalEvery, checkpointEvery: evalEvery,
    evalFn: (ctx) => {
      const r = meanNll(lm, val, new Generator(123));
      const texts = sampleTexts(lm, bpe, 2, { steps: 32 });
      fs.writeFileSync(ctx.run.file('samples', `step-${String(ctx.step).padStart(6, '0')}.txt`), texts.join('\n\n----\n\n') + '\n');
      return { [r.measure === 'exact' ? 'nll' : 'nll_bound']: r.nllPerToken };
    },
    generators: { noise: noiseGen },
  });
  const status = result.status !== 'completed' ? 'interrupted' : result.stoppedBy === 'time' ? 'time-limit' : 'completed';
  const dir = result.run.dir;
  const tokensSeen = result.step * tokensPerStep;
  if (status === 'interrupted') {
    windows.dispose(); val.dispose();
    return { status, step: result.step, runDir: dir, out: null, checkpoint: result.checkpoint, tokensSeen, params };
  }
  const out = o.out ?? path.join(dir, 'model.safetensors');
  saveCheckpoint(out, { model: lm.module, step: result.step, config: { ...cfg, steps: result.step, tokensSeen, minutes: (Date.now() - t0) / 60000 } });
  say(`${status === 'time-limit' ? `time limit (${maxMinutes} min) reached` : 'done'} after ${result.step} steps (${tokensSeen.toLocaleString('en-US')} tokens); model saved to ${out}`);
  writeTextReport(dir, lm, bpe, { status, step: result.step });
  windows.dispose(); val.dispose();
  return { status, step: result.step, runDir: dir, out, checkpoint: result.checkpoint, tokensSeen, params };
}

/**
 * The run's index.html: loss curves (metrics.jsonl), final unconditional samples, the sample texts
 * written at each evaluation, and for CDCD the learned time warping.
 */
export function writeTextReport(dir: string, lm: TextLM, bpe: ByteLevelBPE, o: { status: string; step: number }): string {
  lm.module.eval();
  const texts = sampleTexts(lm, bpe, 4, { steps: 64 });
  const sections = [{ heading: 'Samples (unconditional, seed 0, 64 steps for the diffusion models)', html: samplesHtml(texts) }, ...extraSections(lm)];
  const sdir = path.join(dir, 'samples');
  const files = fs.existsSync(sdir) ? fs.readdirSync(sdir).filter((f) => /^step-\d+\.txt$/.test(f)).sort() : [];
  if (files.length) {
    const esc = (x: string) => x.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    sections.push({
      heading: 'Sample texts at each evaluation (32 steps)',
      html: files.map((f) => `<h3>${f.replace('.txt', '')}</h3><pre style="white-space:pre-wrap;max-width:900px">${esc(fs.readFileSync(path.join(sdir, f), 'utf8'))}</pre>`).join('\n'),
    });
  }
  return writeReport(dir, { status: o.status, step: o.step, sections });
}

/** Model-specific report sections (CDCD: the learned time-warping CDF against the fitted cross-entropy). */
function extraSections(lm: TextLM): { heading: string; html: string }[] {
  const plot = (lm as unknown as { warpPlot?: () => [number, number][][] }).warpPlot;
  if (!plot) return [];
  const [cdf, density, fitted] = plot.call(lm);
  return [{
    heading: "Time warping: the unnormalised F̃(t) fitted to the cross-entropy (nats), the CDF F(t) it normalises to, and its density F'(t) (the training distribution of t)",
    html: `<div class="grid"><figure>${linePlot('fitted cross-entropy F̃(t), nats', fitted, 't')}</figure><figure>${linePlot('F(t) (normalised)', cdf, 't')}</figure><figure>${linePlot("F'(t)", density, 't')}</figure></div>`,
  }];
}

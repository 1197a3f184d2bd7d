// refinery train text / sample text / eval text: flags and printing over trainText, sampleText and
// evalText (src/text).
import * as path from 'path';
import { shippedFile } from '../train/shipped';
import { DEFAULT_BACKBONE, POSITIONS, TEXT_CHECKPOINTS, TEXT_MODELS, evalText, formatEvalTable, sampleText, textModelOf, trainText } from '../text';
import { MAX_MINUTES, UsageError, bool, choice, command, file, int, jsonFlag, num, resumeFlag, runName, runsDirFlag, seedFlag, str } from './flags';

const MAX_STEPS = 1000;

export const trainTextCommand = command({
  name: 'train text',
  summary: 'train a language model on the Brown corpus (cdcd, mdlm or ar); samples and a report in runs/NAME',
  description: `One Transformer backbone (the same width and depth for the three models): CDCD (embedding diffusion
with score interpolation and time warping), MDLM (masked diffusion) or the autoregressive baseline.
Training stops after --steps or --max-minutes (Ctrl-C saves a checkpoint; --resume continues it).`,
  flags: {
    model: choice({ description: 'which model', choices: TEXT_MODELS, default: 'cdcd' }),
    'max-minutes': num({ description: 'stop training after this many minutes, then save and sample', default: 20, above: 0, max: MAX_MINUTES, valueName: 'M' }),
    steps: int({ description: 'optimizer steps (also the length of the cosine schedule; default: only the time limit)', min: 1, max: 10_000_000 }),
    'schedule-steps': int({ description: 'length of the cosine learning-rate schedule (default: --steps)', min: 1, max: 10_000_000 }),
    dim: int({ description: 'backbone width', default: DEFAULT_BACKBONE.dim, min: 8, max: 4096 }),
    depth: int({ description: 'Transformer blocks', default: DEFAULT_BACKBONE.depth, min: 1, max: 64 }),
    heads: int({ description: 'attention heads (must divide --dim)', default: DEFAULT_BACKBONE.heads, min: 1, max: 64 }),
    'seq-len': int({ description: 'window length in tokens', default: DEFAULT_BACKBONE.seqLen, min: 8, max: 4096 }),
    positions: choice({ description: 'position encoding', choices: POSITIONS, default: DEFAULT_BACKBONE.positions }),
    'batch-size': int({ description: 'windows per step', default: 32, min: 1, max: 4096 }),
    lr: num({ description: 'peak learning rate', default: 1e-3, above: 0, max: 1 }),
    'no-warp': bool({ description: 'CDCD: draw training noise levels uniformly on [t_min, t_max] instead of through the learned time warping' }),
    'cdf-lr': num({ description: 'CDCD: learning rate of the time-warping CDF\'s own Adam', default: 1e-2, above: 0, max: 10 }),
    'eval-every': int({ description: 'validation loss, sample texts and a checkpoint every this many steps', default: 250, min: 1, max: 10_000_000 }),
    seed: seedFlag(),
    name: runName('run folder name (default text-MODEL, or text-MODEL-2, ... when that exists)', 'text-MODEL'),
    'runs-dir': runsDirFlag(),
    resume: resumeFlag(),
  },
  check(f) {
    if (f.dim % f.heads) throw new UsageError(`--heads: expected a divisor of --dim ${f.dim}, got ${f.heads}`);
  },
  async run(f, given) {
    const named = given.has('name');
    const r = await trainText({
      model: f.model, steps: f.steps, scheduleSteps: f['schedule-steps'], maxMinutes: f['max-minutes'], evalEvery: f['eval-every'], batchSize: f['batch-size'], lr: f.lr, seed: f.seed,
      backbone: { dim: f.dim, depth: f.depth, heads: f.heads, seqLen: f['seq-len'], positions: f.positions },
      options: cdcdOptions(f.model, f['no-warp'], given.has('cdf-lr') ? f['cdf-lr'] : undefined),
      name: named ? f.name : undefined, runsDir: f['runs-dir'], resume: f.resume,
      log: (m) => console.log(`refinery ${m}`),
    });
    if (r.status === 'interrupted') {
      console.log(`interrupted at step ${r.step}; resume with --resume --name ${named ? f.name : path.basename(r.runDir)} (checkpoint ${r.checkpoint})`);
      return 130;
    }
    console.log(`report: ${path.join(r.runDir, 'index.html')}`);
    return 0;
  },
});

/** A text checkpoint flag: an existing safetensors file of one of the three text kinds (checked when parsed). */
const textCheckpoint = (description: string) => {
  const base = file({ description });
  return {
    ...base,
    parse(raw: string, name: string) {
      const v = base.parse(raw, name) as string;
      try {
        textModelOf(v);
      } catch (e) {
        throw new UsageError(`--${name}: expected a text model checkpoint (text-ar, text-mdlm or text-cdcd), got ${JSON.stringify(raw)}: ${(e as Error).message.replace(`${v} `, '')}`);
      }
      return v;
    },
  };
};

export const sampleTextCommand = command({
  name: 'sample text',
  summary: 'generate text from a language-model checkpoint: unconditional, from a prompt, or infilling ___ gaps',
  description: `Without --checkpoint the shipped model of --model is used. --infill "The ___ of the ___ ." fills
each ___ with --gap-tokens tokens (diffusion models only); --guidance > 1 applies classifier-free
guidance on the prompt or the given text (CDCD, AR).`,
  flags: {
    checkpoint: textCheckpoint('text model checkpoint (default: the shipped checkpoints/text-MODEL.safetensors)'),
    model: choice({ description: 'shipped model to use without --checkpoint', choices: TEXT_MODELS, default: 'cdcd' }),
    prompt: str({ description: 'text to continue', check: (v) => v.trim().length > 0, expected: 'a non-empty text' }),
    infill: str({ description: 'a text with ___ for each gap to fill', check: (v) => v.includes('___'), expected: 'a text containing ___ (a gap to fill)' }),
    'gap-tokens': int({ description: 'tokens per ___ gap', default: 3, min: 1, max: 64 }),
    n: int({ description: 'number of samples', default: 4, min: 1, max: 256 }),
    length: int({ description: 'AR: tokens to generate after the prompt (default: up to the window length)', min: 1, max: 4096 }),
    steps: int({ description: 'denoising steps (diffusion models)', default: 64, min: 1, max: MAX_STEPS }),
    guidance: num({ description: 'classifier-free guidance scale on the prompt or given text (1: none)', default: 1, min: 0, max: 20 }),
    temperature: num({ description: 'AR: softmax temperature', above: 0, max: 100 }),
    'top-k': int({ description: 'AR: keep the k most likely tokens', min: 1, max: 1_000_000 }),
    'top-p': num({ description: 'AR: nucleus sampling mass', above: 0, max: 1 }),
    typical: num({ description: 'AR: locally typical sampling mass', above: 0, max: 1 }),
    seed: seedFlag('seed of the sampling noise'),
    json: jsonFlag(),
  },
  check(f) {
    if (f.prompt !== undefined && f.infill !== undefined) throw new UsageError('--prompt and --infill: give one of them, not both');
  },
  run(f) {
    const r = sampleText({
      checkpoint: f.checkpoint, model: f.model, prompt: f.prompt, infill: f.infill, gapTokens: f['gap-tokens'], n: f.n, length: f.length,
      steps: f.steps, guidance: f.guidance, temperature: f.temperature, topK: f['top-k'], topP: f['top-p'], typical: f.typical, seed: f.seed,
    });
    if (f.json) {
      console.log(JSON.stringify(r));
      return 0;
    }
    r.texts.forEach((t, i) => console.log(`--- sample ${i + 1} (${r.model}) ---\n${t}\n`));
    console.log(`${r.texts.length} samples, ${r.nfe} network evaluations, ${r.seconds.toFixed(1)} s`);
    return 0;
  },
});

/** The CDCD options the flags set (undefined when none, so that the run's config is as before). */
function cdcdOptions(model: string, noWarp: boolean, cdfLr: number | undefined): Record<string, unknown> | undefined {
  if (model !== 'cdcd' || (!noWarp && cdfLr === undefined)) return undefined;
  return { ...(noWarp ? { warp: false } : {}), ...(cdfLr !== undefined ? { cdfLr } : {}) };
}

export const evalTextCommand = command({
  name: 'eval text',
  summary: 'test perplexity (exact / bound), generative perplexity under the AR judge, entropy, distinct-n, cost, infilling',
  description: `Evaluates each --checkpoint (default: the three shipped models) with the same seeds and sizes:
test NLL per token (exact for ar; for mdlm the continuous-time NELBO and for cdcd the continuous-time
variational bound of the VE diffusion with score interpolation (reconstruction at t_min + the
integral of |e - e_hat|^2 / t^3 + the prior KL at t_max), both upper bounds estimated by Monte Carlo
with a standard error), samples scored by the fixed AR judge, unigram entropy and distinct-n of the
samples, network evaluations and seconds per 1k tokens, and infilling (diffusion models).`,
  flags: {
    checkpoint: str({ description: 'comma-separated text checkpoints (default: the shipped ar, mdlm and cdcd)', valueName: 'A,B,...' }),
    judge: textCheckpoint('AR judge checkpoint (default: the shipped checkpoints/text-judge.safetensors)'),
    'test-windows': int({ description: 'test windows for the NLL', default: 256, min: 1, max: 100_000 }),
    'bound-draws': int({ description: 'Monte Carlo draws of the noise level per window for the diffusion models\' bounds', default: 8, min: 1, max: 10_000 }),
    samples: int({ description: 'samples per model', default: 32, min: 2, max: 4096 }),
    steps: int({ description: 'denoising steps (diffusion models)', default: 64, min: 1, max: MAX_STEPS }),
    'no-infill': bool({ description: 'skip the infilling evaluation' }),
    seed: seedFlag('seed of the samples and of the bound estimates'),
    json: jsonFlag(),
  },
  check(f) {
    for (const c of (f.checkpoint ?? '').split(',').filter(Boolean)) {
      try {
        textModelOf(c);
      } catch (e) {
        throw new UsageError(`--checkpoint: expected text model checkpoints, got ${JSON.stringify(c)}: ${(e as Error).message.replace(`${c} `, '')}`);
      }
    }
  },
  run(f) {
    const checkpoints = f.checkpoint ? f.checkpoint.split(',').filter(Boolean) : TEXT_MODELS.map((m) => shippedFile(TEXT_CHECKPOINTS[m]));
    const rows = evalText({ checkpoints, judge: f.judge, testWindows: f['test-windows'], boundDraws: f['bound-draws'], samples: f.samples, steps: f.steps, seed: f.seed, infilling: !f['no-infill'], progress: !f.json });
    if (f.json) for (const r of rows) console.log(JSON.stringify(r));
    else console.log(formatEvalTable(rows));
    return 0;
  },
});

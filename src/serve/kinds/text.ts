// The text kind: samples of a language model checkpoint (autoregressive, MDLM or CDCD; src/text),
// from a prompt, or infilling a sentence typed with ___ for each gap (the diffusion models). The
// library's sampleText does the work in one call, so a text job is cancelled before it starts, not
// between its steps.
import { UsageError, int, num, seedFlag, str } from '../../cli/flags';
import { TEXT_CHECKPOINTS, TEXT_MODELS, sampleText, textKind } from '../../text';
import type { TextModelName } from '../../text';
import { shippedFile } from '../../train/shipped';
import { CheckpointEntry, headerKind, listCheckpoints } from '../checkpoints';
import { JobContext, ServeContext, modelKind } from '../kind';
import { MAX_STUDIO_STEPS } from '../limits';

/** Samples per text job, and characters of the prompt or pattern. */
export const MAX_TEXT_SAMPLES = 16;
export const MAX_TEXT_CHARS = 2000;

const KINDS = new Map<string, TextModelName>(TEXT_MODELS.map((m) => [textKind(m), m]));

/** The shipped text models (those present are usable), then the run folders' text checkpoints. */
export function textCheckpoints(ctx: ServeContext): CheckpointEntry[] {
  const shipped = Object.fromEntries(TEXT_MODELS.map((m) => [`shipped-${m}`, shippedFile(TEXT_CHECKPOINTS[m])]));
  return listCheckpoints(ctx.runsDir, shipped, (kind) => kind !== null && KINDS.has(kind))
    .filter((c) => !(c.id.startsWith('shipped-') && c.problem)); // not shipped in this build: not offered
}

function params(ctx: ServeContext) {
  const ids = textCheckpoints(ctx).map((c) => c.id);
  return {
    checkpoint: str({ description: 'text checkpoint', check: (v) => ids.includes(v), expected: ids.length ? `one of ${ids.join(', ')}` : 'a text checkpoint (there is none: train one with `refinery train text`)' }),
    text: str({ description: 'a prompt, or a sentence with ___ for each gap to fill', default: '', check: (v) => v.length <= MAX_TEXT_CHARS, expected: `at most ${MAX_TEXT_CHARS} characters` }),
    n: int({ description: 'samples', default: 4, min: 1, max: MAX_TEXT_SAMPLES }),
    steps: int({ description: 'denoising steps (diffusion models)', default: 64, min: 1, max: MAX_STUDIO_STEPS }),
    gap: int({ description: 'tokens per ___ gap', default: 3, min: 1, max: 32 }),
    guidance: num({ description: 'classifier-free guidance on the given text (1: none)', min: 0, max: 100 }),
    seed: seedFlag('seed of the sampler'),
  };
}

export interface TextJob {
  file: string;
  model: TextModelName;
  text: string;
  n: number;
  steps: number;
  gap: number;
  guidance?: number;
  seed: number;
}

export const textKindModule = modelKind({
  name: 'text',
  title: 'Text sampler',
  params,
  check(v, ctx): Record<string, unknown> {
    if (v.checkpoint === undefined) throw new UsageError(`checkpoint: expected ${params(ctx).checkpoint.expected}, got nothing`);
    const entry = textCheckpoints(ctx).find((c) => c.id === v.checkpoint)!;
    if (entry.problem) throw new UsageError(`checkpoint: ${JSON.stringify(v.checkpoint)} is not a usable text checkpoint: ${entry.problem}`);
    const h = headerKind(entry.path);
    const model = 'kind' in h && h.kind !== null ? KINDS.get(h.kind) : undefined;
    if (!model) throw new UsageError(`checkpoint: ${JSON.stringify(v.checkpoint)} is not a text model checkpoint`);
    if (v.text.includes('___') && model === 'ar') throw new UsageError('text: ___ gaps need a diffusion model (mdlm or cdcd); this checkpoint is autoregressive: give a prompt');
    const job: TextJob = { file: entry.path, model, text: v.text, n: v.n, steps: v.steps, gap: v.gap, guidance: v.guidance, seed: v.seed };
    return { ...job };
  },
  options(ctx) {
    return {
      checkpoints: textCheckpoints(ctx).map(({ id, problem, path: file }) => {
        const h = headerKind(file);
        return { id, problem, model: 'kind' in h && h.kind !== null ? KINDS.get(h.kind) : undefined };
      }),
      limits: { n: MAX_TEXT_SAMPLES, steps: MAX_STUDIO_STEPS, chars: MAX_TEXT_CHARS },
      defaults: { n: 4, steps: 64, gap: 3, seed: 0 },
    };
  },
  run(p, job: JobContext) {
    const o = p as unknown as TextJob;
    job.checkCancelled();
    const infill = o.text.includes('___');
    job.emit('start', { model: o.model, n: o.n, infill });
    const r = sampleText({
      checkpoint: o.file, n: o.n, steps: o.steps, seed: o.seed, guidance: o.guidance,
      ...(infill ? { infill: o.text, gapTokens: o.gap } : { prompt: o.text }),
    });
    job.emit('texts', { texts: r.texts, model: r.model, nfe: r.nfe, seconds: r.seconds });
    job.emit('done', { seconds: r.seconds });
  },
});

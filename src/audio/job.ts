// What both audio training jobs (trainWavenet, trainDiffWave) check before they render data or build
// a model: the run's limits and the optimizer settings they share, each named with its value.

/** The settings every audio job's config has. */
export interface AudioJobConfig {
  batchSize: number;
  lr: number;
  warmup: number;
  gradClip: number;
  emaDecay: number;
  seed: number;
}

/** A thrower of `${fn}: ${field} must be ${what}, got ${value}`. */
export function failer(fn: string): (field: string, v: unknown, what: string) => never {
  return (field, v, what) => { throw new RangeError(`${fn}: ${field} must be ${what}, got ${JSON.stringify(v)}`); };
}

/** Checks the run limits and the shared config fields of job `fn`. */
export function checkAudioJob(fn: string, c: AudioJobConfig, run: { maxMinutes: number; maxSteps: number; evalEvery: number }): void {
  const fail = failer(fn);
  if (!(run.maxMinutes > 0) || !Number.isFinite(run.maxMinutes)) fail('maxMinutes', run.maxMinutes, 'a positive number');
  for (const [k, v] of [['maxSteps', run.maxSteps], ['evalEvery', run.evalEvery], ['batchSize', c.batchSize]] as const) if (!Number.isSafeInteger(v) || v <= 0) fail(k, v, 'a positive integer');
  if (c.batchSize > 256) fail('batchSize', c.batchSize, 'at most 256');
  if (!(c.lr > 0) || !Number.isFinite(c.lr)) fail('lr', c.lr, 'a positive number');
  if (!Number.isSafeInteger(c.warmup) || c.warmup < 0) fail('warmup', c.warmup, 'an integer >= 0');
  if (!(c.gradClip >= 0) || !Number.isFinite(c.gradClip)) fail('gradClip', c.gradClip, 'a number >= 0 (0: no clipping)');
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) fail('emaDecay', c.emaDecay, 'in [0, 1)');
  if (!Number.isSafeInteger(c.seed) || c.seed < 0) fail('seed', c.seed, 'a non-negative integer');
}

/** What `refinery generate audio` checks of a request, for either model: seconds in (0, 60], count in 1..64. */
export function checkNoteRequest(seconds: number, count: number): void {
  if (!(seconds > 0 && seconds <= 60)) throw new RangeError(`generateNotes: seconds must be in (0, 60], got ${seconds}`);
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new RangeError(`generateNotes: count must be an integer in 1..64, got ${count}`);
}

/** The WAV files of `count` notes: `out` itself for one, out-1.wav, out-2.wav, ... for more. */
export function noteFiles(out: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => (count === 1 ? out : out.replace(/(\.wav)?$/i, `-${i + 1}.wav`)));
}

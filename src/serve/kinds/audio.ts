// The audio kind: notes of a WaveNet checkpoint (a run folder's `refinery train wavenet` model, or
// the shipped one when present) at a pitch and instrument, returned as WAV files the page plays.
// The library's generateNotes does the work in one call (the same files `refinery generate` writes),
// so an audio job is cancelled before it starts, not in the middle.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UsageError, int, num, seedFlag, str } from '../../cli/flags';
import { MINI_NSYNTH_INSTRUMENTS, WAVENET_CHECKPOINT, WAVENET_KIND, generateNotes } from '../../audio';
import { shippedFile } from '../../train/shipped';
import { CheckpointEntry, listCheckpoints } from '../checkpoints';
import { JobContext, ServeContext, modelKind } from '../kind';

/** Notes per job, and seconds per note. */
export const MAX_NOTES = 4;
export const MAX_NOTE_SECONDS = 4;

export function audioCheckpoints(ctx: ServeContext): CheckpointEntry[] {
  return listCheckpoints(ctx.runsDir, { shipped: shippedFile(WAVENET_CHECKPOINT) }, (kind) => kind === WAVENET_KIND)
    .filter((c) => !(c.id === 'shipped' && c.problem)); // not shipped in this build: not offered
}

function params(ctx: ServeContext) {
  const ids = audioCheckpoints(ctx).map((c) => c.id);
  return {
    checkpoint: str({ description: 'WaveNet checkpoint', check: (v) => ids.includes(v), expected: ids.length ? `one of ${ids.join(', ')}` : 'a WaveNet checkpoint (there is none: train one with `refinery train wavenet`)' }),
    pitch: int({ description: 'MIDI pitch', default: 60, min: 0, max: 127 }),
    instrument: int({ description: 'instrument index', default: 0, min: 0, max: 127 }),
    seconds: num({ description: 'seconds per note', default: 0.5, above: 0, max: MAX_NOTE_SECONDS }),
    count: int({ description: 'notes (each its own draw)', default: 1, min: 1, max: MAX_NOTES }),
    temperature: num({ description: 'sampling temperature', default: 1, above: 0, max: 10 }),
    seed: seedFlag('seed of the sampler'),
  };
}

export const audioKind = modelKind({
  name: 'audio',
  title: 'Audio (WaveNet notes)',
  params,
  check(v, ctx): Record<string, unknown> {
    if (v.checkpoint === undefined) throw new UsageError(`checkpoint: expected ${params(ctx).checkpoint.expected}, got nothing`);
    const entry = audioCheckpoints(ctx).find((c) => c.id === v.checkpoint)!;
    if (entry.problem) throw new UsageError(`checkpoint: ${JSON.stringify(v.checkpoint)} is not a usable WaveNet checkpoint: ${entry.problem}`);
    return { file: entry.path, pitch: v.pitch, instrument: v.instrument, seconds: v.seconds, count: v.count, temperature: v.temperature, seed: v.seed };
  },
  options(ctx) {
    return {
      checkpoints: audioCheckpoints(ctx).map(({ id, problem }) => ({ id, problem })),
      instruments: MINI_NSYNTH_INSTRUMENTS,
      limits: { count: MAX_NOTES, seconds: MAX_NOTE_SECONDS },
      defaults: { pitch: 60, instrument: 0, seconds: 0.5, count: 1, temperature: 1, seed: 0 },
    };
  },
  run(p, job: JobContext) {
    const o = p as { file: string; pitch: number; instrument: number; seconds: number; count: number; temperature: number; seed: number };
    job.checkCancelled();
    job.emit('start', { count: o.count, seconds: o.seconds });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-studio-audio-'));
    try {
      const r = generateNotes({
        checkpoint: o.file, pitch: o.pitch, instrument: o.instrument, seconds: o.seconds, count: o.count,
        temperature: o.temperature, seed: o.seed, out: path.join(dir, 'note.wav'), progress: false,
      });
      const clips = r.files.map((f) => `data:audio/wav;base64,${fs.readFileSync(f).toString('base64')}`);
      job.emit('audio', { clips, seconds: r.seconds, samplesPerSecond: r.samplesPerSecond });
      job.emit('done', { seconds: r.seconds });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
});

// Real sounds made offline (issue 12): "mini-NSynth", notes of General MIDI instruments rendered by
// fluidsynth from a Debian soundfont (after NSynth, Engel et al. 2017: one note per example,
// labelled by pitch, velocity and instrument), and spoken words from espeak-ng with several voices.
// Both are rendered once into Refinery's cache folder, keyed by everything that decides the sound,
// and read back from there; the renders are deterministic (reverb and chorus off).
import * as fs from 'fs';
import * as path from 'path';
import * as os from 'os';
import * as crypto from 'crypto';
import { execFileSync } from 'child_process';
import { Tensor, functions as torch, scope, tensor } from '../tensor';
import { cacheDir } from '../tensor/files';
import { loadFile, saveFile } from '../tensor/safetensors';
import { decodeWav } from './wav';
import { downmixMono, resample } from './resample';

/** Waveforms and their labels; the caller owns the tensors. */
export interface AudioDataset {
  /** [N, T] float32 in [-1, 1], mono, at `sampleRate`. */
  audio: Tensor;
  sampleRate: number;
  /** Integer labels per example, each [N] int64 (e.g. pitch, velocity, instrument; word, voice). */
  labels: Record<string, Tensor>;
  /** Names behind the categorical labels (e.g. instrument index -> General MIDI name). */
  classes: Record<string, string[]>;
}

export type AudioSplit = 'train' | 'valid' | 'test' | 'all';

/** General MIDI programs (0-based) of mini-NSynth's default instruments, one per NSynth family where GM has a clear one. */
export const GM_INSTRUMENTS: Readonly<Record<number, string>> = {
  0: 'acoustic grand piano', 11: 'vibraphone', 19: 'church organ', 24: 'acoustic guitar (nylon)', 32: 'acoustic bass',
  40: 'violin', 56: 'trumpet', 65: 'alto sax', 73: 'flute', 80: 'lead 1 (square)',
};

export interface NoteGrid {
  /** MIDI pitches (0..127). Default 36..84 (C2..C6), 49 pitches. */
  pitches?: number[];
  /** MIDI velocities (1..127). Default [64, 127]. */
  velocities?: number[];
  /** General MIDI programs (0..127). Default: the ten of GM_INSTRUMENTS. */
  programs?: number[];
  /** Length of each example in seconds (the note is held for 3/4 of it, then released). Default 1. */
  seconds?: number;
  /** Default 16000 Hz. */
  sampleRate?: number;
  /** A .sf2 soundfont. Default Debian's timgm6mb-soundfont. */
  soundfont?: string;
}

export const DEFAULT_SOUNDFONT = '/usr/share/sounds/sf2/TimGM6mb.sf2';
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

function intList(v: number[], lo: number, hi: number, what: string): number[] {
  if (!Array.isArray(v) || v.length === 0) throw new RangeError(`${what} must be a non-empty array of integers in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  for (const x of v) if (!Number.isInteger(x) || x < lo || x > hi) throw new RangeError(`${what} must hold integers in ${lo}..${hi}, got ${x}`);
  return [...v];
}

function checkRate(rate: number, what: string): number {
  if (!Number.isInteger(rate) || rate < 1000 || rate > 192000) throw new RangeError(`${what}: sampleRate must be an integer in 1000..192000 Hz, got ${rate}`);
  return rate;
}

function checkSeconds(s: number, what: string): number {
  if (typeof s !== 'number' || !(s > 0 && s <= 30)) throw new RangeError(`${what}: seconds must be in (0, 30], got ${s}`);
  return s;
}

function need(tool: string, pkg: string, what: string): void {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(`${what}: the program ${tool} was not found; it comes from the Debian package ${pkg}: run \`bash scripts/setup.sh\` (it installs it) or apt-get install ${pkg}`);
  }
}

// A standard MIDI file (format 0, one track) playing one note: program change, note on, note off after `holdTicks`.
// 480 ticks per quarter note at the default 120 bpm, so one tick is 1/960 s.
function noteMidi(program: number, pitch: number, velocity: number, holdSeconds: number, tailSeconds: number): Buffer {
  const vlq = (n: number): number[] => {
    const out = [n & 0x7f];
    for (n >>= 7; n > 0; n >>= 7) out.unshift((n & 0x7f) | 0x80);
    return out;
  };
  const hold = Math.round(holdSeconds * 960), tail = Math.round(tailSeconds * 960);
  const events = [
    ...vlq(0), 0xc0, program,
    ...vlq(0), 0x90, pitch, velocity,
    ...vlq(hold), 0x80, pitch, 0,
    ...vlq(tail), 0xff, 0x2f, 0x00,
  ];
  const header = Buffer.alloc(14);
  header.write('MThd', 0, 'latin1');
  header.writeUInt32BE(6, 4);
  header.writeUInt16BE(0, 8); // format 0
  header.writeUInt16BE(1, 10); // one track
  header.writeUInt16BE(480, 12); // ticks per quarter note
  const trackHeader = Buffer.alloc(8);
  trackHeader.write('MTrk', 0, 'latin1');
  trackHeader.writeUInt32BE(events.length, 4);
  return Buffer.concat([header, trackHeader, Buffer.from(events)]);
}

function fitLength(x: Float32Array, n: number): Float32Array {
  if (x.length === n) return x;
  const out = new Float32Array(n);
  out.set(x.subarray(0, Math.min(n, x.length)));
  return out;
}

function monoSamples(buf: Buffer, name: string, rate: number): Float32Array {
  const wav = decodeWav(buf, name);
  return scope(() => {
    let x = wav.samples.to('float32');
    if (x.ndim === 2) x = x.shape[0] === 1 ? x.squeeze(0) : downmixMono(x).squeeze(0);
    if (wav.sampleRate !== rate) x = resample(x, wav.sampleRate, rate);
    return x.contiguous().toTypedArray() as Float32Array;
  });
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-audio-'));
}

/**
 * Render one note with fluidsynth: `program` (General MIDI, 0-based) at MIDI `pitch` and `velocity`,
 * held for 3/4 of `seconds` then released; mono float32 samples, exactly seconds * sampleRate long.
 */
export function renderNote(o: { program: number; pitch: number; velocity: number; seconds?: number; sampleRate?: number; soundfont?: string }): Float32Array {
  const [program] = intList([o.program], 0, 127, 'renderNote: program');
  const [pitch] = intList([o.pitch], 0, 127, 'renderNote: pitch');
  const [velocity] = intList([o.velocity], 1, 127, 'renderNote: velocity');
  const seconds = checkSeconds(o.seconds ?? 1, 'renderNote'), rate = checkRate(o.sampleRate ?? 16000, 'renderNote');
  const sf = o.soundfont ?? DEFAULT_SOUNDFONT;
  if (!fs.existsSync(sf)) throw new Error(`renderNote: soundfont ${sf} not found (Debian package timgm6mb-soundfont: run \`bash scripts/setup.sh\`), or pass { soundfont }`);
  need('fluidsynth', 'fluidsynth', 'renderNote');
  const dir = tempDir();
  try {
    const mid = path.join(dir, 'note.mid'), wav = path.join(dir, 'note.wav');
    fs.writeFileSync(mid, noteMidi(program, pitch, velocity, 0.75 * seconds, 0.25 * seconds));
    // -n no MIDI input, -i no shell, -q quiet; reverb and chorus off so the render is deterministic and dry.
    execFileSync('fluidsynth', ['-ni', '-q', '-R', '0', '-C', '0', '-g', '1.6', '-r', String(rate), '-F', wav, sf, mid], { stdio: ['ignore', 'ignore', 'pipe'] });
    return fitLength(monoSamples(fs.readFileSync(wav), wav, rate), Math.round(seconds * rate));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Which split an example falls in: a fixed hash of its labels, 80% / 10% / 10%. */
export function splitOf(key: string): Exclude<AudioSplit, 'all'> {
  const h = crypto.createHash('sha256').update(key).digest()[0] % 10;
  return h < 8 ? 'train' : h === 8 ? 'valid' : 'test';
}

function fileHash(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16);
}

function toolVersion(tool: string, args: string[]): string {
  try {
    return execFileSync(tool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

interface Rendered { audio: Float32Array[]; labels: Record<string, number[]>; keys: string[] }

// Render once into the cache (one safetensors file per configuration, keyed by a hash of everything that decides
// the sound), then select a split.
function cached(kind: string, key: object, render: (progress: (i: number, n: number) => void) => Rendered,
  split: AudioSplit, sampleRate: number, classes: Record<string, string[]>, o: { cacheDir?: string; verbose?: boolean }): AudioDataset {
  if (!['train', 'valid', 'test', 'all'].includes(split)) throw new RangeError(`${kind}: split must be 'train', 'valid', 'test' or 'all', got ${JSON.stringify(split)}`);
  const id = crypto.createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 16);
  const dir = o.cacheDir ?? cacheDir('datasets');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${kind}-${id}.safetensors`);
  let loaded: { tensors: Record<string, Tensor>; metadata: Record<string, string> } | null = null;
  if (fs.existsSync(file)) {
    try {
      loaded = loadFile(file);
    } catch (e) {
      process.stderr.write(`${kind}: ignoring unreadable cache ${file} (${(e as Error).message}); rendering again\n`);
    }
  }
  if (!loaded) {
    const t0 = Date.now();
    const r = render((i, n) => {
      if (o.verbose && (i % 25 === 0 || i === n)) process.stderr.write(`\r${kind}: rendering ${i}/${n} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    });
    if (o.verbose) process.stderr.write('\n');
    scope(() => {
      const tensors: Record<string, Tensor> = { audio: torch.stack(r.audio.map((a) => tensor(a)), 0) };
      for (const [k, v] of Object.entries(r.labels)) tensors[k] = tensor(v, { dtype: 'int64' });
      saveFile(file, tensors, { key: JSON.stringify(key), keys: JSON.stringify(r.keys), sampleRate: String(sampleRate) });
    });
    loaded = loadFile(file);
  }
  const { tensors, metadata } = loaded;
  const keys: string[] = JSON.parse(metadata.keys);
  const idx = keys.map((k, i) => (split === 'all' || splitOf(k) === split ? i : -1)).filter((i) => i >= 0);
  return scope(() => {
    const index = tensor(idx, { dtype: 'int64' });
    const labels: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(tensors)) if (k !== 'audio') labels[k] = v.indexSelect(0, index);
    const out = { audio: tensors.audio.indexSelect(0, index), sampleRate, labels, classes };
    for (const t of Object.values(tensors)) t.dispose();
    return out;
  });
}

/**
 * mini-NSynth: a grid of pitches x velocities x instruments rendered with fluidsynth at 16 kHz, one
 * note per example (default 49 x 2 x 10 = 980 one-second notes). Labels: `pitch` (MIDI number),
 * `velocity` (MIDI), `instrument` (index into `classes.instrument`, the GM names). Splits are a fixed
 * hash of (program, pitch, velocity): about 80/10/10. Rendered once (about a minute) into the cache.
 */
export function miniNsynth(split: AudioSplit = 'all', o: NoteGrid & { cacheDir?: string; verbose?: boolean } = {}): AudioDataset {
  const pitches = intList(o.pitches ?? range(36, 84), 0, 127, 'miniNsynth: pitches');
  const velocities = intList(o.velocities ?? [64, 127], 1, 127, 'miniNsynth: velocities');
  const programs = intList(o.programs ?? Object.keys(GM_INSTRUMENTS).map(Number), 0, 127, 'miniNsynth: programs');
  const seconds = checkSeconds(o.seconds ?? 1, 'miniNsynth'), sampleRate = checkRate(o.sampleRate ?? 16000, 'miniNsynth');
  const soundfont = o.soundfont ?? DEFAULT_SOUNDFONT;
  if (!fs.existsSync(soundfont)) throw new Error(`miniNsynth: soundfont ${soundfont} not found (Debian package timgm6mb-soundfont: run \`bash scripts/setup.sh\`), or pass { soundfont }`);
  const key = { v: 1, pitches, velocities, programs, seconds, sampleRate, soundfont: fileHash(soundfont), fluidsynth: toolVersion('fluidsynth', ['--version']) };
  const classes = { instrument: programs.map((p) => GM_INSTRUMENTS[p] ?? `GM program ${p}`) };
  return cached('mini-nsynth', key, (progress) => {
    const r: Rendered = { audio: [], labels: { pitch: [], velocity: [], instrument: [] }, keys: [] };
    const n = programs.length * pitches.length * velocities.length;
    programs.forEach((program, inst) => {
      for (const pitch of pitches) for (const velocity of velocities) {
        r.audio.push(renderNote({ program, pitch, velocity, seconds, sampleRate, soundfont }));
        r.labels.pitch.push(pitch);
        r.labels.velocity.push(velocity);
        r.labels.instrument.push(inst);
        r.keys.push(`${program}/${pitch}/${velocity}`);
        progress(r.audio.length, n);
      }
    });
    return r;
  }, split, sampleRate, classes, o);
}

/** The espeak-ng voices of the speech set: a base English voice with one of espeak's variants. */
export const SPEECH_VOICES: readonly string[] = ['en-us', 'en-us+f3', 'en-us+m3', 'en-gb', 'en-gb+f2', 'en-us+klatt'];
export const DIGIT_WORDS: readonly string[] = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
/** Short sentences (plus the ten digits) for speech vocoding. */
export const SPEECH_SENTENCES: readonly string[] = [
  'The quick brown fox jumps over the lazy dog.', 'Noise becomes sound, one step at a time.',
  'Please call Stella.', 'She sells sea shells by the sea shore.', 'A large wave broke on the rocks.',
];

/** Speak `text` with espeak-ng: mono float32 at `sampleRate` (espeak renders 22,050 Hz; resampled with an anti-aliasing filter). */
export function speak(text: string, o: { voice?: string; wordsPerMinute?: number; sampleRate?: number } = {}): Float32Array {
  if (typeof text !== 'string' || text.trim() === '') throw new RangeError(`speak: text must be a non-empty string, got ${JSON.stringify(text)}`);
  const voice = o.voice ?? 'en-us', wpm = o.wordsPerMinute ?? 150, rate = checkRate(o.sampleRate ?? 16000, 'speak');
  if (!/^[a-zA-Z0-9+_-]+$/.test(voice)) throw new RangeError(`speak: voice must be an espeak-ng voice name like 'en-us+f3', got ${JSON.stringify(voice)}`);
  if (!Number.isInteger(wpm) || wpm < 80 || wpm > 450) throw new RangeError(`speak: wordsPerMinute must be an integer in 80..450, got ${wpm}`);
  need('espeak-ng', 'espeak-ng', 'speak');
  const dir = tempDir();
  try {
    const wav = path.join(dir, 'speech.wav');
    execFileSync('espeak-ng', ['-v', voice, '-s', String(wpm), '-w', wav, '--', text], { stdio: ['ignore', 'ignore', 'pipe'] });
    return monoSamples(fs.readFileSync(wav), wav, rate);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Spoken words from espeak-ng: each of `words` (default the ten digits) in each voice at a few speaking
 * rates, centred in `seconds` (default 1) at 16 kHz. Labels: `word` (index into classes.word), `voice`
 * (index into classes.voice). Splits are a fixed hash of (word, voice, rate).
 */
export function spokenWords(split: AudioSplit = 'all', o: { words?: string[]; voices?: string[]; rates?: number[]; seconds?: number; sampleRate?: number; cacheDir?: string; verbose?: boolean } = {}): AudioDataset {
  const words = o.words ?? [...DIGIT_WORDS], voices = o.voices ?? [...SPEECH_VOICES];
  if (!Array.isArray(words) || words.length === 0) throw new RangeError(`spokenWords: words must be a non-empty array of strings, got ${JSON.stringify(words)}`);
  if (!Array.isArray(voices) || voices.length === 0) throw new RangeError(`spokenWords: voices must be a non-empty array of espeak-ng voice names, got ${JSON.stringify(voices)}`);
  const rates = intList(o.rates ?? [130, 160, 190], 80, 450, 'spokenWords: rates');
  const seconds = checkSeconds(o.seconds ?? 1, 'spokenWords'), sampleRate = checkRate(o.sampleRate ?? 16000, 'spokenWords');
  const key = { v: 1, words, voices, rates, seconds, sampleRate, espeak: toolVersion('espeak-ng', ['--version']) };
  const n = Math.round(seconds * sampleRate);
  return cached('spoken-words', key, (progress) => {
    const r: Rendered = { audio: [], labels: { word: [], voice: [] }, keys: [] };
    const total = words.length * voices.length * rates.length;
    words.forEach((word, w) => voices.forEach((voice, v) => rates.forEach((wpm) => {
      const x = speak(word, { voice, wordsPerMinute: wpm, sampleRate });
      // Trim espeak's silences (|x| below 1% of the peak), then centre in the window.
      let peak = 0;
      for (const s of x) peak = Math.max(peak, Math.abs(s));
      let a = 0, b = x.length;
      while (a < b && Math.abs(x[a]) < 0.01 * peak) a++;
      while (b > a && Math.abs(x[b - 1]) < 0.01 * peak) b--;
      const body = x.subarray(a, Math.min(b, a + n)), out = new Float32Array(n);
      out.set(body, Math.floor((n - body.length) / 2));
      r.audio.push(out);
      r.labels.word.push(w);
      r.labels.voice.push(v);
      r.keys.push(`${word}/${voice}/${wpm}`);
      progress(r.audio.length, total);
    })));
    return r;
  }, split, sampleRate, { word: [...words], voice: [...voices] }, o);
}

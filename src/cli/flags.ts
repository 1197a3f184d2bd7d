// Flag definitions for the CLI: each flag declares its type, range, default and description; the
// parser (Node's util.parseArgs, strict) and the per-command help are both generated from them, so
// `refinery <command> --help` is always what the command accepts. Every bad value is a UsageError:
// one line naming the flag, the value and what was expected (main prints it and exits with 2).
import * as fs from 'fs';
import { parseArgs } from 'util';
import { assertWritable } from '../tensor/files';
import { SafetensorsFile } from '../tensor/safetensors_format';
import { recordedKind } from '../train/checkpoint';

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One flag: how it reads its value, and what the help says about it. */
export interface Flag<T> {
  /** Whether the flag takes a value (`--n 64`) or is a switch (`--json`). */
  readonly takesValue: boolean;
  readonly description: string;
  /** The placeholder of the value in the help (`N`, `PATH`, `X`). */
  readonly valueName: string;
  /** What a valid value is, in words ("an integer in [1, 10000]"). */
  readonly expected: string;
  /** The value when the flag is absent. */
  readonly default: T;
  /** The default as the help shows it (undefined: no default shown). */
  readonly defaultText?: string;
  /** Reads the value given on the command line (throws UsageError naming `--name`). */
  parse(raw: string, name: string): T;
}

export type FlagSet = Record<string, Flag<unknown>>;
export type FlagValues<S extends FlagSet> = { [K in keyof S]: S[K] extends Flag<infer T> ? T : never };

const bad = (name: string, expected: string, raw: string): UsageError =>
  new UsageError(`--${name}: expected ${expected}, got ${raw === '' ? 'an empty value' : JSON.stringify(raw)}`);

const fmt = (v: number): string => (Number.isInteger(v) && Math.abs(v) >= 10000 ? v.toLocaleString('en-US') : String(v));

interface Range {
  /** Inclusive bounds (default none). */
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
}

function rangeText(r: Range): string {
  const lo = r.above !== undefined ? `(${fmt(r.above)}` : r.min !== undefined ? `[${fmt(r.min)}` : null;
  const hi = r.below !== undefined ? `${fmt(r.below)})` : r.max !== undefined ? `${fmt(r.max)}]` : null;
  if (lo && hi) return ` in ${lo}, ${hi}`;
  if (lo) return r.above !== undefined ? ` > ${fmt(r.above)}` : ` >= ${fmt(r.min!)}`;
  if (hi) return r.below !== undefined ? ` < ${fmt(r.below)}` : ` <= ${fmt(r.max!)}`;
  return '';
}

const inRange = (v: number, r: Range): boolean =>
  (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max)
  && (r.above === undefined || v > r.above) && (r.below === undefined || v < r.below);

interface ValueOpts<T> {
  description: string;
  default?: T;
  valueName?: string;
  /** Overrides the generated "what is expected" text. */
  expected?: string;
}

interface NumberOpts extends ValueOpts<number>, Range {
  /** A further condition, e.g. evenness; `expected` should describe it. */
  check?: (v: number) => boolean;
}

/** Parses a number as a user writes it: decimal, exponent, no empty string, no hex, no "Infinity". */
function toNumber(raw: string): number {
  const s = raw.trim();
  return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(s) ? Number(s) : NaN;
}

function numberParser(o: NumberOpts, integer: boolean): { expected: string; one: (raw: string) => number | null } {
  const expected = o.expected ?? `${integer ? 'an integer' : 'a number'}${rangeText(o)}`;
  const one = (raw: string): number | null => {
    const v = toNumber(raw);
    if (!Number.isFinite(v) || (integer && !Number.isSafeInteger(v)) || !inRange(v, o) || (o.check && !o.check(v))) return null;
    return v;
  };
  return { expected, one };
}

function numberFlag(o: NumberOpts, integer: boolean): Flag<number | undefined> {
  const { expected, one } = numberParser(o, integer);
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? (integer ? 'N' : 'X'), expected,
    default: o.default, defaultText: o.default === undefined ? undefined : fmt(o.default),
    parse(raw, name) {
      const v = one(raw);
      if (v === null) throw bad(name, expected, raw);
      return v;
    },
  };
}

/** An integer flag, e.g. `int({ description: 'samples', default: 64, min: 1, max: 10000 })`. */
export function int(o: NumberOpts & { default: number }): Flag<number>;
export function int(o: NumberOpts): Flag<number | undefined>;
export function int(o: NumberOpts): Flag<number | undefined> {
  return numberFlag(o, true);
}

/** A finite number flag with an optional range. */
export function num(o: NumberOpts & { default: number }): Flag<number>;
export function num(o: NumberOpts): Flag<number | undefined>;
export function num(o: NumberOpts): Flag<number | undefined> {
  return numberFlag(o, false);
}

/** A comma-separated list of numbers (each in the range), e.g. `--guidance 0,1,3`. */
type ListOpts = Omit<NumberOpts, 'default'> & { integer?: boolean; default?: number[] };
export function numList(o: ListOpts & { default: number[] }): Flag<number[]>;
export function numList(o: ListOpts): Flag<number[] | undefined>;
export function numList(o: ListOpts): Flag<number[] | undefined> {
  const { expected: each, one } = numberParser({ ...o, default: undefined, expected: undefined }, Boolean(o.integer));
  const expected = o.expected ?? `a comma-separated list of ${each.replace(/^an? (integer|number)/, '$1s')}`;
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? (o.integer ? 'N,N,...' : 'X,X,...'), expected,
    default: o.default, defaultText: o.default?.join(','),
    parse(raw, name) {
      const parts = raw.split(',').map(one);
      if (raw.trim() === '' || parts.some((v) => v === null)) throw bad(name, expected, raw);
      return parts as number[];
    },
  };
}

/** One of a fixed set of words. */
type ChoiceOpts<C extends string> = Omit<ValueOpts<C>, 'default'> & { choices: readonly C[]; default?: NoInfer<C> };
export function choice<C extends string>(o: ChoiceOpts<C> & { default: NoInfer<C> }): Flag<C>;
export function choice<C extends string>(o: ChoiceOpts<C>): Flag<C | undefined>;
export function choice<C extends string>(o: ChoiceOpts<C>): Flag<C | undefined> {
  const expected = o.expected ?? `one of ${o.choices.join(', ')}`;
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? o.choices.join('|'), expected,
    default: o.default, defaultText: o.default,
    parse(raw, name) {
      if (!(o.choices as readonly string[]).includes(raw)) throw bad(name, expected, raw);
      return raw as C;
    },
  };
}

/** A comma-separated list of words from a fixed set, e.g. `--sampler heun,euler`. */
export function choiceList<C extends string>(o: Omit<ValueOpts<C[]>, 'default'> & { choices: readonly C[]; default: NoInfer<C>[] }): Flag<C[]> {
  const expected = o.expected ?? `a comma-separated list of ${o.choices.join(', ')}`;
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? 'NAME,...', expected,
    default: o.default, defaultText: o.default.join(','),
    parse(raw, name) {
      const parts = raw.split(',').map((s) => s.trim());
      if (parts.some((p) => !(o.choices as readonly string[]).includes(p))) throw bad(name, expected, raw);
      return parts as C[];
    },
  };
}

/** A non-empty string (a name or a path); `check` for further conditions (described by `expected`). */
export function str(o: ValueOpts<string> & { default: string; check?: (v: string) => boolean }): Flag<string>;
export function str(o: ValueOpts<string> & { check?: (v: string) => boolean }): Flag<string | undefined>;
export function str(o: ValueOpts<string> & { check?: (v: string) => boolean }): Flag<string | undefined> {
  const expected = o.expected ?? 'a non-empty value';
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? 'VALUE', expected,
    default: o.default, defaultText: o.default,
    parse(raw, name) {
      if (raw.trim() === '' || (o.check && !o.check(raw))) throw bad(name, expected, raw);
      return raw;
    },
  };
}

/** A switch: present or not, never with a value. */
export function bool(o: { description: string }): Flag<boolean> {
  return {
    takesValue: false, description: o.description, valueName: '', expected: 'no value', default: false,
    parse: () => true,
  };
}

/** A run name: a single path component of letters, digits, '.', '_' and '-'. */
export const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const runName = (description: string, dflt: string): Flag<string> => str({
  description, default: dflt, valueName: 'NAME', check: (v) => RUN_NAME.test(v) && v.length <= 200,
  expected: 'a run name (letters, digits, ".", "_", "-"; no "/")',
});

/** A command: its words, what it does, its flags, and what runs it. */
export interface Command<S extends FlagSet = FlagSet> {
  /** The words after `refinery`, e.g. 'train diffusion'. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Further paragraphs of the command's help. */
  description?: string;
  flags: S;
  /** Required arguments before or after the flags, in order (default none), e.g. a file to read. */
  positionals?: Positional[];
  /**
   * The first word that is not a flag (or what follows `--`) and everything after it are passed
   * through unparsed as the last positional (`refinery launch --nproc 2 refinery train ...`).
   */
  passThrough?: boolean;
  /**
   * Checks across flags, run after parsing and before `run` (e.g. a batch size that must not exceed
   * a subset); throw UsageError.
   */
  check?: (values: FlagValues<S>, given: ReadonlySet<string>) => void;
  /** Runs the command; `given` holds the flags given on the command line, `args` the positionals. Returns the exit code. */
  run(values: FlagValues<S>, given: ReadonlySet<string>, args: string[]): number | Promise<number>;
}

/** Type-checks a command definition (infers the flag types for `run`). */
export function command<S extends FlagSet>(c: Command<S>): Command<S> {
  return c;
}

const HELP = bool({ description: 'show this help and exit' });

/** The edit distance of two short strings (for "did you mean"). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

function suggestion(flag: string, known: string[]): string {
  const name = flag.replace(/^-+/, '').split('=')[0];
  const best = known.map((k) => ({ k, d: distance(name, k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(1, Math.floor(name.length / 3)) ? ` (did you mean --${best.k}?)` : '';
}

/**
 * Parses `args` against `flags` with util.parseArgs (strict: unknown flags, missing values, values
 * given to switches and positional arguments are errors), then reads and checks every value.
 * Returns the values (defaults for flags not given) and the names of the flags given, or null when
 * --help was asked for (the caller prints the help).
 */
export function parseFlags<S extends FlagSet>(
  flags: S, args: string[], positionals: Positional[] = [],
): { values: FlagValues<S>; given: Set<string>; args: string[] } | null {
  const all: FlagSet = { ...flags, help: HELP };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, f] of Object.entries(all)) options[name] = { type: f.takesValue ? 'string' : 'boolean' };
  options.help.short = 'h';
  // `--guidance -5`: parseArgs refuses a value starting with '-' as ambiguous; a negative number
  // is a value, so pass it on as `--guidance=-5` and let the flag's range decide.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i], next = args[i + 1];
    const m = /^--([^=]+)$/.exec(a);
    if (m && all[m[1]]?.takesValue && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      joined.push(`${a}=${next}`);
      i++;
    } else joined.push(a);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: joined, options, strict: true, allowPositionals: positionals.length > 0 });
  } catch (e) {
    const err = e as Error & { code?: string };
    const flag = /'(-[^' ]*)/.exec(err.message)?.[1] ?? '';
    const known = Object.keys(flags);
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${flag}${suggestion(flag, known)}`);
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const word = /'([^']*)'/.exec(err.message)?.[1] ?? '';
      throw new UsageError(`unexpected argument ${JSON.stringify(word)}: this command takes only flags`);
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/does not take an argument/.test(err.message)) throw new UsageError(`${flag} is a switch and takes no value`);
      const name = flag.replace(/^-+/, '');
      const f = all[name];
      throw new UsageError(`${flag}: expected ${f ? f.expected : 'a value'}, got no value`);
    }
    throw new UsageError(err.message.split('\n')[0]);
  }
  const raw = parsed.values as Record<string, string | boolean | undefined>;
  if (raw.help) return null;
  const words = parsed.positionals;
  if (words.length > positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(words[positionals.length])}`);
  if (words.length < positionals.length) {
    const p = positionals[words.length];
    throw new UsageError(`expected ${p.name} (${p.description}), got nothing`);
  }
  positionals.forEach((p, i) => {
    if (!p.safetensors) return;
    const raw = words[i];
    let st: import('fs').Stats | null = null;
    try { st = fs.statSync(raw); } catch { /* below */ }
    if (st === null || !st.isFile()) {
      throw new UsageError(`${p.name}: expected an existing safetensors file, got ${JSON.stringify(raw)} (${st === null ? 'no such file' : st.isDirectory() ? 'a directory' : 'not a regular file'})`);
    }
    checkCheckpointFile(raw, p.name);
  });
  const out: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [name, f] of Object.entries(flags)) {
    const v = raw[name];
    if (v !== undefined) given.add(name);
    out[name] = v === undefined ? f.default : f.takesValue ? f.parse(String(v), name) : true;
  }
  return { values: out as FlagValues<S>, given, args: words };
}

/** A required argument: `safetensors` files are checked when parsed (exists, and its header reads). */
export interface Positional { name: string; description: string; safetensors?: boolean }

/** The help of a command, generated from its definition. */
export function helpText<S extends FlagSet>(c: Command<S>): string {
  // each flag: its name and value on the left, the description on the right, and below the
  // description what a valid value is and the default
  const rows: [string, string, string][] = Object.entries(c.flags).map(([name, f]) => {
    const facts: string[] = [];
    if (f.takesValue) facts.push(f.expected);
    if (f.defaultText !== undefined) facts.push(`default ${f.defaultText}`);
    return [`--${name}${f.takesValue ? ` ${f.valueName}` : ''}`, f.description, facts.join('; ')];
  });
  rows.push(['-h, --help', HELP.description, '']);
  const width = 28;
  const pad = ' '.repeat(width + 2);
  const lines = rows.map(([l, r, facts]) => {
    const head = l.length + 2 > width ? `  ${l}\n${pad}${r}` : `  ${l.padEnd(width)}${r}`;
    return facts ? `${head}\n${pad}${facts}` : head;
  });
  const pos = c.positionals ?? [];
  const args = pos.length ? `\narguments:\n${pos.map((p) => `  ${p.name.padEnd(width)}${p.description}`).join('\n')}\n` : '';
  return `usage: refinery ${c.name}${pos.map((p) => ` ${p.name}`).join('')} [options]\n\n${c.summary}\n${c.description ? `\n${c.description.trim()}\n` : ''}${args}\noptions:\n${lines.join('\n')}\n`;
}

/**
 * An existing regular file to read (checked when the command line is parsed, before any work).
 * `checkpoint`: the kind of checkpoint it must be; its safetensors header is read and checked too
 * (a text file, a truncated file, or a checkpoint of another kind is refused naming the flag).
 */
export function file(o: ValueOpts<string> & { default?: string; checkpoint?: string }): Flag<string | undefined> {
  const expected = o.expected ?? 'an existing file';
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? 'PATH', expected,
    default: o.default, defaultText: o.default,
    parse(raw, name) {
      if (raw.trim() === '') throw bad(name, expected, raw);
      let st: import('fs').Stats;
      try {
        st = fs.statSync(raw);
      } catch {
        throw new UsageError(`--${name}: expected ${expected}, got ${JSON.stringify(raw)} (no such file)`);
      }
      if (!st.isFile()) throw new UsageError(`--${name}: expected ${expected}, got ${JSON.stringify(raw)} (${st.isDirectory() ? 'a directory' : 'not a regular file'})`);
      if (o.checkpoint !== undefined) checkCheckpointFile(raw, `--${name}`, o.checkpoint);
      return raw;
    },
  };
}

/** A comma-separated list of existing files (`--checkpoints a.safetensors,b.safetensors`), each checked as file() checks one. */
export function fileList(o: ValueOpts<string[]> & { checkpoint?: string; min?: number }): Flag<string[] | undefined> {
  const one = file({ description: o.description, checkpoint: o.checkpoint });
  const min = o.min ?? 1;
  const expected = o.expected ?? `a comma-separated list of ${min > 1 ? `${min} or more ` : ''}existing ${o.checkpoint ? `${o.checkpoint} checkpoint` : ''} files`.replace('  ', ' ');
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? 'PATH,PATH,...', expected,
    default: o.default, defaultText: o.default?.join(','),
    parse(raw, name) {
      const parts = raw.split(',').map((p) => p.trim());
      if (raw.trim() === '' || parts.some((p) => p === '')) throw bad(name, expected, raw);
      parts.forEach((p) => one.parse(p, name));
      if (parts.length < min) throw new UsageError(`--${name}: expected ${expected}, got ${parts.length} (${JSON.stringify(raw)})`);
      return parts;
    },
  };
}

/**
 * Reads the header of the safetensors file `raw` (not its data): a file that is not one, or is
 * truncated, or whose config records another kind than `kind` is a usage error naming the flag.
 * A file without a recorded kind (a plain PyTorch state dict) is left to the loader.
 */
function checkCheckpointFile(raw: string, label: string, kind?: string): void {
  const refuse = (why: string): never => { throw new UsageError(`${label}: expected ${kind === undefined ? 'a safetensors file' : `a ${kind} checkpoint`}, got ${JSON.stringify(raw)}: ${why}`); };
  let f: SafetensorsFile;
  try {
    f = SafetensorsFile.open(raw);
  } catch (e) {
    return refuse((e as Error).message.replace(/^safetensors: /, '').replace(`${raw}: `, ''));
  }
  try {
    let config: unknown;
    try {
      config = f.metadata.config === undefined ? null : JSON.parse(f.metadata.config);
    } catch {
      return; // the loader names the bad metadata
    }
    const recorded = recordedKind(config, f.metadata);
    if (kind !== undefined && recorded !== null && recorded !== kind) refuse(`its config says kind "${recorded}"`);
  } finally {
    f.close();
  }
}

/**
 * A file to write: checked when the command line is parsed (not a directory, its folder exists or
 * can be created, and accepts a new file), so a bad path fails before the work, not after it.
 * `ext`: the name must end with it.
 */
export function outFile(o: ValueOpts<string> & { ext?: string; default: string }): Flag<string>;
export function outFile(o: ValueOpts<string> & { ext?: string }): Flag<string | undefined>;
export function outFile(o: ValueOpts<string> & { ext?: string }): Flag<string | undefined> {
  const expected = o.expected ?? (o.ext ? `a writable ${o.ext} file name` : 'a writable file name');
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? 'PATH', expected,
    default: o.default, defaultText: o.default,
    parse(raw, name) {
      if (raw.trim() === '' || (o.ext && !raw.toLowerCase().endsWith(o.ext))) throw bad(name, expected, raw);
      return writable(raw, raw, name);
    },
  };
}

/** A folder to write files into (created when missing), checked like outFile. */
export function outDir(o: ValueOpts<string>): Flag<string | undefined> {
  const expected = o.expected ?? 'a writable folder';
  return {
    takesValue: true, description: o.description, valueName: o.valueName ?? 'DIR', expected,
    default: o.default, defaultText: o.default,
    parse(raw, name) {
      if (raw.trim() === '') throw bad(name, expected, raw);
      return writable(raw, `${raw}/probe`, name);
    },
  };
}

function writable(raw: string, probe: string, name: string): string {
  try {
    assertWritable(probe, `--${name}`, { createDir: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(JSON.stringify(probe), JSON.stringify(raw)));
  }
  return raw;
}

// ------------------------------------------------------------------ flags several commands share

/** The largest seed: generators take any non-negative integer, but a command derives seed + k. */
export const MAX_SEED = 2 ** 32 - 1;
export const seedFlag = (description = 'random seed (initialisation, data order, noise)', dflt = 0): Flag<number> =>
  int({ description, default: dflt, min: 0, max: MAX_SEED });
/** A week: the longest time limit a command accepts. */
export const MAX_MINUTES = 7 * 24 * 60;
export const runsDirFlag = (): Flag<string> => str({ description: 'folder of the run folders', default: 'runs', valueName: 'DIR' });
/** A command's own flags, then the command it passes through (see Command.passThrough). */
function splitPassThrough(flags: FlagSet, args: string[]): [string[], string[]] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return [args.slice(0, i), args.slice(i + 1)];
    if (!a.startsWith('-')) return [args.slice(0, i), args.slice(i)];
    const f = flags[a.replace(/^-+/, '').split('=')[0]];
    if (f?.takesValue && !a.includes('=')) i++;
  }
  return [args, []];
}

/** Data-parallel training on this many processes of this machine (see `refinery launch`). */
export const nprocFlag = (): Flag<number> => int({
  description: 'train on this many processes (data parallel over c10d Gloo; --batch-size is the global batch); also set by torchrun-style WORLD_SIZE/RANK', default: 1, min: 1, max: 256,
});
/** Where a command's model runs (checked against the machine by the library: CUDA present, N in range). */
export const deviceFlag = (): Flag<string> => str({
  description: 'where the model runs: cpu, cuda or cuda:N', default: 'cpu', valueName: 'DEVICE',
  check: (v) => /^(cpu|cuda(:\d+)?)$/.test(v), expected: "cpu, cuda or cuda:N (N a GPU index)",
});
/** DistributedDataParallel's knobs for a training command's --nproc: bucket size and overlap. */
export const ddpFlags = () => ({
  'bucket-mb': num({ description: 'with --nproc: gradient all-reduce bucket size in MiB (DistributedDataParallel\'s bucket_cap_mb)', default: 25, above: 0, max: 4096, valueName: 'MB' }),
  'no-overlap': bool({ description: 'with --nproc: all-reduce the gradients after backward instead of bucket by bucket during it' }),
});
/** The train() options of ddpFlags' values. */
export function ddpOptions(f: { 'bucket-mb': number; 'no-overlap': boolean }): { bucketBytes: number; overlapGradients: boolean } {
  return { bucketBytes: Math.max(1, Math.round(f['bucket-mb'] * 1024 * 1024)), overlapGradients: !f['no-overlap'] };
}
export const resumeFlag = (): Flag<boolean> => bool({ description: 'continue the run in the run folder from its last checkpoint' });
export const jsonFlag = (): Flag<boolean> => bool({ description: 'print JSON instead of text' });

/**
 * Runs a command on its arguments as `refinery` does: the help, or the parsed and checked flags
 * given to `run`. A bad command line is one line on stderr and exit code 2; a failure while running
 * one line and exit code 1 (REFINERY_DEBUG=1 prints the stack too). Synchronous when `run` is.
 */
export function runCommand<S extends FlagSet>(cmd: Command<S>, args: string[]): number | Promise<number> {
  const fail = (e: unknown): number => {
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`refinery ${cmd.name}: ${err.message}\n`);
    if (!(err instanceof UsageError) && process.env.REFINERY_DEBUG) process.stderr.write(`${err.stack ?? ''}\n`);
    return err instanceof UsageError ? 2 : 1;
  };
  try {
    let rest: string[] = [];
    if (cmd.passThrough) [args, rest] = splitPassThrough(cmd.flags, args);
    const parsed = parseFlags(cmd.flags, args, cmd.passThrough ? [] : cmd.positionals);
    if (parsed && cmd.passThrough) {
      if (!rest.length) throw new UsageError(`expected ${cmd.positionals?.[0]?.name ?? 'a command'} (${cmd.positionals?.[0]?.description ?? ''}), got nothing`);
      parsed.args = rest;
    }
    if (parsed === null) {
      process.stdout.write(helpText(cmd));
      return 0;
    }
    cmd.check?.(parsed.values, parsed.given);
    const code = cmd.run(parsed.values, parsed.given, parsed.args);
    return typeof code === 'number' ? code : code.catch(fail);
  } catch (e) {
    return fail(e);
  }
}

/** --autotune off|step|all for the training jobs (src/conv/plan.ts). */
export const autotuneFlag = (): Flag<'off' | 'step' | 'all'> => choice({
  description: "what to tune by timing: 'step' (the layout, NCHW or channels-last, and the thread count, from whole training steps, re-timed when the step time drifts), 'all' (also every convolution's implementation, cached on disk), 'off'",
  choices: ['off', 'step', 'all'] as const, default: 'step',
});

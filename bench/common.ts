// What the benchmark runners (bench/engine.ts, bench/nn.ts) share: timing helpers, the
// peer-spawning code, the run-each-system-in-turn loop, table/JSON printing and the common
// command-line flags.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torchVersion } from '../src/tensor';

export const SYSTEMS = ['refinery', 'pytorch', 'tfjs'] as const;
export type SystemName = (typeof SYSTEMS)[number];
export type TargetStatus = 'met' | 'missed' | 'n/a' | 'none';

/** What every system's result holds, besides its figures. */
export interface SystemRun {
  system: SystemName;
  available: boolean;
  /** Why the system has no result (missing peer, crash, skipped). */
  error?: string;
  /** Library name as the system reports it ("refinery", "pytorch", "tfjs-wasm", "tfjs-cpu"). */
  peer?: string;
  version?: string;
  /** Threads the system actually used. */
  threads?: number;
  threadsRequested?: number;
  /** Wall time of the whole run of this system (seconds), including start-up for peers. */
  wallS?: number;
  [detail: string]: unknown;
}

// ---------------------------------------------------------------------------------- helpers

/** The directory holding package.json, walking up from `start`. */
export function findRepoRoot(start: string = __dirname): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`bench: no package.json above ${start}`);
    dir = up;
  }
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function timeIt(fn: () => void, warmup: number, reps: number): { ms: number; minMs: number; iters: number } {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), minMs: Math.min(...times), iters: reps };
}

export function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export function refineryVersion(root: string | undefined): string {
  try {
    const r = root ?? findRepoRoot();
    const pkg = JSON.parse(fs.readFileSync(path.join(r, 'package.json'), 'utf8')) as { version?: string };
    return `${pkg.version ?? '?'} (libtorch ${torchVersion})`;
  } catch {
    return `? (libtorch ${torchVersion})`;
  }
}

/** A finite number, else undefined. */
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The host a report was measured on. */
export function hostInfo(): { cpus: number; loadavg: number[]; node: string; platform: string; arch: string } {
  return { cpus: os.cpus().length, loadavg: os.loadavg(), node: process.version, platform: os.platform(), arch: os.arch() };
}

/** Appends the "host was busy" note when the load average is above half the cores. */
export function noteBusyHost(notes: string[]): void {
  if (os.loadavg()[0] > 0.5 * os.cpus().length) {
    notes.push(`host was busy (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores): timings are noisy`);
  }
}

/** The note on TF.js's (wasm) thread count. */
export function tfjsThreadsNote(threads: number, tfThreads: number | undefined, order: SystemName[]): string {
  return `TF.js (wasm backend) in Node is single-threaded whatever is asked: ${threads} requested, ` +
    `${tfThreads ?? 1} used` +
    (order.length > 1 ? `; ${order.filter((s) => s !== 'tfjs').join(' and ')} ran with ${threads}` : '');
}

// ---------------------------------------------------------------------------------- peers

export function lastJsonLine(stdout: string): Record<string, unknown> | null {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]) as Record<string, unknown>;
    } catch {
      // keep looking
    }
  }
  return null;
}

/** The most telling line of a failed child's output: its last "...Error: ..." line, else the last lines. */
export function tail(s: string | null | undefined, n = 2): string {
  const lines = (s ?? '').trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const errs = lines.filter((l) => /(Error|Exception)\b.*:/.test(l) && !l.startsWith('at '));
  return errs.length ? errs[errs.length - 1] : lines.slice(-n).join(' | ');
}

export type PeerFailure = {
  system: SystemName;
  available: false;
  error: string;
  wallS?: number;
};

export interface PeerSpawn {
  which: 'pytorch' | 'tfjs';
  /** Which benchmark: the peer scripts are bench/peers/torch_<bench>.py and tfjs_<bench>.js. */
  bench: 'engine' | 'nn' | 'unet' | 'wavenet';
  root: string;
  python?: string;
  /** Flags for both peers. */
  args: string[];
  /** Further flags for the TF.js peer. */
  tfjsArgs: string[];
  /** Whether the parsed JSON line holds a result. */
  isResult: (out: Record<string, unknown>) => boolean;
}

/**
 * Runs one peer script as a child process and returns its parsed JSON line, or the failure
 * (missing interpreter or script, crash, no result); never throws for a missing peer.
 */
export function spawnPeer(p: PeerSpawn): { out: Record<string, unknown>; wallS: number } | { failure: PeerFailure } {
  const which = p.which;
  let cmd: string;
  let args: string[];
  if (which === 'pytorch') {
    cmd = p.python ?? '/usr/bin/python3';
    args = [path.join(p.root, 'bench', 'peers', `torch_${p.bench}.py`), ...p.args, '--json'];
    if (!fs.existsSync(cmd)) return { failure: { system: which, available: false, error: `${cmd} not found` } };
  } else {
    cmd = process.execPath;
    args = [path.join(p.root, 'bench', 'peers', `tfjs_${p.bench}.js`), ...p.args, ...p.tfjsArgs];
  }
  if (!fs.existsSync(args[0])) return { failure: { system: which, available: false, error: `${args[0]} not found` } };
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    cwd: p.root, encoding: 'utf8', maxBuffer: 16 << 20, timeout: 30 * 60 * 1000,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const wallS = (performance.now() - t0) / 1000;
  if (r.error) return { failure: { system: which, available: false, error: `${path.basename(cmd)}: ${r.error.message}`, wallS } };
  if (r.status !== 0) {
    return { failure: { system: which, available: false, error: `exit ${r.status ?? r.signal}: ${tail(r.stderr) || tail(r.stdout)}`, wallS } };
  }
  const out = lastJsonLine(r.stdout);
  if (!out || !p.isResult(out)) {
    return { failure: { system: which, available: false, error: `no result JSON in the output: ${tail(r.stdout) || tail(r.stderr)}`, wallS } };
  }
  return { out, wallS };
}

/**
 * The start of a peer's result: every field of its JSON line not in `mapped` (as is), then
 * system, available, peer, version, threads and threadsRequested.
 */
export function peerHead(which: 'pytorch' | 'tfjs', out: Record<string, unknown>, mapped: string[], threads: number) {
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(out)) if (!mapped.includes(k)) extra[k] = v;
  return {
    ...extra,
    system: which, available: true as const, peer: String(out.peer ?? which), version: String(out.version ?? '?'),
    threads: num(out.threads), threadsRequested: num(out.threads_requested) ?? threads,
  };
}

// ---------------------------------------------------------------------------------- running

/** The progress logger: stderr by default, silence for null. */
export function makeLog(log: ((line: string) => void) | null | undefined): (line: string) => void {
  return log === undefined ? (s: string) => process.stderr.write(s + '\n') : log ?? (() => undefined);
}

/**
 * Runs the selected systems one after the other in SYSTEMS order (a pause between two), and
 * marks the others as not run.
 */
export function runInTurn<R extends { available: boolean; error?: unknown }>(o: {
  bench: string;
  selected: Set<SystemName>;
  skipTfjs?: boolean;
  pauseMs?: number;
  threads: number;
  /** What the progress line says after the thread count. */
  detail: string;
  log: (line: string) => void;
  run: (s: SystemName) => R;
}): { systems: Record<SystemName, R>; order: SystemName[] } {
  const systems = {} as Record<SystemName, R>;
  const order: SystemName[] = [];
  const pause = o.pauseMs ?? 500;
  for (const s of SYSTEMS) {
    if (!o.selected.has(s)) {
      const skipped: PeerFailure = { system: s, available: false, error: s === 'tfjs' && o.skipTfjs ? 'skipped (--skip-tfjs)' : 'not selected (--only)' };
      systems[s] = skipped as unknown as R; // both result types admit a failure
      continue;
    }
    if (order.length) sleepMs(pause);
    order.push(s);
    o.log(`bench ${o.bench}: running ${s} (${o.threads} thread${o.threads === 1 ? '' : 's'}, ${o.detail})`);
    const r = o.run(s);
    systems[s] = r;
    if (!r.available) o.log(`bench ${o.bench}: ${s} unavailable: ${r.error}`);
  }
  return { systems, order };
}

// ---------------------------------------------------------------------------------- comparison

/** A time in ms if the system ran and has a finite one, else null. */
export function msOf(r: { available: boolean } | undefined, v: unknown): number | null {
  return r?.available && typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Refinery's times against the peers', and against the targets. */
export interface Comparison {
  refineryMs: number | null;
  pytorchMs: number | null;
  tfjsMs: number | null;
  /** refinery ms / pytorch ms (lower is better). */
  ratioVsPytorch: number | null;
  /** tfjs ms / refinery ms (higher is better). */
  speedupVsTfjs: number | null;
  targetVsPytorch: string;
  pytorchTarget: TargetStatus;
  targetVsTfjs: string;
  tfjsTarget: TargetStatus;
}

/** Refinery against the peers, and against the targets (minSpeedupVsTfjs null: none set). */
export function compareMs(ref: number | null, pt: number | null, tf: number | null,
  t: { maxRatioVsPytorch: number; minSpeedupVsTfjs: number | null }): Comparison {
  const ratio = ref !== null && pt !== null && pt > 0 ? ref / pt : null;
  const speedup = ref !== null && tf !== null && ref > 0 ? tf / ref : null;
  return {
    refineryMs: ref, pytorchMs: pt, tfjsMs: tf, ratioVsPytorch: ratio, speedupVsTfjs: speedup,
    targetVsPytorch: `<= ${t.maxRatioVsPytorch.toFixed(2)}x`,
    pytorchTarget: ratio === null ? 'n/a' : ratio <= t.maxRatioVsPytorch ? 'met' : 'missed',
    targetVsTfjs: t.minSpeedupVsTfjs === null ? '-' : `>= ${t.minSpeedupVsTfjs}x`,
    tfjsTarget: t.minSpeedupVsTfjs === null ? 'none' : speedup === null ? 'n/a' : speedup >= t.minSpeedupVsTfjs ? 'met' : 'missed',
  };
}

// ---------------------------------------------------------------------------------- output

export const fmtMs = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
export const fmtX = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x`);
export const fmtStatus = (target: string, s: TargetStatus) => (s === 'none' ? '-' : `${target} ${s === 'missed' ? 'MISSED' : s}`);

/** One system's line above the table: library, version, threads (or why it has none). */
export function describeSystem(s: SystemName, r: {
  available: boolean; error?: string; peer?: string; version?: string; threads?: number; threadsRequested?: number;
}): string {
  if (!r.available) return `${s}: n/a (${r.error})`;
  const th = r.threadsRequested !== undefined && r.threadsRequested !== r.threads
    ? `${r.threads} thread${r.threads === 1 ? '' : 's'} (${r.threadsRequested} requested)` : `${r.threads} thread${r.threads === 1 ? '' : 's'}`;
  return `${s}: ${r.peer} ${r.version}, ${th}`;
}

/** The head line, a rule and the rows, columns padded (the first to the left, the others to the right). */
export function tableLines(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

// ---------------------------------------------------------------------------------- CLI

/** `--name value`, `--flag`, `--name=value` (the runners check the names against their own lists). */
function parseFlags(args: string[]): { flags: Record<string, string | true>; positional: string[] } {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < args.length && !args[i + 1].startsWith('--')) flags[a.slice(2)] = args[++i];
      else flags[a.slice(2)] = true;
    } else positional.push(a);
  }
  return { flags, positional };
}

/** `--name N` as a positive integer, or `dflt` when absent. */
export function intFlag(flags: Record<string, string | true>, name: string, dflt: number): number {
  const v = flags[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === true || v.trim() === '' || !Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive integer, got ${v === true ? 'no value' : JSON.stringify(v)}`);
  return n;
}

/**
 * Parses the flags of `bench <name>`: rejects unknown ones and positional arguments, and reads
 * --only. `str` reads a flag that needs a value.
 */
export function parseBenchFlags(name: string, args: string[], known: string[], usage: string) {
  const { flags, positional } = parseFlags(args);
  const knownSet = new Set(known);
  for (const k of Object.keys(flags)) if (!knownSet.has(k)) throw new Error(`bench ${name}: unknown option --${k}\n${usage}`);
  if (positional.length) throw new Error(`bench ${name}: unexpected argument "${positional[0]}"\n${usage}`);
  const str = (flag: string): string | undefined => {
    const v = flags[flag];
    if (v === true) throw new Error(`--${flag}: expected a value`);
    return v;
  };
  let only: SystemName[] | undefined;
  const o = str('only');
  if (o !== undefined) {
    only = o.split(',').map((s) => s.trim()).filter(Boolean) as SystemName[];
    const bad = only.filter((s) => !(SYSTEMS as readonly string[]).includes(s));
    if (bad.length || !only.length) throw new Error(`--only: expected one or more of ${SYSTEMS.join(', ')}, got "${o}"`);
  }
  return { flags, str, only };
}

/** --tfjs-conv-dx, checked. */
export function convDxFlag(str: (flag: string) => string | undefined): 'conv' | 'native' | undefined {
  const dx = str('tfjs-conv-dx');
  if (dx !== undefined && dx !== 'conv' && dx !== 'native') throw new Error(`--tfjs-conv-dx: expected conv or native, got "${dx}"`);
  return dx as 'conv' | 'native' | undefined;
}

/** --skip-tfjs, --python, --tiny, --json and --help. */
export function lastFlags(flags: Record<string, string | true>, str: (flag: string) => string | undefined) {
  return {
    skipTfjs: flags['skip-tfjs'] === true,
    python: str('python'),
    tiny: flags.tiny === true,
    json: flags.json === true,
    help: flags.help === true,
  };
}

/** --threads (default: all cores). */
export function threadsFlag(flags: Record<string, string | true>): number {
  return intFlag(flags, 'threads', defaultThreads());
}

/** Runs a `bench <name>` command: prints the usage, or the report as a table or one JSON line. */
export function runBenchCommand<O extends { json: boolean; help: boolean }, R>(
  args: string[], parse: (args: string[]) => O, usage: string, run: (opts: O) => R, format: (report: R) => string,
  /** The exit code for a finished report (default 0), e.g. 1 when the systems did not run the same model. */
  exitCode: (report: R) => number = () => 0,
): number {
  const opts = parse(args);
  if (opts.help) {
    process.stdout.write(usage);
    return 0;
  }
  const report = run(opts);
  process.stdout.write(opts.json ? JSON.stringify(report) + '\n' : format(report) + '\n');
  return exitCode(report);
}

/** Trainable parameters and non-trainable floating-point state of one system's model. */
export interface ParamCounts {
  trainable: number;
  nonTrainable: number;
  /** TF.js's model.countParams() (trainable + non-trainable), where the system reports one. */
  countParams?: number;
}

/** Each system's parameter counts against the ones computed from the architecture. */
export interface ParamCheck<S extends string = string> {
  /** Trainable parameters of each system that ran (null where it did not). */
  trainable: Record<S, number | null>;
  nonTrainable: Record<S, number | null>;
  /** The counts computed from the architecture. */
  expected: ParamCounts;
  /** Whether every system that ran reports the expected counts (null when none ran). */
  match: boolean | null;
}

/** Compares the counts of the systems that ran (`available`) with `expected`. */
export function checkParamCounts<S extends string>(
  names: readonly S[], systems: Record<S, { available: boolean; params?: ParamCounts }>, expected: ParamCounts,
): ParamCheck<S> {
  const trainable = {} as Record<S, number | null>;
  const nonTrainable = {} as Record<S, number | null>;
  let match: boolean | null = null;
  for (const s of names) {
    const p = systems[s]?.available ? systems[s].params : undefined;
    trainable[s] = p ? p.trainable : null;
    nonTrainable[s] = p ? p.nonTrainable : null;
    if (p) match = (match ?? true) && p.trainable === expected.trainable && p.nonTrainable === expected.nonTrainable;
  }
  return { trainable, nonTrainable, expected, match };
}

/** The body of `if (require.main === module)` for a runner. */
export function benchMain(command: (args: string[]) => number | Promise<number>): void {
  const fail = (e: unknown): void => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  };
  try {
    const code = command(process.argv.slice(2));
    if (typeof code === 'number') process.exitCode = code;
    else code.then((c) => { process.exitCode = c; }, fail);
  } catch (e) {
    fail(e);
  }
}

// The nn benchmark: ONE TRAINING STEP of the Fashion-MNIST reference convnet (FashionClassifier,
// src/vision/classifier.ts) through Refinery in-process, then the same step through the PyTorch
// (bench/peers/torch_nn.py: the equivalent torch.nn.Sequential and torch.optim.Adam) and
// TensorFlow.js (bench/peers/tfjs_nn.js: tfjs-layers on the wasm backend) peers as child
// processes, one system after the other, never in parallel.
//
//   model : (x - 0.2860) / 0.3530 · conv3x3(1->32, no bias)-BN-ReLU-maxpool2 ·
//           conv3x3(32->64)-BN-ReLU-maxpool2 · conv3x3(64->64)-BN-ReLU · flatten · dropout 0.3 ·
//           linear(64*7*7->128)-ReLU · dropout 0.3 · linear(128->10)
//   step  : train mode; zero grads, forward, mean cross-entropy, backward, Adam (lr 1e-3) update
//   data  : one fixed random batch of 128 images [128,1,28,28] uniform in [0, 1], int labels in [0, 10)
//
// Each figure is the median wall time of one step over the timed repetitions, after the same
// warmup steps in every system. The parameter counts each system reports are compared to show
// that the three models are the same architecture. `refinery bench nn` (src/cli/bench.ts) calls
// runNnCommand; the functions below are exported for tests and other callers.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { F, Tensor, functions as torch, scope, manualSeed, setNumThreads, getNumThreads, torchVersion } from '../src/tensor';
import { namedTensors, numParams, params } from '../src/nn';
import { Adam } from '../src/optim';
import { FashionClassifier, DEFAULT_CLASSIFIER } from '../src/vision/classifier';
import { intFlag, parseFlags } from '../src/cli/args';
import { findRepoRoot, median, SYSTEMS, type SystemName, type TargetStatus } from './engine';

export { SYSTEMS, type SystemName };

/** Batch of the spec, and of the smoke-test size. */
export const BATCH = { full: 128, tiny: 8 } as const;
/** Untimed steps before the timed ones (every system). */
export const DEFAULT_WARMUP = 3;
export const DEFAULT_REPS = 15;
export const LR = 1e-3;

export const TARGET = {
  /** Max allowed refinery/pytorch time ratio. */
  maxRatioVsPytorch: 1.1,
  /** Min required tfjs/refinery speed-up. */
  minSpeedupVsTfjs: 3,
};

/** Trainable parameters and non-trainable floating-point state (BatchNorm running statistics). */
export interface ParamCounts {
  trainable: number;
  nonTrainable: number;
  /** TF.js's model.countParams() (trainable + non-trainable), where the system reports one. */
  countParams?: number;
}

export interface NnSystemResult {
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
  /** Median wall time of one training step, milliseconds. */
  ms?: number;
  minMs?: number;
  /** Timed steps. */
  iters?: number;
  params?: ParamCounts;
  /** Loss of the first (warmup) step and of the last timed step. */
  firstLoss?: number;
  finalLoss?: number;
  /** Wall time of this system's whole run (seconds), including start-up for peers. */
  wallS?: number;
  [detail: string]: unknown;
}

export interface NnComparison {
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

export interface ParamCheck {
  /** Trainable parameters of each system that ran (null where it did not). */
  trainable: Record<SystemName, number | null>;
  nonTrainable: Record<SystemName, number | null>;
  /** The count computed from the architecture. */
  expected: { trainable: number; nonTrainable: number };
  /** Whether every system that ran reports the expected counts (null when none ran). */
  match: boolean | null;
}

export interface NnReport {
  bench: 'nn';
  size: 'full' | 'tiny';
  batch: number;
  threads: number;
  reps: number;
  warmup: number;
  order: SystemName[];
  model: string;
  step: string;
  host: { cpus: number; loadavg: number[]; node: string; platform: string; arch: string };
  systems: Record<SystemName, NnSystemResult>;
  params: ParamCheck;
  comparison: NnComparison;
  notes: string[];
}

export interface NnOptions {
  /** Intra-op threads for every system (default: all cores). */
  threads?: number;
  /** Timed steps (default 15). */
  reps?: number;
  /** Untimed steps first (default 3). */
  warmup?: number;
  /** Systems to run (default all). */
  only?: SystemName[];
  skipTfjs?: boolean;
  /** Batch 8 instead of 128 (smoke tests; not comparable with the spec). */
  tiny?: boolean;
  /** TF.js backend (default wasm; the peer itself falls back to cpu, and says so, if wasm cannot train). */
  tfjsBackend?: 'wasm' | 'cpu';
  /** How the TF.js peer computes conv input gradients on wasm (default "conv", its faster form). */
  tfjsConvDx?: 'conv' | 'native';
  /** Python interpreter with torch for the PyTorch peer (default /usr/bin/python3). */
  python?: string;
  /** Repository root holding bench/peers (default: found by walking up from this file). */
  root?: string;
  /** Pause between systems so the previous one's worker threads go idle (ms, default 500). */
  pauseMs?: number;
  /** Progress lines (default: stderr); pass null for silence. */
  log?: ((line: string) => void) | null;
}

export const MODEL_DESC =
  '(x-0.2860)/0.3530 · conv3x3(1→32,no bias)-BN-ReLU-maxpool2 · conv3x3(32→64)-BN-ReLU-maxpool2 · ' +
  'conv3x3(64→64)-BN-ReLU · flatten · dropout 0.3 · linear(3136→128)-ReLU · dropout 0.3 · linear(128→10)';
export const STEP_DESC = 'train mode: zero grads, forward, mean cross-entropy, backward, Adam(lr 1e-3) step';

/** Parameter counts of the architecture, from its shapes (convs have no bias; BN has weight and bias). */
export function expectedParams(c = DEFAULT_CLASSIFIER): { trainable: number; nonTrainable: number } {
  const [c0, c1, c2] = c.channels;
  const conv = (cin: number, cout: number) => cin * cout * 9;
  const bn = (n: number) => 2 * n;
  const trainable = conv(1, c0) + bn(c0) + conv(c0, c1) + bn(c1) + conv(c1, c2) + bn(c2) +
    (c2 * 7 * 7 * c.hidden + c.hidden) + (c.hidden * c.classes + c.classes);
  return { trainable, nonTrainable: 2 * (c0 + c1 + c2) };
}

// ---------------------------------------------------------------------------------- helpers

function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function refineryVersion(root: string | undefined): string {
  try {
    const r = root ?? findRepoRoot();
    const pkg = JSON.parse(fs.readFileSync(path.join(r, 'package.json'), 'utf8')) as { version?: string };
    return `${pkg.version ?? '?'} (libtorch ${torchVersion})`;
  } catch {
    return `? (libtorch ${torchVersion})`;
  }
}

// ---------------------------------------------------------------------------------- Refinery side

/**
 * One training step, timed, through Refinery in this process, exactly as a user writes it:
 * `new FashionClassifier()`, `new optim.Adam(model, { lr: 1e-3 })`, and per step
 * `scope(() => { opt.zeroGrad(); F.crossEntropy(model(x), y).backward(); opt.step(); })`
 * (the per-step scope is what the training loop, src/train/loop.ts, does).
 */
export function runRefinery(opts: { threads?: number; reps?: number; warmup?: number; tiny?: boolean; root?: string } = {}): NnSystemResult {
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? DEFAULT_REPS;
  const warmup = opts.warmup ?? DEFAULT_WARMUP;
  const batch = opts.tiny ? BATCH.tiny : BATCH.full;
  const prevThreads = getNumThreads();
  const t0 = performance.now();
  setNumThreads(threads);
  try {
    return refineryStep(threads, reps, warmup, batch, t0, opts.root);
  } finally {
    setNumThreads(prevThreads);
  }
}

function refineryStep(threads: number, reps: number, warmup: number, batch: number, t0: number, root: string | undefined): NnSystemResult {
  manualSeed(0);
  const model = new FashionClassifier();
  const opt = new Adam(model, { lr: LR });
  const [x, y] = scope(() => [torch.rand([batch, 1, 28, 28]).keep(), torch.randint(0, 10, [batch], { dtype: 'int64' }).keep()]);
  // the loss comes back from the scope (as PyTorch's step returns it) and is freed outside the timing
  const step = (): Tensor => scope(() => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model(x), y);
    loss.backward();
    opt.step();
    return loss;
  });
  const lossOf = (t: Tensor): number => {
    const v = t.item();
    t.dispose();
    return v;
  };
  try {
    model.train();
    let firstLoss = NaN, finalLoss = NaN;
    for (let i = 0; i < warmup; i++) {
      const l = step();
      if (i === 0) firstLoss = lossOf(l);
      else l.dispose();
    }
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const s = performance.now();
      const l = step();
      times.push(performance.now() - s);
      if (warmup === 0 && i === 0 && reps > 1) firstLoss = l.item();
      if (i === reps - 1) finalLoss = lossOf(l);
      else l.dispose();
    }
    if (warmup === 0 && reps === 1) firstLoss = finalLoss;
    const trainable = numParams(model);
    const learnable = new Set<Tensor>(params(model));
    const nonTrainable = namedTensors(model)
      .filter(([, t]) => !learnable.has(t) && (t.dtype === 'float32' || t.dtype === 'float64'))
      .reduce((n, [, t]) => n + t.numel(), 0);
    return {
      system: 'refinery', available: true, peer: 'refinery', version: refineryVersion(root),
      threads: getNumThreads(), threadsRequested: threads,
      ms: median(times), minMs: Math.min(...times), iters: reps, warmup, batch,
      params: { trainable, nonTrainable }, firstLoss, finalLoss,
      step: 'scope(() => { opt.zeroGrad(); F.crossEntropy(model(x), y).backward(); opt.step(); })',
      layout: 'NCHW',
      wallS: (performance.now() - t0) / 1000,
    };
  } finally {
    x.dispose();
    y.dispose();
    for (const [, t] of namedTensors(model)) t.dispose();
    opt.dispose();
  }
}

// ---------------------------------------------------------------------------------- peers

function lastJsonLine(stdout: string): Record<string, unknown> | null {
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
function tail(s: string | null | undefined, n = 2): string {
  const lines = (s ?? '').trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const errs = lines.filter((l) => /(Error|Exception)\b.*:/.test(l) && !l.startsWith('at '));
  return errs.length ? errs[errs.length - 1] : lines.slice(-n).join(' | ');
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Runs one peer script as a child process and parses its JSON line; never throws for a missing peer. */
export function runPeer(which: 'pytorch' | 'tfjs', opts: NnOptions = {}): NnSystemResult {
  const root = opts.root ?? findRepoRoot();
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? DEFAULT_REPS;
  const warmup = opts.warmup ?? DEFAULT_WARMUP;
  const batch = opts.tiny ? BATCH.tiny : BATCH.full;
  const common = ['--threads', String(threads), '--reps', String(reps), '--warmup', String(warmup), '--batch', String(batch)];
  let cmd: string;
  let args: string[];
  if (which === 'pytorch') {
    cmd = opts.python ?? '/usr/bin/python3';
    args = [path.join(root, 'bench', 'peers', 'torch_nn.py'), ...common, '--json'];
    if (!fs.existsSync(cmd)) return { system: which, available: false, error: `${cmd} not found` };
  } else {
    cmd = process.execPath;
    args = [path.join(root, 'bench', 'peers', 'tfjs_nn.js'), ...common,
      '--backend', opts.tfjsBackend ?? 'wasm', '--conv-dx', opts.tfjsConvDx ?? 'conv'];
  }
  if (!fs.existsSync(args[0])) return { system: which, available: false, error: `${args[0]} not found` };
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    cwd: root, encoding: 'utf8', maxBuffer: 16 << 20, timeout: 30 * 60 * 1000,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const wallS = (performance.now() - t0) / 1000;
  if (r.error) return { system: which, available: false, error: `${path.basename(cmd)}: ${r.error.message}`, wallS };
  if (r.status !== 0) {
    return { system: which, available: false, error: `exit ${r.status ?? r.signal}: ${tail(r.stderr) || tail(r.stdout)}`, wallS };
  }
  const out = lastJsonLine(r.stdout);
  if (!out || num(out.ms) === undefined) {
    return { system: which, available: false, error: `no result JSON in the output: ${tail(r.stdout) || tail(r.stderr)}`, wallS };
  }
  const p = (out.params ?? {}) as Record<string, unknown>;
  const extra: Record<string, unknown> = {};
  const mapped = ['peer', 'threads', 'threads_requested', 'version', 'ms', 'min_ms', 'iters', 'params', 'first_loss', 'final_loss'];
  for (const [k, v] of Object.entries(out)) if (!mapped.includes(k)) extra[k] = v;
  return {
    ...extra,
    system: which, available: true, peer: String(out.peer ?? which), version: String(out.version ?? '?'),
    threads: num(out.threads), threadsRequested: num(out.threads_requested) ?? threads,
    ms: num(out.ms), minMs: num(out.min_ms), iters: num(out.iters),
    params: num(p.trainable) !== undefined
      ? { trainable: num(p.trainable)!, nonTrainable: num(p.non_trainable) ?? 0, ...(num(p.count_params) !== undefined ? { countParams: num(p.count_params) } : {}) }
      : undefined,
    firstLoss: num(out.first_loss), finalLoss: num(out.final_loss), wallS,
  };
}

// ---------------------------------------------------------------------------------- comparison

export function compare(systems: Record<SystemName, NnSystemResult>): NnComparison {
  const ms = (s: SystemName): number | null => {
    const r = systems[s];
    const v = r?.available ? r.ms : undefined;
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  const ref = ms('refinery'), pt = ms('pytorch'), tf = ms('tfjs');
  const ratio = ref !== null && pt !== null && pt > 0 ? ref / pt : null;
  const speedup = ref !== null && tf !== null && ref > 0 ? tf / ref : null;
  return {
    refineryMs: ref, pytorchMs: pt, tfjsMs: tf, ratioVsPytorch: ratio, speedupVsTfjs: speedup,
    targetVsPytorch: `<= ${TARGET.maxRatioVsPytorch.toFixed(2)}x`,
    pytorchTarget: ratio === null ? 'n/a' : ratio <= TARGET.maxRatioVsPytorch ? 'met' : 'missed',
    targetVsTfjs: `>= ${TARGET.minSpeedupVsTfjs}x`,
    tfjsTarget: speedup === null ? 'n/a' : speedup >= TARGET.minSpeedupVsTfjs ? 'met' : 'missed',
  };
}

export function checkParams(systems: Record<SystemName, NnSystemResult>): ParamCheck {
  const expected = expectedParams();
  const trainable = {} as Record<SystemName, number | null>;
  const nonTrainable = {} as Record<SystemName, number | null>;
  let match: boolean | null = null;
  for (const s of SYSTEMS) {
    const p = systems[s]?.available ? systems[s].params : undefined;
    trainable[s] = p ? p.trainable : null;
    nonTrainable[s] = p ? p.nonTrainable : null;
    if (p) match = (match ?? true) && p.trainable === expected.trainable && p.nonTrainable === expected.nonTrainable;
  }
  return { trainable, nonTrainable, expected, match };
}

/** Runs the selected systems one after the other (Refinery, then PyTorch, then TF.js) and compares them. */
export function runNnBench(opts: NnOptions = {}): NnReport {
  const log = opts.log === undefined ? (s: string) => process.stderr.write(s + '\n') : opts.log ?? (() => undefined);
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? DEFAULT_REPS;
  const warmup = opts.warmup ?? DEFAULT_WARMUP;
  const root = opts.root ?? findRepoRoot();
  const batch = opts.tiny ? BATCH.tiny : BATCH.full;
  const full = { ...opts, threads, reps, warmup, root };
  const notes: string[] = [];
  const selected = new Set<SystemName>(opts.only && opts.only.length ? opts.only : SYSTEMS);
  if (opts.skipTfjs) selected.delete('tfjs');
  const systems = {} as Record<SystemName, NnSystemResult>;
  const order: SystemName[] = [];
  const pause = opts.pauseMs ?? 500;
  for (const s of SYSTEMS) {
    if (!selected.has(s)) {
      systems[s] = { system: s, available: false, error: s === 'tfjs' && opts.skipTfjs ? 'skipped (--skip-tfjs)' : 'not selected (--only)' };
      continue;
    }
    if (order.length) sleepMs(pause);
    order.push(s);
    log(`bench nn: running ${s} (${threads} thread${threads === 1 ? '' : 's'}, batch ${batch}, ${warmup} warmup + ${reps} timed steps)`);
    systems[s] = s === 'refinery' ? runRefinery(full) : runPeer(s, full);
    if (!systems[s].available) log(`bench nn: ${s} unavailable: ${systems[s].error}`);
  }
  if (opts.tiny) notes.push(`tiny: batch ${batch} instead of ${BATCH.full} (smoke test; not the spec, not comparable)`);
  const params = checkParams(systems);
  if (params.match === false) {
    notes.push(`PARAMETER COUNTS DIFFER from the expected ${params.expected.trainable} trainable + ` +
      `${params.expected.nonTrainable} BN running statistics: the models are not the same architecture`);
  }
  const tf = systems.tfjs;
  if (tf.available) {
    if (tf.fallback) notes.push(`TF.js: ${String(tf.fallback)}`);
    if (tf.backend === 'cpu') notes.push('TF.js ran on the tfjs "cpu" backend (pure JavaScript), NOT wasm');
    else {
      notes.push(`TF.js (wasm backend) in Node is single-threaded whatever is asked: ${threads} requested, ${tf.threads ?? 1} used` +
        (order.length > 1 ? `; ${order.filter((s) => s !== 'tfjs').join(' and ')} ran with ${threads}` : ''));
    }
    if (tf.conv_dw) notes.push(`TF.js conv weight gradient: ${String(tf.conv_dw)}; tfjs-layers cannot train a conv on stock wasm`);
    if (tf.conv_dx) notes.push(`TF.js conv input gradient: ${String(tf.conv_dx)}`);
    const v = tf.variants as Record<string, { ms: number; form: string }> | undefined;
    if (v) {
      notes.push(`TF.js headline = the faster of: ${Object.entries(v).map(([k, r]) => `${k} ${r.ms.toFixed(1)} ms`).join('; ')}`);
    }
  }
  if (os.loadavg()[0] > 0.5 * os.cpus().length) {
    notes.push(`host was busy (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores): timings are noisy`);
  }
  return {
    bench: 'nn', size: opts.tiny ? 'tiny' : 'full', batch, threads, reps, warmup, order,
    model: MODEL_DESC, step: STEP_DESC,
    host: { cpus: os.cpus().length, loadavg: os.loadavg(), node: process.version, platform: os.platform(), arch: os.arch() },
    systems, params, comparison: compare(systems), notes,
  };
}

// ---------------------------------------------------------------------------------- output

const fmtMs = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const fmtX = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x`);
const fmtStatus = (target: string, s: TargetStatus) => (s === 'none' ? '-' : `${target} ${s === 'missed' ? 'MISSED' : s}`);
const fmtN = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : String(v));
const fmtLoss = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3));

export function formatTable(report: NnReport): string {
  const out: string[] = [];
  const desc = (s: SystemName) => {
    const r = report.systems[s];
    if (!r.available) return `${s}: n/a (${r.error})`;
    const th = r.threadsRequested !== undefined && r.threadsRequested !== r.threads
      ? `${r.threads} thread${r.threads === 1 ? '' : 's'} (${r.threadsRequested} requested)` : `${r.threads} thread${r.threads === 1 ? '' : 's'}`;
    return `${s}: ${r.peer} ${r.version}, ${th}`;
  };
  out.push(`refinery bench nn: one training step of the Fashion-MNIST convnet, batch ${report.batch}` +
    `${report.size === 'tiny' ? ' (TINY smoke-test size)' : ''}; median ms per step over ${report.reps} steps after ${report.warmup} warmup; ` +
    `${report.threads} threads requested; run order ${report.order.join(' -> ') || '(none)'}`);
  out.push(`  model: ${report.model}`);
  out.push(`  step:  ${report.step}`);
  for (const s of SYSTEMS) out.push(`  ${desc(s)}`);
  out.push('');
  const c = report.comparison;
  const head = ['system', 'ms/step', 'min ms', 'vs pytorch', 'target', 'tfjs speed-up', 'target', 'params', 'BN stats', 'loss first->last'];
  const rows: string[][] = SYSTEMS.map((s) => {
    const r = report.systems[s];
    const ok = r.available;
    return [
      s === 'tfjs' && ok ? String(r.peer) : s,
      ok ? fmtMs(r.ms) : 'n/a', ok ? fmtMs(r.minMs) : 'n/a',
      s === 'refinery' ? fmtX(c.ratioVsPytorch) : s === 'pytorch' && ok ? '1.00x' : '-',
      s === 'refinery' ? fmtStatus(c.targetVsPytorch, c.pytorchTarget) : '',
      s === 'refinery' ? fmtX(c.speedupVsTfjs) : s === 'tfjs' && ok ? '1.00x' : '-',
      s === 'refinery' ? fmtStatus(c.targetVsTfjs, c.tfjsTarget) : '',
      fmtN(report.params.trainable[s]), fmtN(report.params.nonTrainable[s]),
      ok ? `${fmtLoss(r.firstLoss)} -> ${fmtLoss(r.finalLoss)}` : 'n/a',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
  out.push(line(head));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out.push(line(r));
  out.push('');
  const p = report.params;
  out.push(`parameters: ${p.match === null ? 'no system ran' : p.match ? 'MATCH' : 'MISMATCH'} ` +
    `(expected ${p.expected.trainable} trainable + ${p.expected.nonTrainable} BN running mean/var; ` +
    `refinery numParams(model), pytorch sum(p.numel()), tfjs model.countParams() = trainable + BN stats` +
    `${report.systems.tfjs.params?.countParams !== undefined ? ` = ${report.systems.tfjs.params.countParams}` : ''})`);
  out.push('vs pytorch: refinery ms / pytorch ms, lower is better; tfjs speed-up: tfjs ms / refinery ms, higher is better.');
  for (const n of report.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------- CLI

export const NN_USAGE = `usage: refinery bench nn [options]

One training step (forward, cross-entropy, backward, Adam update, zero grads) of the
Fashion-MNIST convnet (FashionClassifier), batch 128, through Refinery, PyTorch and TF.js.

  --threads N            intra-op threads for every system (default: all cores, here ${defaultThreads()})
  --reps R               timed steps (default ${DEFAULT_REPS})
  --warmup W             untimed steps first (default ${DEFAULT_WARMUP}; 0 allowed)
  --only S[,S...]        run only these systems: refinery, pytorch, tfjs
  --skip-tfjs            do not run the TF.js peer
  --tfjs-backend B       wasm (default) or cpu
  --tfjs-conv-dx M       TF.js conv input gradient on wasm: conv (default, its faster form) or native
  --python PATH          interpreter for the PyTorch peer (default /usr/bin/python3)
  --tiny                 batch 8 (smoke test; not comparable)
  --json                 print one JSON object instead of the table
`;

/** Parses `bench nn` options (everything after "nn"). */
export function parseNnArgs(args: string[]): NnOptions & { json: boolean; help: boolean } {
  const { flags, positional } = parseFlags(args);
  const known = new Set(['threads', 'reps', 'warmup', 'only', 'skip-tfjs', 'tfjs-backend', 'tfjs-conv-dx', 'python', 'tiny', 'json', 'help']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new Error(`bench nn: unknown option --${k}\n${NN_USAGE}`);
  if (positional.length) throw new Error(`bench nn: unexpected argument "${positional[0]}"\n${NN_USAGE}`);
  const str = (name: string): string | undefined => {
    const v = flags[name];
    if (v === true) throw new Error(`--${name}: expected a value`);
    return v;
  };
  let only: SystemName[] | undefined;
  const o = str('only');
  if (o !== undefined) {
    only = o.split(',').map((s) => s.trim()).filter(Boolean) as SystemName[];
    const bad = only.filter((s) => !(SYSTEMS as readonly string[]).includes(s));
    if (bad.length || !only.length) throw new Error(`--only: expected one or more of ${SYSTEMS.join(', ')}, got "${o}"`);
  }
  const be = str('tfjs-backend');
  if (be !== undefined && be !== 'wasm' && be !== 'cpu') throw new Error(`--tfjs-backend: expected wasm or cpu, got "${be}"`);
  const dx = str('tfjs-conv-dx');
  if (dx !== undefined && dx !== 'conv' && dx !== 'native') throw new Error(`--tfjs-conv-dx: expected conv or native, got "${dx}"`);
  let warmup = DEFAULT_WARMUP;
  const w = str('warmup');
  if (w !== undefined) {
    warmup = Number(w);
    if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`--warmup: expected a non-negative integer, got ${w}`);
  }
  return {
    threads: intFlag(flags, 'threads', defaultThreads()),
    reps: intFlag(flags, 'reps', DEFAULT_REPS),
    warmup,
    only,
    skipTfjs: flags['skip-tfjs'] === true,
    tfjsBackend: be as 'wasm' | 'cpu' | undefined,
    tfjsConvDx: dx as 'conv' | 'native' | undefined,
    python: str('python'),
    tiny: flags.tiny === true,
    json: flags.json === true,
    help: flags.help === true,
  };
}

/** `refinery bench nn ...`: runs the benchmark and prints the table (or JSON); returns the exit code. */
export function runNnCommand(args: string[]): number {
  const opts = parseNnArgs(args);
  if (opts.help) {
    process.stdout.write(NN_USAGE);
    return 0;
  }
  const report = runNnBench(opts);
  process.stdout.write(opts.json ? JSON.stringify(report) + '\n' : formatTable(report) + '\n');
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = runNnCommand(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  }
}

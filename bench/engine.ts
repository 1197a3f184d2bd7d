// The engine benchmark: four workloads through Refinery in-process, then the same four through
// the PyTorch (bench/peers/torch_engine.py) and TensorFlow.js (bench/peers/tfjs_engine.js)
// peers as child processes, one system after the other, never in parallel.
//
//   (a) add    : 100,000 additions of two float32[4] tensors (one iteration = the whole loop)
//   (b) matmul : float32[512,512] @ float32[512,512]
//   (c) conv   : conv2d forward + backward (grads w.r.t. input and weight), x [32,64,28,28],
//                w [64,64,3,3], padding 1, no bias, all-ones upstream gradient
//   (d) mlp    : one plain-SGD (lr 0.01) step of a 784-512-512-10 ReLU MLP, batch 128,
//                cross-entropy
//
// Every figure is the median wall time of one iteration over the timed repetitions, after the
// same warmup the PyTorch peer uses. `refinery bench engine` (src/cli/bench.ts) calls
// runEngineCommand; the functions below are exported for tests and other callers.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  F, Tensor, functions as torch, grad, noGrad, scope, manualSeed,
  setNumThreads, getNumThreads, torchVersion,
} from '../src/tensor';
import { intFlag, parseFlags } from '../src/cli/args';

export const WORKLOADS = ['add', 'matmul', 'conv', 'mlp'] as const;
export type Workload = (typeof WORKLOADS)[number];
export const SYSTEMS = ['refinery', 'pytorch', 'tfjs'] as const;
export type SystemName = (typeof SYSTEMS)[number];

/** Shapes of the four workloads. `full` is the spec (and what the peers run); `tiny` is for smoke tests only. */
export interface WorkloadSizes {
  addLoop: number;
  addChunk: number;
  matmulN: number;
  conv: { batch: number; channels: number; hw: number; kernel: number };
  mlp: { batch: number; dims: number[]; lr: number };
}
export const SIZES: Record<'full' | 'tiny', WorkloadSizes> = {
  full: {
    addLoop: 100_000, addChunk: 1000, matmulN: 512,
    conv: { batch: 32, channels: 64, hw: 28, kernel: 3 },
    mlp: { batch: 128, dims: [784, 512, 512, 10], lr: 0.01 },
  },
  tiny: {
    addLoop: 200, addChunk: 50, matmulN: 32,
    conv: { batch: 2, channels: 4, hw: 6, kernel: 3 },
    mlp: { batch: 8, dims: [20, 16, 16, 10], lr: 0.01 },
  },
};
// Warmup iterations, as in bench/peers/torch_engine.py.
const WARMUP: Record<Workload, number> = { add: 1, matmul: 5, conv: 2, mlp: 3 };

export interface WorkloadResult {
  /** Median wall time of one iteration, milliseconds. */
  ms: number;
  /** Timed repetitions. */
  iters: number;
  [detail: string]: unknown;
}

export interface SystemResult {
  system: SystemName;
  available: boolean;
  /** Why the system has no results (missing peer, crash, skipped). */
  error?: string;
  /** Library name as the system reports it ("refinery", "pytorch", "tfjs-wasm"). */
  peer?: string;
  version?: string;
  /** Threads the system actually used. */
  threads?: number;
  threadsRequested?: number;
  results?: Record<Workload, WorkloadResult>;
  /** Wall time of the whole run of this system (seconds), including start-up for peers. */
  wallS?: number;
  [detail: string]: unknown;
}

export interface Target {
  /** Max allowed refinery/pytorch time ratio. */
  maxRatioVsPytorch: number;
  /** Min required tfjs/refinery speed-up, or null where the spec sets none. */
  minSpeedupVsTfjs: number | null;
}
export const TARGETS: Record<Workload, Target> = {
  add: { maxRatioVsPytorch: 1.0, minSpeedupVsTfjs: null },
  matmul: { maxRatioVsPytorch: 1.05, minSpeedupVsTfjs: 3 },
  conv: { maxRatioVsPytorch: 1.05, minSpeedupVsTfjs: 3 },
  mlp: { maxRatioVsPytorch: 1.05, minSpeedupVsTfjs: 3 },
};

export type TargetStatus = 'met' | 'missed' | 'n/a' | 'none';
export interface ComparisonRow {
  workload: Workload;
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

export interface EngineReport {
  bench: 'engine';
  size: 'full' | 'tiny';
  threads: number;
  reps: number;
  addReps: number;
  order: SystemName[];
  host: { cpus: number; loadavg: number[]; node: string; platform: string; arch: string };
  systems: Record<SystemName, SystemResult>;
  comparison: ComparisonRow[];
  notes: string[];
}

export interface EngineOptions {
  /** Intra-op threads for every system (default: all cores). */
  threads?: number;
  /** Timed repetitions of matmul/conv/mlp (default 15, the PyTorch peer's default). */
  reps?: number;
  /** Timed repetitions of the whole add loop (default min(3, reps)). */
  addReps?: number;
  /** Systems to run (default all). */
  only?: SystemName[];
  skipTfjs?: boolean;
  /** Reduced shapes for smoke tests; Refinery only (the peers always run the full spec). */
  tiny?: boolean;
  /** How the TF.js peer computes the conv input gradient (default "conv": its faster option). */
  tfjsConvDx?: 'native' | 'conv';
  /** Python interpreter with torch for the PyTorch peer (default /usr/bin/python3). */
  python?: string;
  /** Repository root holding bench/peers (default: found by walking up from this file). */
  root?: string;
  /** Pause between systems so the previous one's worker threads go idle (ms, default 500). */
  pauseMs?: number;
  /** Progress lines (default: stderr); pass null for silence. */
  log?: ((line: string) => void) | null;
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

function timeIt(fn: () => void, warmup: number, reps: number): { ms: number; minMs: number; iters: number } {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), minMs: Math.min(...times), iters: reps };
}

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
 * (a) the add loop, two idiomatic ways: additions in scope(() => ...) chunks, and add().dispose()
 * with no enclosing scope. The faster is the headline; both are reported.
 */
function benchAdd(sz: WorkloadSizes, reps: number): WorkloadResult {
  const a = torch.rand([4]);
  const b = torch.rand([4]);
  try {
    const chunks = Math.ceil(sz.addLoop / sz.addChunk);
    const scoped = timeIt(() => {
      for (let c = 0; c < chunks; c++) {
        scope(() => {
          for (let i = 0; i < sz.addChunk; i++) a.add(b);
        });
      }
    }, WARMUP.add, reps);
    const disposed = timeIt(() => {
      for (let i = 0; i < sz.addLoop; i++) a.add(b).dispose();
    }, WARMUP.add, reps);
    const best = scoped.ms <= disposed.ms ? 'scope' : 'dispose';
    const head = best === 'scope' ? scoped : disposed;
    return {
      ms: head.ms, iters: reps, loop: sz.addLoop, us_per_add: (head.ms * 1000) / sz.addLoop, variant: best,
      variants: {
        scope: { ms: scoped.ms, minMs: scoped.minMs, chunk: sz.addChunk, chunks, form: `${chunks} x scope(() => { ${sz.addChunk} x a.add(b) })` },
        dispose: { ms: disposed.ms, minMs: disposed.minMs, form: `${sz.addLoop} x a.add(b).dispose()` },
      },
    };
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** (b) matmul; the product is freed at once, as Python's refcounting frees it. */
function benchMatmul(sz: WorkloadSizes, reps: number): WorkloadResult {
  const n = sz.matmulN;
  const a = torch.randn([n, n]);
  const b = torch.randn([n, n]);
  try {
    const t = timeIt(() => a.matmul(b).dispose(), WARMUP.matmul, reps);
    return { ms: t.ms, minMs: t.minMs, iters: reps, shape: [n, n] };
  } finally {
    a.dispose();
    b.dispose();
  }
}

/**
 * (c) exactly the PyTorch peer's conv: x and w are leaves requiring grad, y = conv2d(x, w,
 * padding 1) with no bias, and (gx, gw) = autograd.grad(y, (x, w), grad_outputs=ones_like(y)),
 * the ones tensor built inside every iteration as the peer does.
 */
function benchConv(sz: WorkloadSizes, reps: number): WorkloadResult {
  const { batch, channels: c, hw, kernel: k } = sz.conv;
  const pad = (k - 1) / 2;
  const [x, w] = scope(() => [
    torch.randn([batch, c, hw, hw], { requiresGrad: true }),
    torch.randn([c, c, k, k]).mul(0.05).requiresGrad_(),
  ]);
  try {
    const t = timeIt(() => scope(() => {
      const y = F.conv2d(x, w, { padding: pad });
      grad(y, [x, w], { gradOutputs: [torch.onesLike(y)] });
    }), WARMUP.conv, reps);
    return { ms: t.ms, minMs: t.minMs, iters: reps, layout: 'NCHW', input: [batch, c, hw, hw], weight: [c, c, k, k] };
  } finally {
    x.dispose();
    w.dispose();
  }
}

/**
 * (d) exactly the PyTorch peer's MLP step: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) init,
 * F.linear + ReLU twice, F.linear, mean cross-entropy on int64 labels,
 * grads = autograd.grad(loss, params) (so no .grad accumulates and nothing needs zeroing,
 * as in the peer), then p.sub_(g, alpha=lr) in place under noGrad.
 */
function benchMlp(sz: WorkloadSizes, reps: number): WorkloadResult {
  const { batch, dims, lr } = sz.mlp;
  const params: Tensor[] = scope(() => {
    const ps: Tensor[] = [];
    for (let l = 0; l + 1 < dims.length; l++) {
      const fanIn = dims[l], fanOut = dims[l + 1];
      const bound = 1 / Math.sqrt(fanIn);
      ps.push(torch.rand([fanOut, fanIn]).mul(2).sub(1).mul(bound).requiresGrad_());
      ps.push(torch.rand([fanOut]).mul(2).sub(1).mul(bound).requiresGrad_());
    }
    return ps;
  });
  const [x, y] = scope(() => [torch.randn([batch, dims[0]]), torch.randint(0, dims[dims.length - 1], [batch], { dtype: 'int64' })]);
  const layers = params.length / 2;
  const step = (): Tensor => {
    let h = x;
    for (let l = 0; l < layers; l++) {
      h = F.linear(h, params[2 * l], params[2 * l + 1]);
      if (l + 1 < layers) h = F.relu(h);
    }
    const loss = F.crossEntropy(h, y);
    const grads = grad(loss, params);
    noGrad(() => {
      for (let k = 0; k < params.length; k++) params[k].sub_(grads[k]!, { alpha: lr });
    });
    return loss;
  };
  try {
    const t = timeIt(() => scope(() => { step(); }), WARMUP.mlp, reps);
    const finalLoss = scope(() => step().item());
    return { ms: t.ms, minMs: t.minMs, iters: reps, final_loss: finalLoss };
  } finally {
    for (const p of params) p.dispose();
    x.dispose();
    y.dispose();
  }
}

/** Runs the four workloads through Refinery in this process, with `threads` intra-op threads. */
export function runRefinery(opts: { threads?: number; reps?: number; addReps?: number; tiny?: boolean; root?: string } = {}): SystemResult {
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? 15;
  const addReps = opts.addReps ?? Math.min(3, reps);
  const sz = opts.tiny ? SIZES.tiny : SIZES.full;
  const prevThreads = getNumThreads();
  const t0 = performance.now();
  setNumThreads(threads);
  try {
    manualSeed(0);
    const results = {
      add: benchAdd(sz, addReps),
      matmul: benchMatmul(sz, reps),
      conv: benchConv(sz, reps),
      mlp: benchMlp(sz, reps),
    };
    return {
      system: 'refinery', available: true, peer: 'refinery', version: refineryVersion(opts.root),
      threads: getNumThreads(), threadsRequested: threads, results, wallS: (performance.now() - t0) / 1000,
    };
  } finally {
    setNumThreads(prevThreads);
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

/** Runs one peer script as a child process and parses its JSON line; never throws for a missing peer. */
export function runPeer(which: 'pytorch' | 'tfjs', opts: EngineOptions = {}): SystemResult {
  const root = opts.root ?? findRepoRoot();
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? 15;
  const addReps = opts.addReps ?? Math.min(3, reps);
  const common = ['--threads', String(threads), '--reps', String(reps), '--add-reps', String(addReps)];
  let cmd: string;
  let args: string[];
  if (which === 'pytorch') {
    cmd = opts.python ?? '/usr/bin/python3';
    args = [path.join(root, 'bench', 'peers', 'torch_engine.py'), ...common, '--json'];
    if (!fs.existsSync(cmd)) return { system: which, available: false, error: `${cmd} not found` };
  } else {
    cmd = process.execPath;
    args = [path.join(root, 'bench', 'peers', 'tfjs_engine.js'), ...common, '--conv-dx', opts.tfjsConvDx ?? 'conv'];
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
  const res = out?.results as Record<string, WorkloadResult> | undefined;
  if (!out || !res || !WORKLOADS.every((w) => res[w] && typeof res[w].ms === 'number')) {
    return { system: which, available: false, error: `no result JSON in the output: ${tail(r.stdout) || tail(r.stderr)}`, wallS };
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(out)) {
    if (!['peer', 'threads', 'threads_requested', 'version', 'results'].includes(k)) extra[k] = v;
  }
  return {
    ...extra,
    system: which, available: true, peer: String(out.peer ?? which), version: String(out.version ?? '?'),
    threads: typeof out.threads === 'number' ? out.threads : undefined,
    threadsRequested: typeof out.threads_requested === 'number' ? out.threads_requested : threads,
    results: res as Record<Workload, WorkloadResult>, wallS,
  };
}

// ---------------------------------------------------------------------------------- comparison

export function compare(systems: Record<SystemName, SystemResult>): ComparisonRow[] {
  const ms = (s: SystemName, w: Workload): number | null => {
    const r = systems[s];
    const v = r?.available ? r.results?.[w]?.ms : undefined;
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  return WORKLOADS.map((w) => {
    const ref = ms('refinery', w), pt = ms('pytorch', w), tf = ms('tfjs', w);
    const ratio = ref !== null && pt !== null && pt > 0 ? ref / pt : null;
    const speedup = ref !== null && tf !== null && ref > 0 ? tf / ref : null;
    const t = TARGETS[w];
    return {
      workload: w, refineryMs: ref, pytorchMs: pt, tfjsMs: tf, ratioVsPytorch: ratio, speedupVsTfjs: speedup,
      targetVsPytorch: `<= ${t.maxRatioVsPytorch.toFixed(2)}x`,
      pytorchTarget: ratio === null ? 'n/a' : ratio <= t.maxRatioVsPytorch ? 'met' : 'missed',
      targetVsTfjs: t.minSpeedupVsTfjs === null ? '-' : `>= ${t.minSpeedupVsTfjs}x`,
      tfjsTarget: t.minSpeedupVsTfjs === null ? 'none' : speedup === null ? 'n/a' : speedup >= t.minSpeedupVsTfjs ? 'met' : 'missed',
    };
  });
}

/** Runs the selected systems one after the other (Refinery, then PyTorch, then TF.js) and compares them. */
export function runEngineBench(opts: EngineOptions = {}): EngineReport {
  const log = opts.log === undefined ? (s: string) => process.stderr.write(s + '\n') : opts.log ?? (() => undefined);
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? 15;
  const addReps = opts.addReps ?? Math.min(3, reps);
  const root = opts.root ?? findRepoRoot();
  const full = { ...opts, threads, reps, addReps, root };
  const notes: string[] = [];
  let selected = new Set<SystemName>(opts.only && opts.only.length ? opts.only : SYSTEMS);
  if (opts.skipTfjs) selected.delete('tfjs');
  if (opts.tiny && (selected.has('pytorch') || selected.has('tfjs'))) {
    notes.push('tiny workloads are Refinery-only; the peers were not run');
    selected = new Set<SystemName>(selected.has('refinery') ? ['refinery'] : []);
  }
  const skipped = (s: SystemName, why: string): SystemResult => ({ system: s, available: false, error: why });
  const systems = {} as Record<SystemName, SystemResult>;
  const order: SystemName[] = [];
  const pause = opts.pauseMs ?? 500;
  for (const s of SYSTEMS) {
    if (!selected.has(s)) {
      systems[s] = skipped(s, s === 'tfjs' && opts.skipTfjs ? 'skipped (--skip-tfjs)' : 'not selected (--only)');
      continue;
    }
    if (order.length) sleepMs(pause);
    order.push(s);
    log(`bench engine: running ${s} (${threads} thread${threads === 1 ? '' : 's'}, ${reps} reps, ${addReps} add reps${opts.tiny ? ', tiny sizes' : ''})`);
    systems[s] = s === 'refinery' ? runRefinery(full) : runPeer(s, full);
    if (!systems[s].available) log(`bench engine: ${s} unavailable: ${systems[s].error}`);
  }
  const tf = systems.tfjs;
  if (tf.available) {
    notes.push(`TF.js (wasm backend) in Node is single-threaded whatever is asked: ${threads} requested, ` +
      `${tf.threads ?? 1} used` +
      (order.length > 1 ? `; ${order.filter((s) => s !== 'tfjs').join(' and ')} ran with ${threads}` : ''));
    const conv = tf.results?.conv as WorkloadResult | undefined;
    if (conv?.dx) notes.push(`TF.js conv is NHWC with a custom gradient (the wasm backend has no Conv2DBackpropFilter): dx = ${String(conv.dx)}`);
  }
  const ra = systems.refinery.results?.add;
  if (ra?.variants) {
    const v = ra.variants as Record<string, { ms: number; form: string }>;
    notes.push(`refinery add headline = the faster of: ${v.scope.form} ${v.scope.ms.toFixed(1)} ms; ` +
      `${v.dispose.form} ${v.dispose.ms.toFixed(1)} ms`);
  }
  if (os.loadavg()[0] > 0.5 * os.cpus().length) {
    notes.push(`host was busy (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores): timings are noisy`);
  }
  return {
    bench: 'engine', size: opts.tiny ? 'tiny' : 'full', threads, reps, addReps, order,
    host: { cpus: os.cpus().length, loadavg: os.loadavg(), node: process.version, platform: os.platform(), arch: os.arch() },
    systems, comparison: compare(systems), notes,
  };
}

// ---------------------------------------------------------------------------------- output

const fmtMs = (v: number | null) => (v === null ? 'n/a' : v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const fmtX = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x`);
const fmtStatus = (target: string, s: TargetStatus) => (s === 'none' ? '-' : `${target} ${s === 'missed' ? 'MISSED' : s}`);

export function formatTable(report: EngineReport): string {
  const label: Record<Workload, string> = { add: '(a) add x100k', matmul: '(b) matmul 512', conv: '(c) conv fwd+bwd', mlp: '(d) mlp step' };
  const head = ['workload', 'refinery ms', 'pytorch ms', 'tfjs ms', 'refinery/pytorch', 'speed-up vs tfjs', 'target vs pytorch', 'target vs tfjs'];
  const rows = report.comparison.map((r) => [
    label[r.workload], fmtMs(r.refineryMs), fmtMs(r.pytorchMs), fmtMs(r.tfjsMs), fmtX(r.ratioVsPytorch), fmtX(r.speedupVsTfjs),
    fmtStatus(r.targetVsPytorch, r.pytorchTarget), fmtStatus(r.targetVsTfjs, r.tfjsTarget),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out: string[] = [];
  const desc = (s: SystemName) => {
    const r = report.systems[s];
    if (!r.available) return `${s}: n/a (${r.error})`;
    const th = r.threadsRequested !== undefined && r.threadsRequested !== r.threads
      ? `${r.threads} thread${r.threads === 1 ? '' : 's'} (${r.threadsRequested} requested)` : `${r.threads} thread${r.threads === 1 ? '' : 's'}`;
    return `${s}: ${r.peer} ${r.version}, ${th}`;
  };
  out.push(`refinery bench engine: ${report.size === 'tiny' ? 'TINY (smoke-test) workloads, ' : ''}median ms per iteration; ` +
    `${report.reps} reps (add loop: ${report.addReps}); ${report.threads} threads requested; run order ${report.order.join(' -> ') || '(none)'}`);
  for (const s of SYSTEMS) out.push(`  ${desc(s)}`);
  out.push('');
  out.push(line(head));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out.push(line(r));
  out.push('');
  out.push('refinery/pytorch: time ratio, lower is better; speed-up vs tfjs: tfjs ms / refinery ms, higher is better.');
  for (const n of report.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------- CLI

export const ENGINE_USAGE = `usage: refinery bench engine [options]

  --threads N            intra-op threads for every system (default: all cores, here ${defaultThreads()})
  --reps R               timed repetitions of matmul/conv/mlp (default 15)
  --add-reps A           timed repetitions of the 100k-addition loop (default min(3, R))
  --only S[,S...]        run only these systems: refinery, pytorch, tfjs
  --skip-tfjs            do not run the TF.js peer
  --tfjs-conv-dx M       TF.js conv input gradient: conv (default, its faster form) or native
  --python PATH          interpreter for the PyTorch peer (default /usr/bin/python3)
  --tiny                 reduced shapes, Refinery only (smoke test; not comparable)
  --json                 print one JSON object instead of the table
`;

/** Parses `bench engine` options (everything after "engine"). */
export function parseEngineArgs(args: string[]): EngineOptions & { json: boolean; help: boolean } {
  const { flags, positional } = parseFlags(args);
  const known = new Set(['threads', 'reps', 'add-reps', 'only', 'skip-tfjs', 'tfjs-conv-dx', 'python', 'tiny', 'json', 'help']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new Error(`bench engine: unknown option --${k}\n${ENGINE_USAGE}`);
  if (positional.length) throw new Error(`bench engine: unexpected argument "${positional[0]}"\n${ENGINE_USAGE}`);
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
  const dx = str('tfjs-conv-dx');
  if (dx !== undefined && dx !== 'conv' && dx !== 'native') throw new Error(`--tfjs-conv-dx: expected conv or native, got "${dx}"`);
  const reps = intFlag(flags, 'reps', 15);
  return {
    threads: intFlag(flags, 'threads', defaultThreads()),
    reps,
    addReps: intFlag(flags, 'add-reps', Math.min(3, reps)),
    only,
    skipTfjs: flags['skip-tfjs'] === true,
    tfjsConvDx: dx as 'conv' | 'native' | undefined,
    python: str('python'),
    tiny: flags.tiny === true,
    json: flags.json === true,
    help: flags.help === true,
  };
}

/** `refinery bench engine ...`: runs the benchmark and prints the table (or JSON); returns the exit code. */
export function runEngineCommand(args: string[]): number {
  const opts = parseEngineArgs(args);
  if (opts.help) {
    process.stdout.write(ENGINE_USAGE);
    return 0;
  }
  const report = runEngineBench(opts);
  process.stdout.write(opts.json ? JSON.stringify(report) + '\n' : formatTable(report) + '\n');
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = runEngineCommand(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  }
}

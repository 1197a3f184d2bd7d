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
// same warmup the PyTorch peer uses. `node dist/bench/main.js engine` (bench/main.ts) calls
// runEngineCommand; the functions below are exported for tests and other callers.
import {
  F, Tensor, functions as torch, grad, noGrad, scope, manualSeed, setNumThreads, getNumThreads,
} from '../src/tensor';
import {
  SYSTEMS, type SystemName, type TargetStatus, type Comparison, type SystemRun, findRepoRoot, median, timeIt, defaultThreads, refineryVersion,
  hostInfo, noteBusyHost, tfjsThreadsNote, spawnPeer, peerHead, makeLog, runInTurn, msOf, compareMs,
  fmtMs, fmtX, fmtStatus, describeSystem, tableLines, parseBenchFlags, convDxFlag, threadsFlag, lastFlags,
  runBenchCommand, benchMain, intFlag,
} from './common';

export { SYSTEMS, type SystemName, type TargetStatus, findRepoRoot, median };

export const WORKLOADS = ['add', 'matmul', 'conv', 'mlp'] as const;
export type Workload = (typeof WORKLOADS)[number];

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

export interface SystemResult extends SystemRun {
  results?: Record<Workload, WorkloadResult>;
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

export interface ComparisonRow extends Comparison {
  workload: Workload;
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

/** Runs one peer script as a child process and parses its JSON line; never throws for a missing peer. */
export function runPeer(which: 'pytorch' | 'tfjs', opts: EngineOptions = {}): SystemResult {
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? 15;
  const addReps = opts.addReps ?? Math.min(3, reps);
  const r = spawnPeer({
    which, bench: 'engine', root: opts.root ?? findRepoRoot(), python: opts.python,
    args: ['--threads', String(threads), '--reps', String(reps), '--add-reps', String(addReps)],
    tfjsArgs: ['--conv-dx', opts.tfjsConvDx ?? 'conv'],
    isResult: (out) => {
      const res = out.results as Record<string, WorkloadResult> | undefined;
      return !!res && WORKLOADS.every((w) => res[w] && typeof res[w].ms === 'number');
    },
  });
  if ('failure' in r) return r.failure;
  return {
    ...peerHead(which, r.out, ['peer', 'threads', 'threads_requested', 'version', 'results'], threads),
    results: r.out.results as Record<Workload, WorkloadResult>, wallS: r.wallS,
  };
}

// ---------------------------------------------------------------------------------- comparison

export function compare(systems: Record<SystemName, SystemResult>): ComparisonRow[] {
  const ms = (s: SystemName, w: Workload) => msOf(systems[s], systems[s]?.results?.[w]?.ms);
  return WORKLOADS.map((w) => ({ workload: w, ...compareMs(ms('refinery', w), ms('pytorch', w), ms('tfjs', w), TARGETS[w]) }));
}

/** Runs the selected systems one after the other (Refinery, then PyTorch, then TF.js) and compares them. */
export function runEngineBench(opts: EngineOptions = {}): EngineReport {
  const log = makeLog(opts.log);
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
  const { systems, order } = runInTurn<SystemResult>({
    bench: 'engine', selected, skipTfjs: opts.skipTfjs, pauseMs: opts.pauseMs, threads, log,
    detail: `${reps} reps, ${addReps} add reps${opts.tiny ? ', tiny sizes' : ''}`,
    run: (s) => (s === 'refinery' ? runRefinery(full) : runPeer(s, full)),
  });
  const tf = systems.tfjs;
  if (tf.available) {
    notes.push(tfjsThreadsNote(threads, tf.threads, order));
    const conv = tf.results?.conv as WorkloadResult | undefined;
    if (conv?.dx) notes.push(`TF.js conv is NHWC with a custom gradient (the wasm backend has no Conv2DBackpropFilter): dx = ${String(conv.dx)}`);
  }
  const ra = systems.refinery.results?.add;
  if (ra?.variants) {
    const v = ra.variants as Record<string, { ms: number; form: string }>;
    notes.push(`refinery add headline = the faster of: ${v.scope.form} ${v.scope.ms.toFixed(1)} ms; ` +
      `${v.dispose.form} ${v.dispose.ms.toFixed(1)} ms`);
  }
  noteBusyHost(notes);
  return {
    bench: 'engine', size: opts.tiny ? 'tiny' : 'full', threads, reps, addReps, order,
    host: hostInfo(),
    systems, comparison: compare(systems), notes,
  };
}

// ---------------------------------------------------------------------------------- output

export function formatTable(report: EngineReport): string {
  const label: Record<Workload, string> = { add: '(a) add x100k', matmul: '(b) matmul 512', conv: '(c) conv fwd+bwd', mlp: '(d) mlp step' };
  const head = ['workload', 'refinery ms', 'pytorch ms', 'tfjs ms', 'refinery/pytorch', 'speed-up vs tfjs', 'target vs pytorch', 'target vs tfjs'];
  const rows = report.comparison.map((r) => [
    label[r.workload], fmtMs(r.refineryMs), fmtMs(r.pytorchMs), fmtMs(r.tfjsMs), fmtX(r.ratioVsPytorch), fmtX(r.speedupVsTfjs),
    fmtStatus(r.targetVsPytorch, r.pytorchTarget), fmtStatus(r.targetVsTfjs, r.tfjsTarget),
  ]);
  const out: string[] = [];
  out.push(`bench engine: ${report.size === 'tiny' ? 'TINY (smoke-test) workloads, ' : ''}median ms per iteration; ` +
    `${report.reps} reps (add loop: ${report.addReps}); ${report.threads} threads requested; run order ${report.order.join(' -> ') || '(none)'}`);
  for (const s of SYSTEMS) out.push(`  ${describeSystem(s, report.systems[s])}`);
  out.push('');
  out.push(...tableLines(head, rows));
  out.push('');
  out.push('refinery/pytorch: time ratio, lower is better; speed-up vs tfjs: tfjs ms / refinery ms, higher is better.');
  for (const n of report.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------- CLI

export const ENGINE_USAGE = `usage: node dist/bench/main.js engine [options]

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
  const { flags, str, only } = parseBenchFlags('engine', args,
    ['threads', 'reps', 'add-reps', 'only', 'skip-tfjs', 'tfjs-conv-dx', 'python', 'tiny', 'json', 'help'], ENGINE_USAGE);
  const dx = convDxFlag(str);
  const reps = intFlag(flags, 'reps', 15);
  return {
    threads: threadsFlag(flags),
    reps,
    addReps: intFlag(flags, 'add-reps', Math.min(3, reps)),
    only,
    tfjsConvDx: dx,
    ...lastFlags(flags, str),
  };
}

/** `node dist/bench/main.js engine ...`: runs the benchmark and prints the table (or JSON); returns the exit code. */
export function runEngineCommand(args: string[]): number {
  return runBenchCommand(args, parseEngineArgs, ENGINE_USAGE, runEngineBench, formatTable);
}

if (require.main === module) benchMain(runEngineCommand);

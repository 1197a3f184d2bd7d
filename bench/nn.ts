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
// that the three models are the same architecture. `node dist/bench/main.js nn` (bench/main.ts) calls
// runNnCommand; the functions below are exported for tests and other callers.
import { F, Tensor, functions as torch, scope, manualSeed, setNumThreads, getNumThreads } from '../src/tensor';
import { namedTensors, numParams, params } from '../src/nn';
import { Adam } from '../src/optim';
import { FashionClassifier, DEFAULT_CLASSIFIER } from '../src/vision/classifier';
import {
  SYSTEMS, type SystemName, type Comparison, type SystemRun, findRepoRoot, median, defaultThreads, refineryVersion, num,
  hostInfo, noteBusyHost, tfjsThreadsNote, spawnPeer, peerHead, makeLog, runInTurn, msOf, compareMs,
  fmtMs, fmtX, fmtStatus, describeSystem, tableLines, parseBenchFlags, convDxFlag, threadsFlag, lastFlags,
  runBenchCommand, benchMain, checkParamCounts, intFlag, type ParamCounts, type ParamCheck as ParamCheckOf,
} from './common';

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

export interface NnSystemResult extends SystemRun {
  /** Median wall time of one training step, milliseconds. */
  ms?: number;
  minMs?: number;
  /** Timed steps. */
  iters?: number;
  params?: ParamCounts;
  /** Loss of the first (warmup) step and of the last timed step. */
  firstLoss?: number;
  finalLoss?: number;
}

export type NnComparison = Comparison;

export type ParamCheck = ParamCheckOf<SystemName>;

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

/** Runs one peer script as a child process and parses its JSON line; never throws for a missing peer. */
export function runPeer(which: 'pytorch' | 'tfjs', opts: NnOptions = {}): NnSystemResult {
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? DEFAULT_REPS;
  const warmup = opts.warmup ?? DEFAULT_WARMUP;
  const batch = opts.tiny ? BATCH.tiny : BATCH.full;
  const r = spawnPeer({
    which, bench: 'nn', root: opts.root ?? findRepoRoot(), python: opts.python,
    args: ['--threads', String(threads), '--reps', String(reps), '--warmup', String(warmup), '--batch', String(batch)],
    tfjsArgs: ['--backend', opts.tfjsBackend ?? 'wasm', '--conv-dx', opts.tfjsConvDx ?? 'conv'],
    isResult: (out) => num(out.ms) !== undefined,
  });
  if ('failure' in r) return r.failure;
  const out = r.out;
  const p = (out.params ?? {}) as Record<string, unknown>;
  const mapped = ['peer', 'threads', 'threads_requested', 'version', 'ms', 'min_ms', 'iters', 'params', 'first_loss', 'final_loss'];
  return {
    ...peerHead(which, out, mapped, threads),
    ms: num(out.ms), minMs: num(out.min_ms), iters: num(out.iters),
    params: num(p.trainable) !== undefined
      ? { trainable: num(p.trainable)!, nonTrainable: num(p.non_trainable) ?? 0, ...(num(p.count_params) !== undefined ? { countParams: num(p.count_params) } : {}) }
      : undefined,
    firstLoss: num(out.first_loss), finalLoss: num(out.final_loss), wallS: r.wallS,
  };
}

// ---------------------------------------------------------------------------------- comparison

export function compare(systems: Record<SystemName, NnSystemResult>): NnComparison {
  const ms = (s: SystemName) => msOf(systems[s], systems[s]?.ms);
  return compareMs(ms('refinery'), ms('pytorch'), ms('tfjs'), TARGET);
}

export function checkParams(systems: Record<SystemName, NnSystemResult>): ParamCheck {
  return checkParamCounts(SYSTEMS, systems, expectedParams());
}

/** Runs the selected systems one after the other (Refinery, then PyTorch, then TF.js) and compares them. */
export function runNnBench(opts: NnOptions = {}): NnReport {
  const log = makeLog(opts.log);
  const threads = opts.threads ?? defaultThreads();
  const reps = opts.reps ?? DEFAULT_REPS;
  const warmup = opts.warmup ?? DEFAULT_WARMUP;
  const root = opts.root ?? findRepoRoot();
  const batch = opts.tiny ? BATCH.tiny : BATCH.full;
  const full = { ...opts, threads, reps, warmup, root };
  const notes: string[] = [];
  const selected = new Set<SystemName>(opts.only && opts.only.length ? opts.only : SYSTEMS);
  if (opts.skipTfjs) selected.delete('tfjs');
  const { systems, order } = runInTurn<NnSystemResult>({
    bench: 'nn', selected, skipTfjs: opts.skipTfjs, pauseMs: opts.pauseMs, threads, log,
    detail: `batch ${batch}, ${warmup} warmup + ${reps} timed steps`,
    run: (s) => (s === 'refinery' ? runRefinery(full) : runPeer(s, full)),
  });
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
      notes.push(tfjsThreadsNote(threads, tf.threads, order));
    }
    if (tf.conv_dw) notes.push(`TF.js conv weight gradient: ${String(tf.conv_dw)}; tfjs-layers cannot train a conv on stock wasm`);
    if (tf.conv_dx) notes.push(`TF.js conv input gradient: ${String(tf.conv_dx)}`);
    const v = tf.variants as Record<string, { ms: number; form: string }> | undefined;
    if (v) {
      notes.push(`TF.js headline = the faster of: ${Object.entries(v).map(([k, r]) => `${k} ${r.ms.toFixed(1)} ms`).join('; ')}`);
    }
  }
  noteBusyHost(notes);
  return {
    bench: 'nn', size: opts.tiny ? 'tiny' : 'full', batch, threads, reps, warmup, order,
    model: MODEL_DESC, step: STEP_DESC,
    host: hostInfo(),
    systems, params, comparison: compare(systems), notes,
  };
}

// ---------------------------------------------------------------------------------- output

const fmtN = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : String(v));
const fmtLoss = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3));

export function formatTable(report: NnReport): string {
  const out: string[] = [];
  out.push(`bench nn: one training step of the Fashion-MNIST convnet, batch ${report.batch}` +
    `${report.size === 'tiny' ? ' (TINY smoke-test size)' : ''}; median ms per step over ${report.reps} steps after ${report.warmup} warmup; ` +
    `${report.threads} threads requested; run order ${report.order.join(' -> ') || '(none)'}`);
  out.push(`  model: ${report.model}`);
  out.push(`  step:  ${report.step}`);
  for (const s of SYSTEMS) out.push(`  ${describeSystem(s, report.systems[s])}`);
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
  out.push(...tableLines(head, rows));
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

export const NN_USAGE = `usage: node dist/bench/main.js nn [options]

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
  const { flags, str, only } = parseBenchFlags('nn', args,
    ['threads', 'reps', 'warmup', 'only', 'skip-tfjs', 'tfjs-backend', 'tfjs-conv-dx', 'python', 'tiny', 'json', 'help'], NN_USAGE);
  const be = str('tfjs-backend');
  if (be !== undefined && be !== 'wasm' && be !== 'cpu') throw new Error(`--tfjs-backend: expected wasm or cpu, got "${be}"`);
  const dx = convDxFlag(str);
  let warmup = DEFAULT_WARMUP;
  const w = str('warmup');
  if (w !== undefined) {
    warmup = Number(w);
    if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`--warmup: expected a non-negative integer, got ${w}`);
  }
  return {
    threads: threadsFlag(flags),
    reps: intFlag(flags, 'reps', DEFAULT_REPS),
    warmup,
    only,
    tfjsBackend: be as 'wasm' | 'cpu' | undefined,
    tfjsConvDx: dx,
    ...lastFlags(flags, str),
  };
}

/** `node dist/bench/main.js nn ...`: runs the benchmark and prints the table (or JSON); returns the exit code. */
export function runNnCommand(args: string[]): number {
  return runBenchCommand(args, parseNnArgs, NN_USAGE, runNnBench, formatTable);
}

if (require.main === module) benchMain(runNnCommand);

// The diffusion benchmark: ONE TRAINING STEP and ONE SAMPLING STEP of the class-conditional U-Net
// (src/diffusion/unet.ts) under EDM preconditioning, through Refinery in-process, then through
// the same U-Net written in torch.nn (bench/peers/torch_unet.py) as a child process, one after
// the other, never in parallel. There is no TF.js peer.
//
//   model    : UNet { inChannels 1, outChannels 1, channels 32, channelMult [1, 2, 2],
//              numResBlocks 1 (--num-res-blocks), imageSize 28 (attention at 7×7, 4 heads),
//              numClasses 10, Fourier noise embedding } wrapped by edmPrecondition (σ_data 0.5)
//   training : train mode; zero grads, diffusionLoss (log-normal σ, EDM weighting) on a fixed
//              batch of 64 images [64,1,28,28] uniform in [-1, 1] with random labels, backward,
//              Adam (lr 1e-3) update
//   sampling : eval mode, no grad: one D(x, σ) on 128 images at σ = 1 with random labels (the
//              network evaluation of one Euler step; no classifier-free-guidance doubling)
//
// Each figure is the median wall time of one step over the timed repetitions, after the same
// warmup steps in both systems (the median CPU time of a step is reported beside it, as a check
// on a busy host). The parameter counts both systems report are compared with each
// other and with the count computed from the architecture, and the run fails (exit code 1) when
// they differ. `node dist/bench/main.js diffusion` (bench/main.ts) calls runDiffusionCommand.
import { Generator, Tensor, functions as torch, scope, noGrad, setNumThreads, getNumThreads } from '../src/tensor';
import { namedTensors, numParams, params } from '../src/nn';
import { Adam } from '../src/optim';
import { UNet, type UNetConfig } from '../src/diffusion/unet';
import { edmPrecondition } from '../src/diffusion/precondition';
import { diffusionLoss } from '../src/diffusion/objectives';
import {
  type SystemRun, type PeerSpawn, type TargetStatus, findRepoRoot, median, defaultThreads, refineryVersion, num, hostInfo,
  noteBusyHost, spawnPeer, peerHead, makeLog, runInTurn, msOf, compareMs, fmtMs, fmtX, fmtStatus, describeSystem,
  tableLines, parseBenchFlags, threadsFlag, lastFlags, benchMain, runBenchCommand, checkParamCounts,
  intFlag, type ParamCounts, type ParamCheck as ParamCheckOf,
} from './common';

/** The systems of this suite (no TF.js peer). */
export const DIFFUSION_SYSTEMS = ['refinery', 'pytorch'] as const;
export type DiffusionSystem = (typeof DIFFUSION_SYSTEMS)[number];
export const WORKLOADS = ['train', 'sample'] as const;
export type Workload = (typeof WORKLOADS)[number];

/** Batches of the spec, and of the smoke-test size. */
export const BATCH = { full: { train: 64, sample: 128 }, tiny: { train: 2, sample: 2 } } as const;
export const DEFAULT_WARMUP = 2;
export const DEFAULT_REPS = 5;
export const DEFAULT_SIGMA = 1;
export const DEFAULT_RES_BLOCKS = 1;
export const LR = 1e-3;

export const TARGET = {
  /** Max allowed refinery/pytorch time ratio, for each workload. */
  maxRatioVsPytorch: 1.1,
};

/** The U-Net of the benchmark, given the residual blocks per level. */
export function benchConfig(numResBlocks = DEFAULT_RES_BLOCKS): UNetConfig {
  return { inChannels: 1, outChannels: 1, channels: 32, channelMult: [1, 2, 2], numResBlocks, imageSize: 28, numClasses: 10 };
}


export interface WorkloadTiming {
  /** Median wall time of one step, milliseconds. */
  ms: number;
  minMs: number;
  /**
   * Median CPU time of one step (ms): the process's user + system time, every thread (a busy host
   * stretches wall time, much less CPU time).
   */
  cpuMs?: number;
  /** Timed steps. */
  iters: number;
  batch: number;
  /** Training only: loss of the first (warmup) step and of the last timed step. */
  firstLoss?: number;
  finalLoss?: number;
}

export interface DiffusionSystemResult extends SystemRun {
  train?: WorkloadTiming;
  sample?: WorkloadTiming;
  params?: ParamCounts;
}

export type ParamCheck = ParamCheckOf<DiffusionSystem>;

export interface WorkloadComparison {
  refineryMs: number | null;
  pytorchMs: number | null;
  /** refinery ms / pytorch ms (lower is better). */
  ratioVsPytorch: number | null;
  /** The same ratio of the median CPU times (not the target's measure; a check on a busy host). */
  cpuRatioVsPytorch: number | null;
  target: string;
  status: TargetStatus;
}

export interface DiffusionReport {
  bench: 'diffusion';
  size: 'full' | 'tiny';
  config: UNetConfig;
  batch: number;
  sampleBatch: number;
  sigma: number;
  threads: number;
  reps: number;
  warmup: number;
  order: DiffusionSystem[];
  model: string;
  trainStep: string;
  sampleStep: string;
  host: ReturnType<typeof hostInfo>;
  systems: Record<DiffusionSystem, DiffusionSystemResult>;
  params: ParamCheck;
  comparison: Record<Workload, WorkloadComparison>;
  notes: string[];
}

export interface DiffusionOptions {
  /** Intra-op threads for both systems (default: all cores). */
  threads?: number;
  /** Timed steps of each workload (default 5). */
  reps?: number;
  /** Untimed steps of each workload first (default 2). */
  warmup?: number;
  /** Systems to run (default both). */
  only?: DiffusionSystem[];
  /** Residual blocks per level (default 1). */
  numResBlocks?: number;
  /** Training batch (default 64). */
  batch?: number;
  /** Sampling batch (default 128). */
  sampleBatch?: number;
  /** Noise level of the sampling step (default 1). */
  sigma?: number;
  /** Batches of 2 (smoke tests; not comparable with the spec). */
  tiny?: boolean;
  /** Python interpreter with torch for the PyTorch peer (default /usr/bin/python3). */
  python?: string;
  /** Repository root holding bench/peers (default: found by walking up from this file). */
  root?: string;
  /** Pause between systems so the previous one's worker threads go idle (ms, default 500). */
  pauseMs?: number;
  /** Progress lines (default: stderr); pass null for silence. */
  log?: ((line: string) => void) | null;
}

type Resolved = Required<Pick<DiffusionOptions, 'threads' | 'reps' | 'warmup' | 'numResBlocks' | 'batch' | 'sampleBatch' | 'sigma' | 'root'>>;

function resolve(o: DiffusionOptions): Resolved {
  const size = o.tiny ? BATCH.tiny : BATCH.full;
  return {
    threads: o.threads ?? defaultThreads(), reps: o.reps ?? DEFAULT_REPS, warmup: o.warmup ?? DEFAULT_WARMUP,
    numResBlocks: o.numResBlocks ?? DEFAULT_RES_BLOCKS, batch: o.batch ?? size.train, sampleBatch: o.sampleBatch ?? size.sample,
    sigma: o.sigma ?? DEFAULT_SIGMA, root: o.root ?? findRepoRoot(),
  };
}

export function modelDesc(cfg: UNetConfig): string {
  return `UNet(in ${cfg.inChannels}, out ${cfg.outChannels}, channels ${cfg.channels}, mult [${cfg.channelMult!.join(', ')}], ` +
    `${cfg.numResBlocks} res block${cfg.numResBlocks === 1 ? '' : 's'}/level, ${cfg.imageSize}×${cfg.imageSize}, attention at 7×7 (4 heads), ` +
    `${cfg.numClasses} classes + null, Fourier noise embedding, AdaGN) · edmPrecondition(σ_data 0.5)`;
}
export const TRAIN_DESC = 'train mode: zero grads, diffusionLoss (ln σ ~ N(-1.2, 1.2²), EDM weighting), backward, Adam(lr 1e-3) step';
export const SAMPLE_DESC = 'eval mode, no grad: one preconditioned D(x, σ) at a fixed σ with labels';

/**
 * Parameter counts of the architecture, from its shapes, walked independently of UNet's
 * constructor: GroupNorm has weight and bias (none in AdaGN's), convs and linears have biases,
 * attention has four c×c projections, the class embedding has numClasses + 1 rows, and the
 * Fourier frequencies (channels/2) are fixed.
 */
export function expectedParams(cfg: UNetConfig = benchConfig()): ParamCounts {
  const C = cfg.channels, E = 4 * C, mult = cfg.channelMult ?? [1, 2, 2], nb = cfg.numResBlocks ?? 2;
  const imageSize = cfg.imageSize ?? 32;
  const attnAt = cfg.attentionResolutions ?? [Math.ceil(imageSize / 4)];
  const conv = (i: number, o: number, k: number) => i * o * k * k + o;
  const lin = (i: number, o: number) => i * o + o;
  const res = (i: number, o: number) => 2 * i + conv(i, o, 3) + lin(E, 2 * o) + conv(o, o, 3) + (i === o ? 0 : conv(i, o, 1));
  const attn = (c: number) => 2 * c + 4 * lin(c, c);
  let n = lin(C, E) + lin(E, E) + (cfg.numClasses ? (cfg.numClasses + 1) * E : 0) + conv(cfg.inChannels, C, 3);
  const skips = [C];
  let ch = C, r = imageSize;
  const resAt: number[] = [];
  mult.forEach((m, i) => {
    resAt.push(r);
    for (let j = 0; j < nb; j++) {
      n += res(ch, C * m) + (attnAt.includes(r) ? attn(C * m) : 0);
      ch = C * m;
      skips.push(ch);
    }
    if (i < mult.length - 1) {
      n += conv(ch, ch, 3);
      skips.push(ch);
      r = Math.ceil(r / 2);
    }
  });
  n += 2 * res(ch, ch) + attn(ch);
  for (let i = mult.length - 1; i >= 0; i--) {
    for (let j = 0; j <= nb; j++) {
      n += res(ch + skips.pop()!, C * mult[i]) + (attnAt.includes(resAt[i]) ? attn(C * mult[i]) : 0);
      ch = C * mult[i];
    }
    if (i > 0) n += conv(ch, ch, 3);
  }
  n += 2 * ch + conv(ch, cfg.outChannels, 3);
  return { trainable: n, nonTrainable: C / 2 };
}

// ---------------------------------------------------------------------------------- Refinery side

/**
 * Both workloads, timed, through Refinery in this process, as a user writes them:
 *   train:  scope(() => { opt.zeroGrad(); const l = diffusionLoss(D, x0, { generator, extra: { labels } }); l.backward(); opt.step(); })
 *   sample: scope(() => noGrad(() => D(x, torch.full([B], σ), { labels })))
 * with D = edmPrecondition(new UNet(cfg)) and opt = new Adam(unet, { lr: 1e-3 }).
 */
export function runRefinery(opts: DiffusionOptions = {}): DiffusionSystemResult {
  const o = resolve(opts);
  const prevThreads = getNumThreads();
  const t0 = performance.now();
  setNumThreads(o.threads);
  try {
    return refinerySteps(o, t0);
  } finally {
    setNumThreads(prevThreads);
  }
}

function timeSteps(step: () => Tensor | void, warmup: number, reps: number, lossOf?: (t: Tensor) => number) {
  let firstLoss = NaN, finalLoss = NaN;
  const done = (r: Tensor | void, keep: 'first' | 'final' | null) => {
    if (!(r instanceof Tensor)) return;
    if (keep && lossOf) {
      const v = lossOf(r);
      if (keep === 'first') firstLoss = v;
      else finalLoss = v;
    }
    if (!r.isDisposed) r.dispose();
  };
  for (let i = 0; i < warmup; i++) done(step(), i === 0 ? 'first' : null);
  const times: number[] = [], cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c = process.cpuUsage();
    const s = performance.now();
    const r = step();
    times.push(performance.now() - s);
    const dc = process.cpuUsage(c);
    cpu.push((dc.user + dc.system) / 1000);
    if (warmup === 0 && i === 0 && r instanceof Tensor && lossOf) firstLoss = lossOf(r);
    done(r, i === reps - 1 ? 'final' : null);
  }
  return { ms: median(times), minMs: Math.min(...times), cpuMs: median(cpu), iters: reps, firstLoss, finalLoss };
}

function refinerySteps(o: Resolved, t0: number): DiffusionSystemResult {
  const init = new Generator(0);
  const gen = new Generator(1);
  const cfg = { ...benchConfig(o.numResBlocks), generator: init };
  const net = new UNet(cfg);
  const D = edmPrecondition(net);
  const opt = new Adam(net, { lr: LR });
  const [x0, y, xs, ys] = scope(() => [
    torch.rand([o.batch, 1, 28, 28], { generator: gen }).mul(2).sub(1).keep(),
    torch.randint(0, 10, [o.batch], { dtype: 'int64', generator: gen }).keep(),
    torch.randn([o.sampleBatch, 1, 28, 28], { generator: gen }).mul(o.sigma).keep(),
    torch.randint(0, 10, [o.sampleBatch], { dtype: 'int64', generator: gen }).keep(),
  ]);
  const trainStep = (): Tensor => scope(() => {
    opt.zeroGrad();
    const loss = diffusionLoss(D, x0, { generator: gen, extra: { labels: y } });
    loss.backward();
    opt.step();
    return loss;
  });
  const sampleStep = (): void => scope(() => {
    noGrad(() => D(xs, torch.full([o.sampleBatch], o.sigma), { labels: ys }));
  });
  try {
    net.train();
    const tr = timeSteps(trainStep, o.warmup, o.reps, (t) => t.item());
    net.eval();
    const sa = timeSteps(sampleStep, o.warmup, o.reps);
    const learnable = new Set<Tensor>(params(net));
    const nonTrainable = namedTensors(net)
      .filter(([, t]) => !learnable.has(t) && (t.dtype === 'float32' || t.dtype === 'float64'))
      .reduce((n, [, t]) => n + t.numel(), 0);
    return {
      system: 'refinery', available: true, peer: 'refinery', version: refineryVersion(o.root),
      threads: getNumThreads(), threadsRequested: o.threads, warmup: o.warmup,
      train: { ms: tr.ms, minMs: tr.minMs, cpuMs: tr.cpuMs, iters: tr.iters, batch: o.batch, firstLoss: tr.firstLoss, finalLoss: tr.finalLoss },
      sample: { ms: sa.ms, minMs: sa.minMs, cpuMs: sa.cpuMs, iters: sa.iters, batch: o.sampleBatch },
      params: { trainable: numParams(net), nonTrainable },
      layout: 'NCHW',
      wallS: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const t of [x0, y, xs, ys]) t.dispose();
    for (const [, t] of namedTensors(net)) t.dispose();
    opt.dispose();
    init.dispose();
    gen.dispose();
  }
}

// ---------------------------------------------------------------------------------- peer

function timingOf(v: unknown): WorkloadTiming | undefined {
  const t = (v ?? {}) as Record<string, unknown>;
  const ms = num(t.ms);
  if (ms === undefined) return undefined;
  return {
    ms, minMs: num(t.min_ms) ?? ms, ...(num(t.cpu_ms) !== undefined ? { cpuMs: num(t.cpu_ms) } : {}), iters: num(t.iters) ?? 0, batch: num(t.batch) ?? 0,
    ...(num(t.first_loss) !== undefined ? { firstLoss: num(t.first_loss) } : {}),
    ...(num(t.final_loss) !== undefined ? { finalLoss: num(t.final_loss) } : {}),
  };
}

/** Runs bench/peers/torch_unet.py and parses its JSON line; never throws for a missing peer. */
export function runPytorch(opts: DiffusionOptions = {}): DiffusionSystemResult {
  const o = resolve(opts);
  const r = spawnPeer({
    which: 'pytorch',
    // the peer script is bench/peers/torch_<bench>.py; common.ts types `bench` as its two suites
    bench: 'unet',
    root: o.root, python: opts.python,
    args: ['--threads', String(o.threads), '--reps', String(o.reps), '--warmup', String(o.warmup),
      '--batch', String(o.batch), '--sample-batch', String(o.sampleBatch), '--sigma', String(o.sigma),
      '--num-res-blocks', String(o.numResBlocks)],
    tfjsArgs: [],
    isResult: (out) => timingOf(out.train) !== undefined && timingOf(out.sample) !== undefined,
  });
  if ('failure' in r) return r.failure;
  const out = r.out;
  const p = (out.params ?? {}) as Record<string, unknown>;
  return {
    ...peerHead('pytorch', out, ['peer', 'threads', 'threads_requested', 'version', 'train', 'sample', 'params', 'wall_s'], o.threads),
    train: timingOf(out.train), sample: timingOf(out.sample),
    params: num(p.trainable) !== undefined ? { trainable: num(p.trainable)!, nonTrainable: num(p.non_trainable) ?? 0 } : undefined,
    wallS: r.wallS,
  };
}

// ---------------------------------------------------------------------------------- comparison

export function compare(systems: Record<DiffusionSystem, DiffusionSystemResult>): Record<Workload, WorkloadComparison> {
  const one = (w: Workload): WorkloadComparison => {
    const c = compareMs(msOf(systems.refinery, systems.refinery?.[w]?.ms), msOf(systems.pytorch, systems.pytorch?.[w]?.ms), null,
      { maxRatioVsPytorch: TARGET.maxRatioVsPytorch, minSpeedupVsTfjs: null });
    const rc = msOf(systems.refinery, systems.refinery?.[w]?.cpuMs), pc = msOf(systems.pytorch, systems.pytorch?.[w]?.cpuMs);
    return {
      refineryMs: c.refineryMs, pytorchMs: c.pytorchMs, ratioVsPytorch: c.ratioVsPytorch,
      cpuRatioVsPytorch: rc !== null && pc !== null && pc > 0 ? rc / pc : null,
      target: c.targetVsPytorch, status: c.pytorchTarget,
    };
  };
  return { train: one('train'), sample: one('sample') };
}

export function checkParams(systems: Record<DiffusionSystem, DiffusionSystemResult>, cfg: UNetConfig = benchConfig()): ParamCheck {
  return checkParamCounts(DIFFUSION_SYSTEMS, systems, expectedParams(cfg));
}

/** Runs the selected systems one after the other (Refinery, then PyTorch) and compares them. */
export function runDiffusionBench(opts: DiffusionOptions = {}): DiffusionReport {
  const log = makeLog(opts.log);
  const o = resolve(opts);
  const full = { ...opts, ...o };
  const cfg = benchConfig(o.numResBlocks);
  const notes: string[] = [];
  const selected = new Set<DiffusionSystem>(opts.only && opts.only.length ? opts.only : DIFFUSION_SYSTEMS);
  const { systems: all, order } = runInTurn<DiffusionSystemResult>({
    bench: 'diffusion', selected: selected as Set<DiffusionSystem | 'tfjs'>, pauseMs: opts.pauseMs, threads: o.threads, log,
    detail: `train batch ${o.batch}, sample batch ${o.sampleBatch}, ${o.warmup} warmup + ${o.reps} timed steps each`,
    run: (s) => (s === 'refinery' ? runRefinery(full) : runPytorch(full)),
  });
  const systems = { refinery: all.refinery, pytorch: all.pytorch };
  if (opts.tiny) notes.push(`tiny: batches ${o.batch}/${o.sampleBatch} instead of ${BATCH.full.train}/${BATCH.full.sample} (smoke test; not the spec, not comparable)`);
  else if (o.batch !== BATCH.full.train || o.sampleBatch !== BATCH.full.sample) {
    notes.push(`batches ${o.batch}/${o.sampleBatch} instead of the spec's ${BATCH.full.train}/${BATCH.full.sample}`);
  }
  const params = checkParams(systems, cfg);
  if (params.match === false) {
    notes.push(`PARAMETER COUNTS DIFFER from the expected ${params.expected.trainable} trainable + ${params.expected.nonTrainable} ` +
      `fixed Fourier frequencies: the two models are not the same architecture`);
  }
  noteBusyHost(notes);
  return {
    bench: 'diffusion', size: opts.tiny ? 'tiny' : 'full', config: cfg, batch: o.batch, sampleBatch: o.sampleBatch, sigma: o.sigma,
    threads: o.threads, reps: o.reps, warmup: o.warmup, order: order as DiffusionSystem[],
    model: modelDesc(cfg), trainStep: TRAIN_DESC, sampleStep: SAMPLE_DESC,
    host: hostInfo(), systems, params, comparison: compare(systems), notes,
  };
}

// ---------------------------------------------------------------------------------- output

const fmtN = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : String(v));
const fmtLoss = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3));

export function formatTable(report: DiffusionReport): string {
  const out: string[] = [];
  out.push(`bench diffusion: one training step (batch ${report.batch}) and one sampling step (batch ${report.sampleBatch}, ` +
    `σ = ${report.sigma}) of the same U-Net${report.size === 'tiny' ? ' (TINY smoke-test size)' : ''}; median ms per step over ` +
    `${report.reps} steps after ${report.warmup} warmup; ${report.threads} threads requested; run order ${report.order.join(' -> ') || '(none)'}`);
  out.push(`  model:  ${report.model}`);
  out.push(`  train:  ${report.trainStep}`);
  out.push(`  sample: ${report.sampleStep}`);
  for (const s of DIFFUSION_SYSTEMS) out.push(`  ${describeSystem(s, report.systems[s])}`);
  out.push('');
  const head = ['workload', 'system', 'ms/step', 'min ms', 'vs pytorch', 'target', 'cpu ms', 'cpu vs pytorch', 'loss first->last'];
  const rows: string[][] = [];
  for (const w of WORKLOADS) {
    const c = report.comparison[w];
    for (const s of DIFFUSION_SYSTEMS) {
      const r = report.systems[s];
      const t = r.available ? r[w] : undefined;
      rows.push([
        s === 'refinery' ? (w === 'train' ? `train (B=${report.batch})` : `sample (B=${report.sampleBatch})`) : '',
        s, fmtMs(t?.ms), fmtMs(t?.minMs),
        s === 'refinery' ? fmtX(c.ratioVsPytorch) : t ? '1.00x' : '-',
        s === 'refinery' ? fmtStatus(c.target, c.status) : '',
        fmtMs(t?.cpuMs), s === 'refinery' ? fmtX(c.cpuRatioVsPytorch) : t?.cpuMs !== undefined ? '1.00x' : '-',
        w === 'train' && t ? `${fmtLoss(t.firstLoss)} -> ${fmtLoss(t.finalLoss)}` : '',
      ]);
    }
  }
  out.push(...tableLines(head, rows));
  out.push('');
  const p = report.params;
  out.push(`parameters: ${p.match === null ? 'no system ran' : p.match ? 'MATCH' : 'MISMATCH'} ` +
    `(refinery ${fmtN(p.trainable.refinery)}, pytorch ${fmtN(p.trainable.pytorch)}, expected ${p.expected.trainable} trainable; ` +
    `fixed Fourier frequencies: refinery ${fmtN(p.nonTrainable.refinery)}, pytorch ${fmtN(p.nonTrainable.pytorch)}, expected ${p.expected.nonTrainable})`);
  out.push('vs pytorch: refinery ms / pytorch ms (wall time, the target\'s measure), lower is better; cpu ms: median process CPU ' +
    'time (user + system, all threads) of one step, and its ratio: a check when the host is busy.');
  for (const n of report.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------- CLI

export const DIFFUSION_USAGE = `usage: node dist/bench/main.js diffusion [options]

One training step (zero grads, EDM denoising loss, backward, Adam update; batch ${BATCH.full.train}) and
one sampling step (one preconditioned denoiser evaluation under no-grad; batch ${BATCH.full.sample})
of the class-conditional U-Net on 1×28×28 images, through Refinery and PyTorch
(bench/peers/torch_unet.py, the same U-Net in torch.nn). Exits 1 if the parameter counts differ.

  --threads N            intra-op threads for both systems (default: all cores, here ${defaultThreads()})
  --reps R               timed steps of each workload (default ${DEFAULT_REPS})
  --warmup W             untimed steps of each workload first (default ${DEFAULT_WARMUP}; 0 allowed)
  --only S[,S...]        run only these systems: refinery, pytorch
  --num-res-blocks K     residual blocks per level (default ${DEFAULT_RES_BLOCKS})
  --batch B              training batch (default ${BATCH.full.train})
  --sample-batch B       sampling batch (default ${BATCH.full.sample})
  --sigma S              noise level of the sampling step (default ${DEFAULT_SIGMA})
  --python PATH          interpreter for the PyTorch peer (default /usr/bin/python3)
  --tiny                 batches of ${BATCH.tiny.train} (smoke test; not comparable)
  --json                 print one JSON object instead of the table
`;

/** Parses `bench diffusion` options (everything after "diffusion"). */
export function parseDiffusionArgs(args: string[]): DiffusionOptions & { json: boolean; help: boolean } {
  const { flags, str, only } = parseBenchFlags('diffusion', args,
    ['threads', 'reps', 'warmup', 'only', 'num-res-blocks', 'batch', 'sample-batch', 'sigma', 'python', 'tiny', 'json', 'help'], DIFFUSION_USAGE);
  if (only?.includes('tfjs' as never)) throw new Error('--only: bench diffusion has no TF.js peer; expected refinery and/or pytorch');
  let warmup = DEFAULT_WARMUP;
  const w = str('warmup');
  if (w !== undefined) {
    warmup = Number(w);
    if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`--warmup: expected a non-negative integer, got ${w}`);
  }
  let sigma = DEFAULT_SIGMA;
  const sg = str('sigma');
  if (sg !== undefined) {
    sigma = Number(sg);
    if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`--sigma: expected a positive number, got ${sg}`);
  }
  const last = lastFlags(flags, str);
  const size = last.tiny ? BATCH.tiny : BATCH.full;
  return {
    threads: threadsFlag(flags),
    reps: intFlag(flags, 'reps', DEFAULT_REPS),
    warmup,
    only: only as DiffusionSystem[] | undefined,
    numResBlocks: intFlag(flags, 'num-res-blocks', DEFAULT_RES_BLOCKS),
    batch: intFlag(flags, 'batch', size.train),
    sampleBatch: intFlag(flags, 'sample-batch', size.sample),
    sigma,
    python: last.python, tiny: last.tiny, json: last.json, help: last.help,
  };
}

/**
 * `node dist/bench/main.js diffusion ...`: runs the benchmark and prints the table (or JSON); returns the
 * exit code, 1 when the two systems' parameter counts do not match the architecture's.
 */
export function runDiffusionCommand(args: string[]): number {
  return runBenchCommand(args, parseDiffusionArgs, DIFFUSION_USAGE, runDiffusionBench, formatTable, (report) => {
    if (report.params.match !== false) return 0;
    process.stderr.write(`bench diffusion: PARAMETER COUNTS DIFFER (refinery ${report.params.trainable.refinery}, ` +
      `pytorch ${report.params.trainable.pytorch}, expected ${report.params.expected.trainable}): not the same U-Net\n`);
    return 1;
  });
}

if (require.main === module) benchMain(runDiffusionCommand);

// The conv benchmark (issue 10, "The fastest convolutions in Theano with meta-optimization"):
//   1. the post's per-operation table: for every convolution of the diffusion U-Net, of the
//      reference classifier (NCHW and channels-last) and of the post's three layer configurations
//      (scaled to CPU sizes), each candidate's time for the forward pass, the input gradient and the
//      weight gradient, the winner and its speed-up over libtorch's default; and the classifier's
//      poolings (the second family), forward + input gradient;
//   2. whole training steps of the U-Net and of the classifier: Refinery autotuned (the step
//      planner's choice of layout and threads, with and without the per-operation meta-optimizer),
//      Refinery's and Python PyTorch's defaults and every hand-picked setting of both (channels-last
//      on/off x N or 1 threads), interleaved step by step in one run (Refinery in process, PyTorch in
//      one child process driven line by line: bench/peers/torch_conv.py), each reported as the
//      median step time and its quartiles; --competitor runs it with one busy process alongside.
import { spawn, ChildProcessWithoutNullStreams } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { Generator, Tensor, F, functions as torch, scope, setNumThreads, getNumThreads, torchVersion } from '../src/tensor';
import { Adam } from '../src/optim';
import { UNet } from '../src/diffusion/unet';
import { edmPrecondition } from '../src/diffusion/precondition';
import { diffusionLoss } from '../src/diffusion/objectives';
import { FashionClassifier } from '../src/vision/classifier';
import { Module, namedTensors } from '../src/nn';
import { StepLayout, StepPlanner, stepConfigLabel } from '../src/conv/plan';
import { busyProcess } from './conv_load';
import {
  ConvArgs, ConvDecision, ConvMetaOptimizer, ConvProblem, atenConv, convProblem, describeProblem, disableConvMetaOptimizer,
  enableConvMetaOptimizer, setConvImplementation, BUILTIN_CANDIDATES, CONV_OPS,
} from '../src/conv';
import { POOL_CANDIDATES, PoolProblem, atenPool, describePool, poolProblem, setPoolImplementation } from '../src/conv/pool';
import { cpuModel } from '../src/conv/cache';
import { threadingDefaultsSet } from '../src/tensor/native';
import { benchConfig } from './diffusion';
import { findRepoRoot, hostInfo, intFlag, median, noteBusyHost, parseBenchFlags } from './common';

export const CONV_USAGE = `usage: node dist/bench/main.js conv [options]

  --part P       ops (the per-operation table), steps (whole training steps), all (both; default), or
                 load (threads under load: the classifier step per thread count and waiting policy,
                 each in a fresh process, without and with one competing busy process)
  --load-model M the model of --part load: classifier (default) or unet
  --threads N    the default thread count of the step comparison (default: Refinery's, all cores): both
                 systems' defaults run at N, and the hand-picked settings and the planner try N and 1
  --op-threads N intra-op threads of the per-op table (default 1: fairer on a shared machine)
  --competitor   one busy process of ours runs through the step comparison, planning included (threads
                 under load: both systems face it)
  --rounds R     interleaved rounds of the step comparison (default 7); each config runs one step per round
  --unet-batch B, --classifier-batch B   training batches (default 64 and 128, as bench diffusion and nn)
  --python P     the Python with torch (default /usr/bin/python3)
  --json         one JSON object instead of tables
`;

interface OpRow {
  model: string;
  problem: string;
  op: string;
  times: Record<string, number>;
  skipped: Record<string, string>;
  winner: string;
  speedup: number;
}

/** The post's three configurations, scaled down to CPU sizes (batch and filters). */
export const POST_CONFIGS: { name: string; x: number[]; w: number[] }[] = [
  { name: 'post i3x64x64,k128x7x7,b64 (CPU: b8, k64)', x: [8, 3, 64, 64], w: [64, 3, 7, 7] },
  { name: 'post i32x15x80,k64x5x5,b256 (CPU: b32)', x: [32, 32, 15, 80], w: [64, 32, 5, 5] },
  { name: 'post i128x36x12,k64x6x3,b256 (CPU: b16)', x: [16, 128, 36, 12], w: [64, 128, 6, 3] },
];

/** The distinct convolutions (problem, args) and poolings one training step of `step` computes. */
function recordOps(step: () => void): { convs: { p: ConvProblem; args: ConvArgs }[]; pools: PoolProblem[] } {
  const seen = new Map<string, { p: ConvProblem; args: ConvArgs }>();
  const pools = new Map<string, PoolProblem>();
  const prev = setConvImplementation((x, w, b, a) => {
    const p = convProblem(x, w, a);
    if (p) seen.set(describeProblem(p), { p, args: a });
    return atenConv(x, w, b, a);
  });
  const prevPool = setPoolImplementation((x, a) => {
    const p = poolProblem(x, a);
    if (p) pools.set(describePool(p), p);
    return atenPool(x, a);
  });
  try {
    step();
  } finally {
    setConvImplementation(prev);
    setPoolImplementation(prevPool);
  }
  return { convs: [...seen.values()], pools: [...pools.values()] };
}

interface StepSetup { step: () => void; dispose: () => void; model: Module }

export function unetSetup(batch: number): StepSetup {
  const init = new Generator(0);
  const gen = new Generator(1);
  const net = new UNet({ ...benchConfig(1), generator: init });
  const D = edmPrecondition(net);
  const opt = new Adam(net, { lr: 1e-3 });
  const [x0, y] = scope(() => [
    torch.rand([batch, 1, 28, 28], { generator: gen }).mul(2).sub(1).keep(),
    torch.randint(0, 10, [batch], { dtype: 'int64', generator: gen }).keep(),
  ]);
  net.train();
  return {
    model: net,
    step: () => scope(() => {
      opt.zeroGrad();
      diffusionLoss(D, x0, { generator: gen, extra: { labels: y } }).backward();
      opt.step();
    }),
    dispose: () => {
      for (const t of [x0, y]) t.dispose();
      for (const [, t] of namedTensors(net)) t.dispose();
      opt.dispose();
    },
  };
}

export function classifierSetup(batch: number): StepSetup {
  const gen = new Generator(2);
  const model = new FashionClassifier();
  const opt = new Adam(model, { lr: 1e-3 });
  const [x, y] = scope(() => [
    torch.rand([batch, 1, 28, 28], { generator: gen }).keep(),
    torch.randint(0, 10, [batch], { dtype: 'int64', generator: gen }).keep(),
  ]);
  model.train();
  return {
    model,
    step: () => scope(() => {
      opt.zeroGrad();
      F.crossEntropy(model(x), y).backward();
      opt.step();
    }),
    dispose: () => {
      for (const t of [x, y]) t.dispose();
      for (const [, t] of namedTensors(model)) t.dispose();
      opt.dispose();
    },
  };
}

/** Tunes the three operations of one problem on random tensors of its shapes (in its layout); one row per operation. */
function tuneProblem(model: string, p: ConvProblem, log: (s: string) => void): OpRow[] {
  const m = new ConvMetaOptimizer({ cache: null, verbose: log });
  return scope(() => {
    const lay = (t: Tensor) => (p.layout === 'channelsLast' ? t.contiguous({ memoryFormat: 'channelsLast' }) : t);
    const x = lay(torch.randn(p.inputShape));
    const w = lay(torch.randn(p.weightShape));
    const gy = lay(torch.randn(p.outputShape));
    const rows: OpRow[] = [];
    for (const op of CONV_OPS) {
      m.choose(op, p, { x, w, gy });
      const d = m.decisions[m.decisions.length - 1];
      rows.push({ model, problem: describeProblem(p), op, times: d.times, skipped: d.skipped, winner: d.winner, speedup: d.speedup });
    }
    return rows;
  });
}

/** Tunes one pooling (forward + input gradient) on a random input of its shape and layout, after a ReLU as in the networks. */
function tunePooling(model: string, p: PoolProblem, log: (s: string) => void): OpRow {
  const m = new ConvMetaOptimizer({ cache: null, verbose: log });
  return scope(() => {
    let x = torch.randn(p.inputShape).relu();
    if (p.layout === 'channelsLast') x = x.contiguous({ memoryFormat: 'channelsLast' });
    const d = m.tunePool(p, x);
    return { model, problem: describePool(p), op: 'forward + input grad', times: d.times, skipped: d.skipped, winner: d.winner, speedup: d.speedup };
  });
}

function perOpTable(o: Options, log: (s: string) => void): { ops: OpRow[]; pools: OpRow[] } {
  const rows: OpRow[] = [];
  const pools: OpRow[] = [];
  const models: [string, (b: number) => StepSetup, number, StepLayout][] = [
    ['U-Net', unetSetup, o.unetBatch, 'contiguous'], ['classifier', classifierSetup, o.classifierBatch, 'contiguous'],
    ['classifier, channels-last', classifierSetup, o.classifierBatch, 'channelsLast'],
  ];
  for (const [name, make, batch, layout] of models) {
    const s = make(batch);
    s.model.to({ memoryFormat: layout });
    const rec = recordOps(s.step);
    s.dispose();
    log(`${name}: ${rec.convs.length} distinct convolutions, ${rec.pools.length} poolings`);
    for (const { p } of rec.convs) rows.push(...tuneProblem(name, p, log));
    for (const p of rec.pools) pools.push(tunePooling(name, p, log));
  }
  for (const c of POST_CONFIGS) {
    const p = scope(() => convProblem(torch.empty(c.x), torch.empty(c.w), { dims: 2, stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, transposed: false, outputPadding: [0, 0] }))!;
    rows.push(...tuneProblem(c.name, p, log));
  }
  return { ops: rows, pools };
}

// ------------------------------------------------------------------------------ whole steps

interface StepConfig {
  name: string; system: 'refinery' | 'pytorch'; model: 'unet' | 'classifier';
  meta?: boolean; channelsLast?: boolean; threads: number; default?: boolean; autotuned?: boolean;
}
interface StepResult extends StepConfig { ms: number[]; median: number; q1: number; q3: number; error?: string; tuneS?: number; decisions?: number }

class TorchPeer {
  private child: ChildProcessWithoutNullStreams;
  private lines: readline.Interface;
  private waiting: ((l: string) => void)[] = [];
  private buffered: string[] = [];
  version = '?';

  constructor(python: string, root: string) {
    // PyTorch's defaults are its own: not the waiting policies Refinery set in this process
    const env = { ...process.env };
    for (const k of threadingDefaultsSet) delete env[k];
    this.child = spawn(python, [path.join(root, 'bench', 'peers', 'torch_conv.py')], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.lines = readline.createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w(l);
      else this.buffered.push(l);
    });
    this.child.on('exit', () => { for (const w of this.waiting.splice(0)) w('{"error": "the PyTorch peer exited"}'); });
    this.child.on('error', () => { for (const w of this.waiting.splice(0)) w('{"error": "the PyTorch peer could not start"}'); });
  }

  private next(): Promise<string> {
    const b = this.buffered.shift();
    if (b !== undefined) return Promise.resolve(b);
    return new Promise((r) => this.waiting.push(r));
  }

  async ready(): Promise<boolean> {
    const r = JSON.parse(await this.next()) as { ready?: boolean; version?: string };
    this.version = r.version ?? '?';
    return r.ready === true;
  }

  async steps(c: StepConfig, batch: number, steps: number): Promise<{ ms?: number[]; error?: string }> {
    this.child.stdin.write(`${JSON.stringify({ model: c.model, channels_last: !!c.channelsLast, threads: c.default ? 0 : c.threads, steps, batch })}\n`);
    return JSON.parse(await this.next()) as { ms?: number[]; error?: string };
  }

  close(): void {
    this.child.stdin.end('\n');
  }
}

function quartiles(xs: number[]): { median: number; q1: number; q3: number } {
  const s = xs.slice().sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
  return { median: median(s), q1: at(0.25), q3: at(0.75) };
}

const layoutName = (cl: boolean) => (cl ? 'channels-last' : 'NCHW');

/** `xs` in a random order drawn from `seed` (Fisher-Yates on a small LCG: the same orders every run). */
function shuffled<T>(xs: T[], seed: number): T[] {
  const out = xs.slice();
  let st = (seed * 2654435761) >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
    const j = st % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function stepComparison(o: Options, log: (s: string) => void): Promise<{ results: StepResult[]; pytorch: string; pytorchThreads: number }> {
  const peer = new TorchPeer(o.python, o.root);
  const ok = await peer.ready().catch(() => false);
  const results: StepResult[] = [];
  const n = o.threads;
  const threadList = n > 1 ? [n, 1] : [1];
  const hand = threadList.flatMap((t) => [false, true].map((cl) => ({ t, cl })));
  for (const model of ['unet', 'classifier'] as const) {
    const batch = model === 'unet' ? o.unetBatch : o.classifierBatch;
    const setup = model === 'unet' ? unetSetup(batch) : classifierSetup(batch);
    const prevThreads = getNumThreads();
    // the competitor (if any) runs from before the planner's first step to the last timed round
    const competitor = o.competitor ? busyProcess() : null;
    // the step planner, as `refinery train --autotune step` runs it: whole steps, layouts x threads
    setNumThreads(n);
    const planner = new StepPlanner(setup.model, { threads: threadList, drift: 0, log });
    while (!planner.choice) {
      planner.beforeStep();
      const s = performance.now();
      setup.step();
      planner.afterStep(performance.now() - s);
    }
    const plan = planner.choice.config;
    const planCl = plan.layout === 'channelsLast';
    // the per-operation meta-optimizer tunes once, inside the plan's layout and threads, before the timed rounds
    setup.model.to({ memoryFormat: plan.layout });
    setNumThreads(plan.threads);
    const t0 = performance.now();
    const meta = enableConvMetaOptimizer({ cache: null });
    setup.step();
    const tuneS = (performance.now() - t0) / 1000;
    const decisions = meta.decisions.length;
    disableConvMetaOptimizer();
    log(`${model}: plan ${stepConfigLabel(plan)}; meta-optimizer tuned ${decisions} operations in ${tuneS.toFixed(1)} s: ${meta.decisions.filter((d) => d.winner !== 'libtorch').map((d) => `${d.op} ${d.winner} ${d.speedup.toFixed(2)}x`).join('; ') || 'libtorch everywhere'}`);
    const configs: StepConfig[] = [
      { name: `Refinery, autotuned (chose ${layoutName(planCl)}, ${plan.threads} thr)`, system: 'refinery', model, channelsLast: planCl, threads: plan.threads, autotuned: true },
      { name: `Refinery, autotuned + per-op meta-optimizer`, system: 'refinery', model, channelsLast: planCl, threads: plan.threads, meta: true, autotuned: true },
      ...hand.map(({ t, cl }) => ({ name: `Refinery ${layoutName(cl)}, ${t} thr${t === n && !cl ? ' (default)' : ''}`, system: 'refinery' as const, model, channelsLast: cl, threads: t })),
      ...hand.map(({ t, cl }) => ({
        name: t === n && !cl ? `PyTorch default (NCHW, its ${n} thr)` : `PyTorch ${layoutName(cl)}, ${t} thr`,
        system: 'pytorch' as const, model, channelsLast: cl, threads: t, ...(t === n && !cl ? { default: true } : {}),
      })),
    ];
    const times = new Map<string, number[]>(configs.map((c) => [c.name, []]));
    const errors = new Map<string, string>();
    try {
      // warm-up: one step of every configuration
      for (const round of [-1, ...Array.from({ length: o.rounds }, (_, i) => i)]) {
        // each round runs the configurations in a new (seeded) random order: a step is slower after
        // some others (cold caches after the other system's process, the allocator after the
        // per-operation meta-optimizer's layouts), and no configuration should always pay for one
        for (const c of round < 0 ? configs : shuffled(configs, round + 1)) {
          if (errors.has(c.name)) continue;
          let ms: number;
          if (c.system === 'refinery') {
            setup.model.to({ memoryFormat: (c.channelsLast ? 'channelsLast' : 'contiguous') as StepLayout });
            setNumThreads(c.threads);
            if (c.meta) setConvImplementation(meta.conv);
            try {
              const s = performance.now();
              setup.step();
              ms = performance.now() - s;
            } finally {
              setConvImplementation(null);
            }
          } else {
            if (!ok) { errors.set(c.name, 'PyTorch peer unavailable'); continue; }
            const r = await peer.steps(c, batch, 1);
            if (r.error || !r.ms) { errors.set(c.name, r.error ?? 'no answer'); continue; }
            ms = r.ms[0];
          }
          if (round >= 0) times.get(c.name)!.push(ms);
        }
        if (round >= 0) log(`${model} round ${round + 1}/${o.rounds}: ${configs.map((c) => `${c.name} ${(times.get(c.name)!.at(-1) ?? NaN).toFixed(0)}`).join(', ')}`);
      }
    } finally {
      competitor?.kill();
      setNumThreads(prevThreads);
      setup.dispose();
    }
    for (const c of configs) {
      const ms = times.get(c.name)!;
      results.push({ ...c, ms, ...quartiles(ms), ...(errors.has(c.name) ? { error: errors.get(c.name) } : {}), ...(c.meta ? { tuneS, decisions } : {}) });
    }
  }
  peer.close();
  return { results, pytorch: peer.version, pytorchThreads: n };
}

// ------------------------------------------------------------------------------ report

interface Options { part: 'ops' | 'steps' | 'all' | 'load'; loadModel: 'unet' | 'classifier'; threads: number; opThreads: number; competitor: boolean; rounds: number; unetBatch: number; classifierBatch: number; python: string; root: string; json: boolean; help: boolean }

export function parseConvArgs(args: string[]): Options {
  const { flags, str } = parseBenchFlags('conv', args, ['part', 'load-model', 'threads', 'op-threads', 'competitor', 'rounds', 'unet-batch', 'classifier-batch', 'python', 'json', 'help'], CONV_USAGE);
  const part = str('part') ?? 'all';
  if (!['ops', 'steps', 'all', 'load'].includes(part)) throw new Error(`--part: expected ops, steps, all or load, got "${part}"`);
  const loadModel = str('load-model') ?? 'classifier';
  if (loadModel !== 'unet' && loadModel !== 'classifier') throw new Error(`--load-model: expected unet or classifier, got "${loadModel}"`);
  return {
    part: part as Options['part'], loadModel, threads: intFlag(flags, 'threads', getNumThreads()), opThreads: intFlag(flags, 'op-threads', 1),
    competitor: flags.competitor === true, rounds: intFlag(flags, 'rounds', 7),
    unetBatch: intFlag(flags, 'unet-batch', 64), classifierBatch: intFlag(flags, 'classifier-batch', 128),
    python: str('python') ?? '/usr/bin/python3', root: findRepoRoot(), json: flags.json === true, help: flags.help === true,
  };
}

const SHOWN = BUILTIN_CANDIDATES.filter((c) => !c.name.startsWith('cudnn')).map((c) => c.name);

const POOL_SHOWN = POOL_CANDIDATES.map((c) => c.name);

export function formatOps(rows: OpRow[], shown: string[] = SHOWN): string {
  const head = `| model | ${shown === SHOWN ? 'convolution' : 'pooling'} | op | ${shown.join(' | ')} | winner | speed-up |`;
  const sep = `|${'---|'.repeat(shown.length + 5)}`;
  const cell = (r: OpRow, n: string) => {
    if (r.times[n] !== undefined) return n === r.winner ? `**${r.times[n].toFixed(2)}**` : r.times[n].toFixed(2);
    const why = r.skipped[n] ?? '';
    return why.startsWith('wrong') ? 'wrong' : why.startsWith('threw') ? 'threw' : '-';
  };
  return [head, sep, ...rows.map((r) => `| ${r.model} | ${r.problem} | ${r.op} | ${shown.map((n) => cell(r, n)).join(' | ')} | ${r.winner} | ${r.speedup.toFixed(2)}x |`)].join('\n');
}

export function formatSteps(results: StepResult[]): string {
  const lines = ['| model | configuration | median ms/step | quartiles | vs PyTorch default | vs best PyTorch |', '|---|---|---|---|---|---|'];
  for (const model of ['unet', 'classifier'] as const) {
    const rs = results.filter((r) => r.model === model && !r.error && r.ms.length);
    const pd = rs.find((r) => r.system === 'pytorch' && r.default);
    const best = rs.filter((r) => r.system === 'pytorch').sort((a, b) => a.median - b.median)[0];
    for (const r of results.filter((x) => x.model === model)) {
      if (r.error || !r.ms.length) { lines.push(`| ${model} | ${r.name} | ${r.error ?? 'no data'} | | | |`); continue; }
      const vs = (b?: StepResult) => (b ? `${(b.median / r.median).toFixed(2)}x` : '-');
      lines.push(`| ${model === 'unet' ? 'U-Net' : 'classifier'} | ${r.name}${r === best ? ' (best PyTorch)' : ''}${r.tuneS !== undefined ? ` (tuned ${r.decisions} ops in ${r.tuneS.toFixed(0)} s)` : ''} | ${r.median.toFixed(1)} | ${r.q1.toFixed(1)}-${r.q3.toFixed(1)} | ${vs(pd)} | ${vs(best)} |`);
    }
  }
  return lines.join('\n');
}

export async function runConvCommand(args: string[]): Promise<number> {
  const o = parseConvArgs(args);
  if (o.help) {
    process.stdout.write(CONV_USAGE);
    return 0;
  }
  const log = o.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => process.stderr.write(`${s}\n`);
  const notes: string[] = [];
  noteBusyHost(notes);
  if (o.part === 'load') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const L = require('./conv_load') as typeof import('./conv_load');
    const batch = o.loadModel === 'unet' ? o.unetBatch : o.classifierBatch;
    const rs = L.loadBench(o.loadModel, batch, o.rounds, 4, log);
    noteBusyHost(notes);
    if (o.json) process.stdout.write(`${JSON.stringify({ host: { ...hostInfo(), cpu: cpuModel() }, notes, load: rs })}\n`);
    else process.stdout.write(`${o.loadModel === 'unet' ? 'U-Net' : 'classifier'} training step (batch ${batch}), median of ${o.rounds} rounds x 4 steps, each configuration in a fresh process:\n\n${L.formatLoad(rs)}\n${notes.map((n) => `note: ${n}\n`).join('')}`);
    return 0;
  }
  const prev = getNumThreads();
  setNumThreads(o.opThreads);
  let ops: OpRow[] = [];
  let pools: OpRow[] = [];
  try {
    if (o.part !== 'steps') ({ ops, pools } = perOpTable(o, (s) => { if (!s.startsWith('*') && !s.startsWith('ConvMeta') && !s.startsWith('=')) log(s); }));
  } finally {
    setNumThreads(prev);
  }
  const steps = o.part !== 'ops' ? await stepComparison(o, log) : null;
  noteBusyHost(notes);
  const host = { ...hostInfo(), cpu: cpuModel(), libtorch: torchVersion, threads: o.threads, opThreads: o.opThreads, competitor: o.competitor };
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ host, notes, ops, pools, steps })}\n`);
  } else {
    const out: string[] = [`host: ${host.cpu}, ${host.cpus} cores, libtorch ${host.libtorch}`];
    if (ops.length) out.push('', `per-operation table at ${o.opThreads} intra-op thread(s); times in ms (minimum of 5 interleaved calls after a checked warm-up)`, '', formatOps(ops));
    if (pools.length) out.push('', 'pooling (the second family): forward + input gradient, ms', '', formatOps(pools, POOL_SHOWN));
    if (steps) out.push('', `whole training steps, ${o.rounds} interleaved rounds (PyTorch ${steps.pytorch}; default ${o.threads} threads${o.competitor ? '; one competing busy process throughout' : ''}):`, '', formatSteps(steps.results));
    out.push(...notes.map((n) => `note: ${n}`));
    process.stdout.write(`${out.join('\n')}\n`);
  }
  return 0;
}

export type { ConvDecision };

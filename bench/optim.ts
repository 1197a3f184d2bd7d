// node dist/bench/main.js optim: ONE OPTIMIZER STEP over the main job's U-Net parameter list
// (src/diffusion DEFAULT_DIFFUSION_MODEL, 1.19 M parameters in ~140 tensors), four ways, interleaved:
// Refinery with multi-tensor (_foreach_*) updates, Python torch.optim with foreach=True, Refinery
// per parameter, torch.optim with foreach=False (bench/peers/torch_optim.py, a long-lived child
// driven over stdin, given the same shapes). Each sample is the mean of K steps; reported: medians
// and the median of the per-round ratios with their range.
import * as path from 'path';
import { Generator, checkComputeDevice, functions as torch, getNumThreads, scope, setNumThreads } from '../src/tensor';
import { params as moduleParams } from '../src/nn/module';
import { Adam, AdamW, Optimizer, SGD } from '../src/optim';
import { DEFAULT_DIFFUSION_MODEL, buildUNet } from '../src/diffusion';
import { findRepoRoot, hostInfo, median, noteBusyHost, parseBenchFlags, intFlag } from './common';
import { Peer } from './text';

const USAGE = `usage: node dist/bench/main.js optim [--optimizer adam|adamw|sgd] [--device cpu|cuda|cuda:N] [--threads N] [--reps N] [--steps K] [--python PATH] [--json]

One optimizer step over the main job's U-Net parameters (Adam by default; gradients fixed random
values): Refinery foreach vs per-parameter, and Python torch.optim foreach=True vs foreach=False on
the same shapes, interleaved (default 1 thread, 15 rounds of K = 10 steps each). --device cuda:
parameters, gradients and state on the GPU in both (each sample ends with a device synchronisation).
`;

type Mode = 'refineryForeach' | 'pytorchForeach' | 'refinerySingle' | 'pytorchSingle';

export async function benchOptim(o: { optimizer?: string; device?: string; threads?: number; reps?: number; steps?: number; python?: string; log?: (s: string) => void } = {}) {
  const which = o.optimizer ?? 'adam';
  if (!['adam', 'adamw', 'sgd'].includes(which)) throw new Error(`bench optim: --optimizer must be adam, adamw or sgd, got ${JSON.stringify(which)}`);
  const threads = o.threads ?? 1, reps = o.reps ?? 15, steps = o.steps ?? 10;
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  setNumThreads(threads);
  const device = checkComputeDevice('bench optim', o.device ?? 'cpu');
  const g = new Generator(0);
  const make = (foreach: boolean): Optimizer => {
    const net = buildUNet(DEFAULT_DIFFUSION_MODEL, g).to(device);
    const ps = moduleParams(net);
    for (const p of ps) scope(() => { p.grad = torch.randn(p.shape, { generator: g }).mul(1e-3).to({ device }); });
    return which === 'adam' ? new Adam(ps, { lr: 1e-4, foreach }) : which === 'adamw' ? new AdamW(ps, { lr: 1e-4, weightDecay: 0.01, foreach })
      : new SGD(ps, { lr: 1e-4, momentum: 0.9, foreach });
  };
  const opts = { foreach: make(true), single: make(false) };
  const shapes = opts.single.params.map((p) => p.shape);
  const nParams = shapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
  const timeRefinery = (opt: Optimizer) => {
    const t0 = performance.now();
    for (let k = 0; k < steps; k++) opt.step();
    if (device !== 'cpu') opt.params[0].dataSync(); // waits for the device's queued kernels
    return (performance.now() - t0) / steps;
  };
  const root = findRepoRoot();
  let peer: Peer | null = new Peer(o.python ?? '/usr/bin/python3', path.join(root, 'bench', 'peers', 'torch_optim.py'),
    ['--shapes', JSON.stringify(shapes), '--optimizer', which, '--threads', String(threads), '--steps', String(steps), '--device', device]);
  const head = await peer.next();
  let peerError: string | null = null;
  if (!head.ready) { peerError = String(head.error ?? 'no ready line'); peer.close(); peer = null; }
  const ms: Record<Mode, number[]> = { refineryForeach: [], pytorchForeach: [], refinerySingle: [], pytorchSingle: [] };
  try {
    // one warm-up round (state tensors are created on the first step)
    timeRefinery(opts.foreach); timeRefinery(opts.single);
    if (peer) { await peer.request('step foreach'); await peer.request('step single'); }
    for (let r = 0; r < reps; r++) {
      ms.refineryForeach.push(timeRefinery(opts.foreach));
      if (peer) ms.pytorchForeach.push(await peer.request('step foreach'));
      ms.refinerySingle.push(timeRefinery(opts.single));
      if (peer) ms.pytorchSingle.push(await peer.request('step single'));
      log(`bench optim: round ${r + 1}/${reps}: refinery foreach ${ms.refineryForeach[r].toFixed(2)} ms, per-parameter ${ms.refinerySingle[r].toFixed(2)} ms` +
        (peer ? `; pytorch foreach ${ms.pytorchForeach[r].toFixed(2)} ms, foreach=False ${ms.pytorchSingle[r].toFixed(2)} ms` : ''));
    }
  } finally {
    peer?.close();
    opts.foreach.dispose(); opts.single.dispose();
  }
  const ratio = (a: number[], b: number[]) => {
    const rs = a.slice(0, Math.min(a.length, b.length)).map((v, i) => v / b[i]);
    return rs.length ? { median: median(rs), min: Math.min(...rs), max: Math.max(...rs) } : null;
  };
  const notes = [`${which} on ${device}, ${shapes.length} parameter tensors (${nParams.toLocaleString('en-US')} values), ${threads} thread(s), ${reps} rounds of ${steps} steps, interleaved`];
  noteBusyHost(notes);
  if (peerError) notes.push(`PyTorch peer unavailable: ${peerError}`);
  return {
    bench: 'optim', optimizer: which, device, tensors: shapes.length, params: nParams, threads: getNumThreads(), reps, steps,
    ms: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, v.length ? median(v) : null])) as Record<Mode, number | null>,
    ratios: {
      foreachVsSingle: ratio(ms.refineryForeach, ms.refinerySingle),
      foreachVsPytorchForeach: ratio(ms.refineryForeach, ms.pytorchForeach),
      singleVsPytorchSingle: ratio(ms.refinerySingle, ms.pytorchSingle),
      pytorchForeachVsSingle: ratio(ms.pytorchForeach, ms.pytorchSingle),
    },
    peer: { version: typeof head.version === 'string' ? head.version : null, params: typeof head.params === 'number' ? head.params : null, error: peerError },
    host: hostInfo(), notes,
  };
}

export async function runOptimCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) { process.stdout.write(USAGE); return 0; }
  let f;
  try {
    f = parseBenchFlags('optim', args, ['optimizer', 'device', 'threads', 'reps', 'steps', 'python', 'json'], USAGE);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const str = f.str;
  const r = await benchOptim({
    optimizer: str('optimizer'), device: str('device'), threads: intFlag(f.flags, 'threads', 1), reps: intFlag(f.flags, 'reps', 15), steps: intFlag(f.flags, 'steps', 10),
    python: str('python'), log: f.flags.json ? () => {} : undefined,
  });
  if (f.flags.json) { process.stdout.write(JSON.stringify(r) + '\n'); return 0; }
  const fmt = (x: { median: number; min: number; max: number } | null) => (x ? `${x.median.toFixed(2)}x (${x.min.toFixed(2)}-${x.max.toFixed(2)})` : 'n/a');
  const m = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)} ms`);
  const lines = [
    `optimizer step over the U-Net's parameters (${r.optimizer}, ${r.device}): refinery vs pytorch ${r.peer.version ?? '-'}`,
    `refinery foreach        ${m(r.ms.refineryForeach)}`,
    `refinery per-parameter  ${m(r.ms.refinerySingle)}`,
    `pytorch foreach=True    ${m(r.ms.pytorchForeach)}`,
    `pytorch foreach=False   ${m(r.ms.pytorchSingle)}`,
    `ratios (median, range over rounds): refinery foreach / per-parameter ${fmt(r.ratios.foreachVsSingle)}; ` +
      `refinery foreach / pytorch foreach ${fmt(r.ratios.foreachVsPytorchForeach)}; refinery / pytorch per-parameter ${fmt(r.ratios.singleVsPytorchSingle)}; ` +
      `pytorch foreach / foreach=False ${fmt(r.ratios.pytorchForeachVsSingle)}`,
    ...r.notes.map((n) => `note: ${n}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

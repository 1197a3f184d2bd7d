// The rotnet benchmark: ONE TRAINING STEP of the cyclic-roll network (src/vision/rotnet.ts: cyclic
// slice, a conv roll after each of three 3x3/2 pooling stages, RMS cyclic pooling; width 16,
// hidden 64, 129,962 parameters) on a batch of 32 images 31x31 (128 views), Adam, through Refinery
// in-process and through the same network in Python PyTorch (bench/peers/torch_rotnet.py),
// INTERLEAVED: round r times `reps` Refinery steps, then runs the peer for `reps` steps; the ratio of
// the two medians is taken per round, and the report gives the median ratio over the rounds and its
// spread (min, max), so that a load change on a shared machine hits both systems alike.
// `node dist/bench/main.js rotnet [--json]`.
import * as path from 'path';
import { spawnSync } from 'child_process';
import { F, Generator, functions as torch, getNumThreads, manualSeed, scope, setNumThreads } from '../src/tensor';
import { numParams } from '../src/nn';
import { Adam } from '../src/optim';
import { Rotnet } from '../src/vision/rotnet';
import { benchMain, findRepoRoot, hostInfo, intFlag, median, noteBusyHost, parseBenchFlags } from './common';

export const TARGET_RATIO = 1.1;

export interface RotnetBenchReport {
  bench: 'rotnet';
  batch: number;
  width: number;
  threads: number;
  rounds: number;
  reps: number;
  params: { refinery: number; pytorch: number | null };
  /** Median step time over all timed steps of each system, ms. */
  refineryMs: number;
  pytorchMs: number | null;
  /** Per round: refinery median / pytorch median. */
  ratios: number[];
  ratio: { median: number; min: number; max: number } | null;
  target: string;
  status: 'met' | 'missed' | 'n/a';
  pytorchVersion: string | null;
  host: ReturnType<typeof hostInfo>;
  notes: string[];
}

export function runRotnetBench(o: { rounds: number; reps: number; warmup: number; threads: number; batch: number; width: number; python: string }): RotnetBenchReport {
  const notes: string[] = [];
  const before = getNumThreads();
  setNumThreads(o.threads);
  manualSeed(0);
  const model = new Rotnet({ arch: 'cyclic-roll', width: o.width, hidden: 64 }, { generator: new Generator(0) });
  model.train();
  const opt = new Adam(model, { lr: 1e-3 });
  const x = torch.rand([o.batch, 1, 31, 31], { generator: new Generator(1) });
  const y = torch.randint(0, 10, [o.batch], { generator: new Generator(2), dtype: 'int64' });
  const step = () => scope(() => {
    opt.zeroGrad();
    F.crossEntropy(model(x), y).backward();
    opt.step();
  });
  const peerScript = path.join(findRepoRoot(), 'bench', 'peers', 'torch_rotnet.py');
  const ref: number[] = [], pt: number[] = [], ratios: number[] = [];
  let ptParams: number | null = null, ptVersion: string | null = null;
  try {
    for (let i = 0; i < o.warmup; i++) step();
    for (let r = 0; r < o.rounds; r++) {
      const times: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        const t0 = performance.now();
        step();
        times.push(performance.now() - t0);
      }
      ref.push(...times);
      const p = spawnSync(o.python, [peerScript, '--threads', String(o.threads), '--reps', String(o.reps), '--warmup', String(o.warmup),
        '--batch', String(o.batch), '--width', String(o.width)], { cwd: path.dirname(peerScript), encoding: 'utf8', timeout: 600_000 });
      const line = (p.stdout ?? '').trim().split('\n').pop() ?? '';
      let out: { ms: number; times: number[]; params: number; version: string } | null = null;
      try { out = JSON.parse(line); } catch { out = null; }
      if (!out) {
        notes.push(`PyTorch peer failed (${o.python} ${path.basename(peerScript)}): ${(p.stderr ?? p.error?.message ?? '').trim().split('\n').pop()}`);
        break;
      }
      pt.push(...out.times);
      ptParams = out.params;
      ptVersion = out.version;
      ratios.push(median(times) / out.ms);
    }
  } finally {
    x.dispose(); y.dispose();
    setNumThreads(before);
  }
  noteBusyHost(notes);
  const params = numParams(model);
  if (ptParams !== null && ptParams !== params) notes.push(`parameter counts differ: refinery ${params}, pytorch ${ptParams}`);
  const ratio = ratios.length ? { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) } : null;
  return {
    bench: 'rotnet', batch: o.batch, width: o.width, threads: o.threads, rounds: o.rounds, reps: o.reps,
    params: { refinery: params, pytorch: ptParams }, refineryMs: median(ref), pytorchMs: pt.length ? median(pt) : null,
    ratios, ratio, target: `refinery/pytorch <= ${TARGET_RATIO}`, status: ratio ? (ratio.median <= TARGET_RATIO ? 'met' : 'missed') : 'n/a',
    pytorchVersion: ptVersion, host: hostInfo(), notes,
  };
}

const USAGE = `usage: node dist/bench/main.js rotnet [options]

One training step (Adam) of the cyclic-roll rotnet, Refinery vs the same network in Python PyTorch,
interleaved round by round; prints the median time ratio and its spread.

options:
  --rounds N       rounds, each: N Refinery steps then N PyTorch steps (default 6)
  --reps N         timed steps per system per round (default 5)
  --warmup N       untimed steps before timing, in each system (default 2)
  --threads N      intra-op threads for both systems (default 1: fairer on a shared machine)
  --batch N        images per step (default 32, i.e. 128 views)
  --width N        channels of the first stage (default 16)
  --python PATH    interpreter for the PyTorch peer (default /usr/bin/python3)
  --json           one JSON line
`;

export function runRotnetCommand(args: string[]): number {
  const { flags, str } = parseBenchFlags('rotnet', args, ['rounds', 'reps', 'warmup', 'threads', 'batch', 'width', 'python', 'json', 'help'], USAGE);
  if (flags.help) { process.stdout.write(USAGE); return 0; }
  const r = runRotnetBench({
    rounds: intFlag(flags, 'rounds', 6), reps: intFlag(flags, 'reps', 5), warmup: intFlag(flags, 'warmup', 2), threads: intFlag(flags, 'threads', 1),
    batch: intFlag(flags, 'batch', 32), width: intFlag(flags, 'width', 16), python: str('python') ?? '/usr/bin/python3',
  });
  if (flags.json) { process.stdout.write(JSON.stringify(r) + '\n'); return 0; }
  const f = (v: number | null) => (v === null ? 'n/a' : v.toFixed(1));
  process.stdout.write([
    `rotnet: one training step of the cyclic-roll network (${r.params.refinery.toLocaleString('en-US')} parameters), batch ${r.batch} (${4 * r.batch} views), ${r.threads} thread(s), ${r.rounds} interleaved rounds x ${r.reps} steps`,
    `  refinery  ${f(r.refineryMs)} ms (median step)`,
    `  pytorch   ${f(r.pytorchMs)} ms (median step, torch ${r.pytorchVersion ?? 'n/a'})`,
    r.ratio ? `  ratio     ${r.ratio.median.toFixed(3)}x median over rounds (min ${r.ratio.min.toFixed(3)}, max ${r.ratio.max.toFixed(3)}); target <= ${TARGET_RATIO}: ${r.status}` : '  ratio     n/a',
    ...r.notes.map((n) => `  note: ${n}`),
  ].join('\n') + '\n');
  return 0;
}

if (require.main === module) benchMain(runRotnetCommand);

// node dist/bench/main.js ddp [--json]: all-reduce time and bandwidth of Refinery's c10d Gloo
// process group against Python torch.distributed with Gloo, on this machine, in one run: each round
// launches N Refinery ranks, then N PyTorch ranks (A B A B ...), each timing in-place float32
// all-reduces of a few sizes (median over repetitions, the slowest rank's); the report gives the
// median over rounds and the ratio Refinery / PyTorch with its spread over rounds.
import * as path from 'path';
import { PassThrough } from 'stream';
import { launch } from '../src/distributed';
import { findRepoRoot, hostInfo, lastJsonLine, median, noteBusyHost } from './common';

const USAGE = `usage: node dist/bench/main.js ddp [--nproc N] [--rounds R] [--reps K] [--sizes n1,n2,...] [--json]
       node dist/bench/main.js ddp --train STEPS [--rounds R] [--overlap] [--json]

All-reduce (sum, float32, in place) over N processes on 127.0.0.1: Refinery (c10d ProcessGroupGloo
through the addon) vs Python torch.distributed (Gloo), launched in turn R times (default N=2, R=3,
K=50 repetitions for sizes up to 256 Ki elements, fewer above; sizes in elements, default
256,16384,262144,4194304 = 1 KiB, 64 KiB, 1 MiB, 16 MiB).

--train STEPS: \`refinery train diffusion\` (U-Net with 16 base channels, global batch 32) for STEPS steps as
1 process x C threads and as C processes x 1 thread (C = the cores), in turn R times (default 1):
steps/s between the first and last logged step, and the time (from the first logged step) until the
logged loss is at or below the worse of the two runs' final losses.
--overlap: instead, C processes x 1 thread with the gradient all-reduce overlapped with backward
(bucket by bucket, the default) and after it (--no-overlap), in turn R times (default 3), with
--bucket-mb MB buckets (default 0.25: the 16-channel U-Net's 1.2 MiB of float32 gradients make 5;
at the default 25 MiB they would be one bucket, complete only when backward ends); the report gives
each run's steps/s and the median ratio of the pairs (--channels C: another U-Net width).
`;

interface Opts { nproc: number; rounds: number; reps: number; sizes: number[]; json: boolean; train: number; overlap: boolean; bucketMb: number; channels: number }

function parse(args: string[]): Opts | null {
  const o: Opts = { nproc: 2, rounds: 0, reps: 50, sizes: [256, 16384, 262144, 4194304], json: false, train: 0, overlap: false, bucketMb: 0.25, channels: 16 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`bench ddp: ${a} needs a value`);
      return v;
    };
    const int = (v: string, lo: number, hi: number) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new Error(`bench ddp: ${a} expects an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === '-h' || a === '--help') return null;
    else if (a === '--json') o.json = true;
    else if (a === '--nproc') o.nproc = int(val(), 2, 16);
    else if (a === '--rounds') o.rounds = int(val(), 1, 100);
    else if (a === '--reps') o.reps = int(val(), 3, 100000);
    else if (a === '--sizes') o.sizes = val().split(',').map((s) => int(s, 1, 1 << 28));
    else if (a === '--train') o.train = int(val(), 50, 1_000_000);
    else if (a === '--overlap') o.overlap = true;
    else if (a === '--bucket-mb') {
      const v = Number(val());
      if (!(v > 0 && v <= 1024)) throw new Error(`bench ddp: --bucket-mb expects a number in (0, 1024], got ${JSON.stringify(args[i])}`);
      o.bucketMb = v;
    }
    else if (a === '--channels') o.channels = int(val(), 2, 512);
    else throw new Error(`bench ddp: unknown option ${JSON.stringify(a)}\n\n${USAGE}`);
  }
  if (o.overlap && !o.train) throw new Error('bench ddp: --overlap goes with --train STEPS');
  if (o.rounds === 0) o.rounds = o.train && !o.overlap ? 1 : 3;
  return o;
}

interface TrainRun { config: string; processes: number; threads: number; stepsPerSec: number; finalLoss: number; curve: [number, number, number][] }

/** One `refinery train diffusion` run; its logged (step, seconds since the first log, loss). */
async function trainOnce(root: string, processes: number, threads: number, steps: number, name: string, extra: string[] = [], channels = 16): Promise<TrainRun> {
  const os = await import('os');
  const fs = await import('fs');
  const { spawnSync } = await import('child_process');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ddp-train-'));
  const args = [path.join(root, 'dist', 'src', 'cli', 'main.js'), 'train', 'diffusion', '--steps', String(steps), '--channels', String(channels),
    '--batch-size', '32', '--preview-every', '1000000', '--guidance', '0', '--sample-steps', '1', '--name', name, '--runs-dir', dir, '--nproc', String(processes), ...extra];
  const r = spawnSync(process.execPath, args, { env: { ...process.env, REFINERY_NUM_THREADS: String(threads) }, encoding: 'utf8', timeout: 3 * 3600_000 });
  if (r.status !== 0) {
    const lines = (r.stderr || '').trim().split('\n').filter((l) => !/ (it\/s|s\/it) /.test(l));
    throw new Error(`bench ddp --train: ${processes} x ${threads}: exit ${r.status}: ${lines.slice(-4).join(' | ')}`);
  }
  const recs = fs.readFileSync(path.join(dir, name, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>)
    .filter((x) => x['train/loss'] !== undefined);
  fs.rmSync(dir, { recursive: true, force: true });
  const t0 = recs[0].time;
  const curve = recs.map((x) => [x.step, x.time - t0, x['train/loss']] as [number, number, number]);
  const last = curve[curve.length - 1];
  return { config: `${processes} x ${threads}`, processes, threads, stepsPerSec: (last[0] - curve[0][0]) / last[1], finalLoss: last[2], curve };
}

/** Overlapped vs after-backward gradient all-reduce: C processes x 1 thread each way, A B A B. */
export async function runDdpOverlapBench(o: Opts) {
  const root = findRepoRoot();
  const cores = (await import('os')).cpus().length;
  const bucket = ['--bucket-mb', String(o.bucketMb)];
  const runs: (TrainRun & { overlap: boolean })[] = [];
  for (let k = 0; k < o.rounds; k++) {
    for (const overlap of [true, false]) {
      if (!o.json) process.stderr.write(`bench ddp --train --overlap: round ${k + 1}/${o.rounds}, ${overlap ? 'overlapped' : 'after backward'}\n`);
      const r = await trainOnce(root, cores, 1, o.train, `r${k}-${overlap ? 'over' : 'after'}`, overlap ? bucket : [...bucket, '--no-overlap'], o.channels);
      runs.push({ ...r, config: `${cores} x 1, ${overlap ? 'overlapped' : 'after backward'}`, overlap });
    }
  }
  const over = runs.filter((r) => r.overlap).map((r) => r.stepsPerSec), after = runs.filter((r) => !r.overlap).map((r) => r.stepsPerSec);
  const ratios = over.map((v, i) => v / after[i]);
  const rows = runs.map((r) => ({ config: r.config, stepsPerSec: r.stepsPerSec, finalLoss: r.finalLoss, secondsToTarget: NaN }));
  const notes = [`diffusion U-Net (${o.channels} channels), global batch 32, ${o.train} steps, ${o.bucketMb} MiB buckets; ` +
    `overlapped / after-backward steps/s: median ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}) over ${ratios.length} pairs`];
  noteBusyHost(notes);
  return { suite: 'ddp-overlap', host: hostInfo(), rows, ratio: median(ratios), ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios), notes };
}

export async function runDdpTrainBench(o: Opts) {
  if (o.overlap) return runDdpOverlapBench(o);
  const root = findRepoRoot();
  const cores = (await import('os')).cpus().length;
  const runs: TrainRun[] = [];
  for (let k = 0; k < o.rounds; k++) {
    for (const [p, t] of [[1, cores], [cores, 1]] as const) {
      if (!o.json) process.stderr.write(`bench ddp --train: round ${k + 1}/${o.rounds}, ${p} process(es) x ${t} thread(s)\n`);
      runs.push(await trainOnce(root, p, t, o.train, `r${k}-${p}x${t}`));
    }
  }
  const target = Math.max(...runs.map((r) => r.finalLoss));
  const timeTo = (r: TrainRun) => r.curve.find(([, , l]) => l <= target)?.[1] ?? NaN;
  const rows = runs.map((r) => ({ config: r.config, stepsPerSec: r.stepsPerSec, finalLoss: r.finalLoss, secondsToTarget: timeTo(r) }));
  const notes = [`diffusion U-Net (16 channels), global batch 32, ${o.train} steps; loss target ${target.toPrecision(4)} (the worse final loss); times from the first logged step (25)`];
  noteBusyHost(notes);
  return { suite: 'ddp-train', host: hostInfo(), rows, notes };
}

async function once(command: string[], nproc: number): Promise<{ ms?: Record<string, number>; version?: string; error?: string }> {
  const stdout = new PassThrough(), stderr = new PassThrough();
  let out = '', err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const env = { ...process.env, REFINERY_NUM_THREADS: '1', OMP_NUM_THREADS: '1' };
  const r = await launch({ nproc, command, env, stdout, stderr, grace: 5 });
  const j = lastJsonLine(out);
  if (r.code !== 0 || !j) return { error: `${r.message || 'no result'}: ${err.trim().split('\n').slice(-2).join(' | ')}` };
  return { ms: j.ms as Record<string, number>, version: String(j.version) };
}

export async function runDdpBench(o: Opts) {
  const root = findRepoRoot();
  const sys = {
    refinery: ['node', path.join(root, 'dist', 'bench', 'ddp_worker.js'), o.sizes.join(','), String(o.reps)],
    pytorch: ['/usr/bin/python3', path.join(root, 'bench', 'peers', 'torch_ddp.py'), o.sizes.join(','), String(o.reps)],
  };
  const rounds: Record<'refinery' | 'pytorch', Record<string, number>[]> = { refinery: [], pytorch: [] };
  const versions: Record<string, string> = {};
  const errors: string[] = [];
  for (let k = 0; k < o.rounds; k++) {
    for (const s of ['refinery', 'pytorch'] as const) {
      if (!o.json) process.stderr.write(`bench ddp: round ${k + 1}/${o.rounds}, ${s}\n`);
      const r = await once(sys[s], o.nproc);
      if (r.error) errors.push(`${s}: ${r.error}`);
      else {
        rounds[s].push(r.ms!);
        versions[s] = r.version!;
      }
    }
  }
  const rows = o.sizes.map((n) => {
    const bytes = 4 * n;
    const ref = rounds.refinery.map((m) => m[String(n)]);
    const pt = rounds.pytorch.map((m) => m[String(n)]);
    const ratios = ref.slice(0, Math.min(ref.length, pt.length)).map((v, i) => v / pt[i]);
    // ring all-reduce moves 2 (N-1)/N of the buffer through each rank: NCCL-tests' "bus bandwidth"
    const busGBs = (ms: number) => (bytes * 2 * (o.nproc - 1) / o.nproc) / (ms / 1000) / 1e9;
    const rm = median(ref), pm = median(pt);
    return {
      elements: n, bytes, refineryMs: rm, pytorchMs: pm, refineryBusGBs: busGBs(rm), pytorchBusGBs: busGBs(pm),
      ratio: median(ratios), ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios),
    };
  });
  const notes = [`${o.nproc} processes x 1 thread on 127.0.0.1, ${o.rounds} rounds (Refinery, PyTorch, Refinery, ...); ratio = Refinery time / PyTorch time (below 1: Refinery faster)`];
  noteBusyHost(notes);
  return { suite: 'ddp', host: hostInfo(), nproc: o.nproc, rounds: o.rounds, versions, rows, errors, notes };
}

function fmtBytes(b: number): string {
  return b >= 1 << 20 ? `${b / (1 << 20)} MiB` : b >= 1024 ? `${b / 1024} KiB` : `${b} B`;
}

export function runDdpCommand(args: string[]): Promise<number> | number {
  let o: Opts | null;
  try {
    o = parse(args);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (!o) {
    process.stdout.write(USAGE);
    return 0;
  }
  const opts = o;
  if (opts.train) {
    return runDdpTrainBench(opts).then((rep) => {
      if (opts.json) process.stdout.write(JSON.stringify(rep) + '\n');
      else {
        const lines = [`config (processes x threads)${opts.overlap ? '          ' : ''}  steps/s  final loss${opts.overlap ? '' : '  s to target'}`];
        for (const r of rep.rows) {
          lines.push(`${r.config.padEnd(opts.overlap ? 39 : 29)} ${r.stepsPerSec.toFixed(2).padStart(7)}  ${r.finalLoss.toFixed(4).padStart(10)}` +
            (opts.overlap ? '' : `  ${r.secondsToTarget.toFixed(1).padStart(11)}`));
        }
        for (const n of rep.notes) lines.push(`note: ${n}`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      return 0;
    });
  }
  return runDdpBench(opts).then((rep) => {
    if (opts.json) process.stdout.write(JSON.stringify(rep) + '\n');
    else {
      const lines = [`all-reduce, ${opts.nproc} ranks: refinery (${rep.versions.refinery ?? '-'}) vs pytorch ${rep.versions.pytorch ?? '-'}`,
        'size       refinery ms  pytorch ms  ratio (min-max)      bus GB/s refinery / pytorch'];
      for (const r of rep.rows) {
        lines.push(`${fmtBytes(r.bytes).padEnd(10)} ${r.refineryMs.toFixed(3).padStart(11)} ${r.pytorchMs.toFixed(3).padStart(11)}  ` +
          `${r.ratio.toFixed(2)} (${r.ratioMin.toFixed(2)}-${r.ratioMax.toFixed(2)})`.padEnd(20) + `  ${r.refineryBusGBs.toFixed(2)} / ${r.pytorchBusGBs.toFixed(2)}`);
      }
      for (const n of rep.notes) lines.push(`note: ${n}`);
      for (const e of rep.errors) lines.push(`error: ${e}`);
      process.stdout.write(lines.join('\n') + '\n');
    }
    return rep.errors.length ? 1 : 0;
  });
}

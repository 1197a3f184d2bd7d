// Threads under load (issue 10): how much one competing busy process slows a training step, per
// intra-op thread count and per OpenMP / OpenBLAS waiting policy. Each configuration runs in a fresh
// child process (the policies are read when libgomp and OpenBLAS load, before any op), the children
// run one after another in interleaved rounds, and the competitor is a busy-looping process of ours.
import { spawn, spawnSync, ChildProcess } from 'child_process';
import * as path from 'path';
import { median } from './common';

export interface LoadConfig { name: string; threads: number; env: Record<string, string>; autotune?: boolean }
export interface LoadResult extends LoadConfig { loaded: boolean; ms: number[]; median: number }

/** The policies compared; '' means unset (libgomp spins ~300k iterations before sleeping, OpenBLAS spins its own pool). */
export function loadConfigs(): LoadConfig[] {
  const out: LoadConfig[] = [];
  for (const threads of [1, 2]) {
    out.push({ name: `${threads} thr, libgomp/OpenBLAS defaults`, threads, env: { OMP_WAIT_POLICY: '', OPENBLAS_NUM_THREADS: '' } });
    if (threads > 1) {
      out.push({ name: `${threads} thr, OMP_WAIT_POLICY=PASSIVE`, threads, env: { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: '' } });
      out.push({ name: `${threads} thr, PASSIVE + OPENBLAS_THREAD_TIMEOUT=4`, threads, env: { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: '', OPENBLAS_THREAD_TIMEOUT: '4' } });
    }
    out.push({ name: `${threads} thr, Refinery default (PASSIVE + OPENBLAS_NUM_THREADS=1)`, threads, env: {} });
  }
  // what the training jobs run by default: the step planner picks layout and threads (from 2 and 1) on the spot
  out.push({ name: 'Refinery default + step planner (--autotune step: layout and 2 or 1 thr, timed)', threads: 2, env: {}, autotune: true });
  return out;
}

/** One child: `steps` timed training steps of `model` after one warm-up; returns the step times. */
function runChild(model: string, batch: number, steps: number, c: LoadConfig): number[] {
  const env: NodeJS.ProcessEnv = { ...process.env, REFINERY_NUM_THREADS: String(c.threads) };
  for (const k of ['OMP_WAIT_POLICY', 'OPENBLAS_NUM_THREADS', 'OPENBLAS_THREAD_TIMEOUT', 'GOMP_SPINCOUNT', 'REFINERY_CONV_TUNE', 'REFINERY_OMP_DEFAULTS']) delete env[k];
  for (const [k, v] of Object.entries(c.env)) if (v !== '') env[k] = v;
  // a policy left unset here must stay unset in the child: Refinery would otherwise set its own
  if (c.env.OMP_WAIT_POLICY === '' || c.env.OPENBLAS_NUM_THREADS === '') env.REFINERY_OMP_DEFAULTS = '1';
  const r = spawnSync(process.execPath, [path.join(__dirname, 'conv_load.js'), '--child', model, String(batch), String(steps), ...(c.autotune ? ['--autotune'] : [])], { env, encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return (JSON.parse(line) as { ms: number[] }).ms;
  } catch {
    throw new Error(`conv load child (${c.name}) failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

/** One busy-looping process of ours (a competitor for the cores). */
export function busyProcess(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
}

export function loadBench(model: 'classifier' | 'unet', batch: number, rounds: number, steps: number, log: (s: string) => void): LoadResult[] {
  const configs = loadConfigs();
  const res = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const loaded of [false, true]) {
      const competitor = loaded ? busyProcess() : null;
      try {
        for (const c of configs) {
          const k = `${loaded}|${c.name}`;
          const ms = runChild(model, batch, steps, c);
          res.set(k, [...(res.get(k) ?? []), ...ms]);
          log(`round ${r + 1}/${rounds} ${loaded ? '+1 busy process' : 'no competitor  '} ${c.name}: ${median(ms).toFixed(0)} ms`);
        }
      } finally {
        competitor?.kill();
      }
    }
  }
  return configs.flatMap((c) => [false, true].map((loaded) => {
    const ms = res.get(`${loaded}|${c.name}`) ?? [];
    return { ...c, loaded, ms, median: median(ms) };
  }));
}

export function formatLoad(rs: LoadResult[]): string {
  const lines = ['| threads and waiting policy | no competitor, ms/step | + 1 busy process, ms/step | slowdown under load |', '|---|---|---|---|'];
  for (const c of loadConfigs()) {
    const a = rs.find((r) => r.name === c.name && !r.loaded)!;
    const b = rs.find((r) => r.name === c.name && r.loaded)!;
    lines.push(`| ${c.name} | ${a.median.toFixed(0)} | ${b.median.toFixed(0)} | ${(b.median / a.median).toFixed(2)}x |`);
  }
  return lines.join('\n');
}

async function child(model: string, batch: number, steps: number, autotune: boolean): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const conv = require('./conv') as typeof import('./conv');
  const s = model === 'unet' ? conv.unetSetup(batch) : conv.classifierSetup(batch);
  s.step();
  if (autotune) {
    // as train() runs it: a short delay, one warm-up step and two timed steps per configuration
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { StepPlanner } = require('../src/conv/plan') as typeof import('../src/conv/plan');
    const pl = new StepPlanner(s.model, { delay: 1, rounds: 2, drift: 0 });
    while (!pl.choice) {
      pl.beforeStep();
      const t0 = performance.now();
      s.step();
      pl.afterStep(performance.now() - t0);
    }
  }
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    s.step();
    ms.push(performance.now() - t0);
  }
  process.stdout.write(`${JSON.stringify({ ms })}\n`);
}

if (require.main === module && process.argv[2] === '--child') {
  void child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]), process.argv[6] === '--autotune');
}

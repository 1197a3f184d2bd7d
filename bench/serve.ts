// node dist/bench/main.js serve: Refinery Studio's sampler as a user meets it: the time from the
// POST of a sampling job to its first streamed step, and the steps per second of the stream, against
// the same sampling called in-process from the library (generate(), same model, settings, seed and
// thread count, no server, no PNG per step). Runs interleaved A B A B; prints medians, their spread
// and the ratio. (The denoiser itself against Python PyTorch: `node dist/bench/main.js diffusion`.)
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { DIFFUSION_CHECKPOINT, generate, loadDiffusionModel } from '../src/diffusion';
import { startStudio } from '../src/serve/server';
import { setNumThreads } from '../src/tensor';
import { shippedFile } from '../src/train/shipped';
import { intFlag, median, parseBenchFlags } from './common';

const USAGE = `usage: node dist/bench/main.js serve [options]

Time to the first streamed step and streamed steps/s of a Refinery Studio sampling job (POST to
first event, through the worker thread, PNG grids per step), against the library's generate() in
process with the same settings.

options:
  --threads N    intra-op threads of both (default 1: the machine is shared)
  --reps N       runs of each, interleaved (default 5)
  --n N          images per job (default 16, the page's default)
  --steps N      sampler steps (default 18, the page's default; Heun, γ = 3)
  --json         print JSON
  --help
`;

interface Timing { firstMs: number; stepsPerS: number; totalMs: number }

/** steps/s over the steps after the first: (k - 1) steps between the first and the last step's time. */
const rate = (times: number[]): number => (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000);

function postJob(port: number, params: Record<string, unknown>): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const times: number[] = [];
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/kinds/diffusion/jobs', headers: { 'content-type': 'application/json' } }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`status ${res.statusCode}`)); return; }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (frame.startsWith('event: step')) times.push(performance.now());
          if (frame.startsWith('event: error')) reject(new Error(frame));
        }
      });
      res.on('end', () => resolve({ firstMs: times[0] - t0, stepsPerS: rate(times), totalMs: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ params, client: 'bench' }));
  });
}

function spread(xs: number[]): string {
  return `${median(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}]`;
}

export async function runServeBench(o: { threads: number; reps: number; n: number; steps: number }) {
  setNumThreads(o.threads);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-bench-serve-'));
  const studio = await startStudio({ port: 0, runsDir: tmp, threads: o.threads });
  try {
    const params = { n: o.n, steps: o.steps, sampler: 'heun', guidance: 3, seed: 0 };
    const cold = await postJob(studio.port, params); // the worker's first job: the checkpoint loads
    const { denoiser } = loadDiffusionModel(shippedFile(DIFFUSION_CHECKPOINT));
    const labels = Array.from({ length: o.n }, (_, i) => i % 10);
    const lib = (): Timing => {
      const t0 = performance.now();
      const times: number[] = [];
      generate(denoiser, { labels, sampler: 'heun', steps: o.steps, guidance: 3, seed: 0, batchSize: o.n, callback: () => { times.push(performance.now()); } }).dispose();
      return { firstMs: times[0] - t0, stepsPerS: rate(times), totalMs: performance.now() - t0 };
    };
    lib(); // warm-up
    const studioRuns: Timing[] = [], libRuns: Timing[] = [];
    for (let r = 0; r < o.reps; r++) {
      studioRuns.push(await postJob(studio.port, params));
      libRuns.push(lib());
    }
    const ratios = studioRuns.map((s, i) => libRuns[i].stepsPerS / s.stepsPerS);
    return { ...o, sampler: 'heun', guidance: 3, coldFirstMs: cold.firstMs, studio: studioRuns, library: libRuns, stepTimeRatio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) } };
  } finally {
    await studio.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function runServeCommand(args: string[]): Promise<number> {
  const { flags } = parseBenchFlags('serve', args, ['threads', 'reps', 'n', 'steps', 'json', 'help'], USAGE);
  if (flags.help) { process.stdout.write(USAGE); return Promise.resolve(0); }
  const o = { threads: intFlag(flags, 'threads', 1), reps: intFlag(flags, 'reps', 5), n: intFlag(flags, 'n', 16), steps: intFlag(flags, 'steps', 18) };
  return runServeBench(o).then((r) => {
    if (flags.json) { process.stdout.write(`${JSON.stringify(r, null, 1)}\n`); return 0; }
    const s = r.studio, l = r.library;
    process.stdout.write([
      `bench serve: ${r.n} images, Heun ${r.steps} steps, γ = 3, ${r.threads} thread(s), ${r.reps} interleaved runs each (median [min-max])`,
      `  time to first step, cold (the worker's first job, checkpoint load included): ${(r.coldFirstMs / 1000).toFixed(2)} s`,
      `  time to first step, warm:  studio ${spread(s.map((x) => x.firstMs / 1000))} s   library ${spread(l.map((x) => x.firstMs / 1000))} s`,
      `  steps/s:                   studio ${spread(s.map((x) => x.stepsPerS))}   library ${spread(l.map((x) => x.stepsPerS))}`,
      `  step time, studio / library: ${r.stepTimeRatio.median.toFixed(3)}x [${r.stepTimeRatio.min.toFixed(3)}-${r.stepTimeRatio.max.toFixed(3)}]`,
      '',
    ].join('\n'));
    return 0;
  });
}

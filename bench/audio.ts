// The audio benchmark (`node dist/bench/main.js audio [--json]`):
//
// 1. Naive vs cached WaveNet generation (Refinery only): the median milliseconds of one generation
//    step for depths of 4 .. 12 layers (one stack, so the receptive field is 2^L samples), batch 1,
//    after a primer that fills the receptive field: naive generation reruns the network over the whole
//    receptive field for every sample (O(2^L)), cached generation keeps one queue per layer (O(L)).
// 2. Refinery vs Python PyTorch on the training model (10 layers x 2 stacks, 32/64/64 channels,
//    pitch and instrument conditioning): one training step (batch 4 x 4096 samples, Adam) and one
//    cached generation step (batch 1), alternated in rounds (Refinery, PyTorch, Refinery, ...) so
//    that both see the same load; the ratio of each round's medians, then the median ratio and its
//    range over the rounds.
import * as fs from 'fs';
import { seriesPlot } from '../src/train/report';
import { Generator, functions as torch, getNumThreads, noGrad, scope, setNumThreads } from '../src/tensor';
import { Adam } from '../src/optim';
import { numParams } from '../src/nn';
import { WaveNet, generate, wavenetStepper } from '../src/audio';
import { defaultThreads, findRepoRoot, hostInfo, intFlag, median, noteBusyHost, parseBenchFlags, runBenchCommand, spawnPeer, tableLines } from './common';

const MODEL = { layers: 10, stacks: 2, residualChannels: 32, gateChannels: 64, skipChannels: 64, globalClasses: { pitch: 128, instrument: 10 } };

export interface DepthRow { layers: number; receptiveField: number; cachedMsPerSample: number; naiveMsPerSample: number; speedup: number }
export interface AudioReport {
  bench: 'audio';
  threads: number;
  rounds: number;
  depths: DepthRow[];
  model: typeof MODEL & { params: number; pytorchParams: number | null };
  train: { refineryMs: number[]; pytorchMs: number[]; ratio: number | null; ratioRange: [number, number] | null; batch: number; crop: number };
  generate: { refineryMs: number[]; pytorchMs: number[]; ratio: number | null; ratioRange: [number, number] | null; samplesPerSecond: number | null };
  host: ReturnType<typeof hostInfo>;
  notes: string[];
}

function time(fn: () => void, warmup: number, reps: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** ms per step of a stepper after a receptive-field primer (the primer untimed): the steady-state cost of one sample. */
function perSample(m: WaveNet, method: 'cached' | 'naive', n: number): number {
  return noGrad(() => scope(() => {
    m.eval();
    const prime = torch.randint(0, 256, [1, m.receptiveField], { generator: new Generator(1) });
    const labels = { pitch: torch.full([1], 60, { dtype: 'int64' }), instrument: torch.full([1], 0, { dtype: 'int64' }) };
    const s = wavenetStepper(m, { method, batch: 1, labels });
    try {
      s.prime(torch.full([1], 128, { dtype: 'int64' }), prime);
      let prev = prime.select(1, prime.shape[1] - 1);
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const z = scope(() => s.step(prev, m.receptiveField + i));
        prev = scope(() => z.argmax(1));
        times.push(performance.now() - t0);
      }
      return median(times);
    } finally {
      s.dispose();
    }
  }));
}

export function runAudio(o: { threads?: number; rounds?: number; reps?: number; maxLayers?: number; python?: string; log?: (s: string) => void }): AudioReport {
  const threads = o.threads ?? defaultThreads(), rounds = o.rounds ?? 5, reps = o.reps ?? 3, maxLayers = o.maxLayers ?? 12;
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const prev = getNumThreads();
  setNumThreads(threads);
  const notes: string[] = [];
  noteBusyHost(notes);
  try {
    // 1. naive vs cached over depth
    const depths: DepthRow[] = [];
    for (let L = 4; L <= maxLayers; L += 2) {
      const m = new WaveNet({ ...MODEL, layers: L, stacks: 1 }, { generator: new Generator(0) });
      const cached = perSample(m, 'cached', 200);
      const naive = perSample(m, 'naive', L >= 12 ? 15 : L >= 10 ? 25 : 50);
      depths.push({ layers: L, receptiveField: m.receptiveField, cachedMsPerSample: cached, naiveMsPerSample: naive, speedup: naive / cached });
      log(`bench audio: ${L} layers (receptive field ${m.receptiveField}): cached ${cached.toFixed(3)} ms/sample, naive ${naive.toFixed(2)} ms/sample`);
    }
    // 2. Refinery vs PyTorch, alternating rounds
    const m = new WaveNet(MODEL, { generator: new Generator(0) });
    const opt = new Adam(m, { lr: 1e-3 });
    const batch = 4, crop = 4096, genSteps = 200;
    const codes = torch.randint(0, 256, [batch, crop + 1], { generator: new Generator(3) });
    const labels = { pitch: torch.randint(0, 128, [batch], { generator: new Generator(4) }), instrument: torch.randint(0, 10, [batch], { generator: new Generator(5) }) };
    const trainStep = () => scope(() => {
      opt.zeroGrad();
      m.loss(codes, labels).backward();
      opt.step();
    });
    const genLabels = { pitch: torch.full([1], 60, { dtype: 'int64' }), instrument: torch.full([1], 0, { dtype: 'int64' }) };
    const genStep = () => noGrad(() => scope(() => generate(m, { length: genSteps, labels: genLabels, generator: new Generator(6) })));
    const root = findRepoRoot();
    const ref = { train: [] as number[], gen: [] as number[] }, pt = { train: [] as number[], gen: [] as number[] };
    let ptParams: number | null = null;
    for (let r = 0; r < rounds; r++) {
      m.train();
      ref.train.push(time(trainStep, r === 0 ? 2 : 1, reps));
      ref.gen.push(time(genStep, 1, reps) / genSteps);
      const peer = spawnPeer({
        which: 'pytorch', bench: 'wavenet', root, python: o.python, tfjsArgs: [], isResult: (out) => typeof out.trainMs === 'number',
        args: ['--threads', String(threads), '--reps', String(reps), '--warmup', '2', '--gen-steps', String(genSteps)],
      });
      if ('failure' in peer) {
        notes.push(`PyTorch peer unavailable: ${peer.failure.error}`);
        break;
      }
      pt.train.push(Number(peer.out.trainMs));
      pt.gen.push(Number(peer.out.generateStepMs));
      ptParams = Number(peer.out.params);
      log(`bench audio: round ${r + 1}/${rounds}: train ${ref.train[r].toFixed(1)} vs ${pt.train[r].toFixed(1)} ms, generate step ${ref.gen[r].toFixed(3)} vs ${pt.gen[r].toFixed(3)} ms`);
    }
    const ratios = (a: number[], b: number[]) => a.slice(0, b.length).map((v, i) => v / b[i]);
    const summary = (a: number[], b: number[]) => {
      const r = ratios(a, b);
      return r.length ? { ratio: median(r), ratioRange: [Math.min(...r), Math.max(...r)] as [number, number] } : { ratio: null, ratioRange: null };
    };
    const params = numParams(m);
    if (ptParams !== null && ptParams !== params) notes.push(`parameter counts differ: Refinery ${params}, PyTorch ${ptParams}`);
    return {
      bench: 'audio', threads, rounds, depths,
      model: { ...MODEL, params, pytorchParams: ptParams },
      train: { refineryMs: ref.train, pytorchMs: pt.train, ...summary(ref.train, pt.train), batch, crop },
      generate: { refineryMs: ref.gen, pytorchMs: pt.gen, ...summary(ref.gen, pt.gen), samplesPerSecond: ref.gen.length ? 1000 / median(ref.gen) : null },
      host: hostInfo(), notes,
    };
  } finally {
    setNumThreads(prev);
  }
}

export function formatAudio(r: AudioReport): string {
  const lines = [`WaveNet generation, one stack of L layers (kernel 2, 32/64/64 channels), batch 1, ${r.threads} thread(s):`];
  lines.push(...tableLines(['layers', 'receptive field', 'cached ms/sample', 'naive ms/sample', 'naive / cached'],
    r.depths.map((d) => [String(d.layers), String(d.receptiveField), d.cachedMsPerSample.toFixed(3), d.naiveMsPerSample.toFixed(2), `${d.speedup.toFixed(1)}x`])));
  const x = (v: number | null, range: [number, number] | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x (rounds ${range![0].toFixed(2)}-${range![1].toFixed(2)})`);
  lines.push('', `Training model (${r.model.layers} layers x ${r.model.stacks} stacks, ${r.model.params.toLocaleString('en-US')} parameters), ${r.rounds} alternating rounds:`);
  lines.push(...tableLines(['workload', 'Refinery ms (median)', 'PyTorch ms (median)', 'Refinery / PyTorch'], [
    [`train step (batch ${r.train.batch} x ${r.train.crop})`, r.train.refineryMs.length ? median(r.train.refineryMs).toFixed(1) : 'n/a', r.train.pytorchMs.length ? median(r.train.pytorchMs).toFixed(1) : 'n/a', x(r.train.ratio, r.train.ratioRange)],
    ['cached generation step (batch 1)', r.generate.refineryMs.length ? median(r.generate.refineryMs).toFixed(3) : 'n/a', r.generate.pytorchMs.length ? median(r.generate.pytorchMs).toFixed(3) : 'n/a', x(r.generate.ratio, r.generate.ratioRange)],
  ]));
  if (r.generate.samplesPerSecond) lines.push(`Refinery cached generation: ${Math.round(r.generate.samplesPerSecond).toLocaleString('en-US')} samples/s (batch 1)`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

const USAGE = `usage: node dist/bench/main.js audio [--threads N] [--rounds N] [--reps N] [--max-layers N] [--figure FILE.svg] [--json]

WaveNet: naive vs cached generation over depth, and a training step and a cached generation step
vs the same model in Python PyTorch (bench/peers/torch_wavenet.py), in alternating rounds.
--figure writes the naive and cached cost per sample against depth as an SVG plot.
`;

/** The cost per sample of both generation methods against depth, as a standalone SVG (log scale). */
export function audioFigure(r: AudioReport): string {
  return seriesPlot('WaveNet generation: ms per sample against layers', [
    { label: 'naive (receptive field recomputed)', points: r.depths.map((d) => [d.layers, d.naiveMsPerSample] as [number, number]) },
    { label: 'cached (one queue per layer)', points: r.depths.map((d) => [d.layers, d.cachedMsPerSample] as [number, number]) },
  ], 'layers (receptive field 2^layers)', { logY: true, standalone: true });
}

export function runAudioCommand(args: string[]): number {
  return runBenchCommand(args, (a) => {
    const { flags, str } = parseBenchFlags('audio', a, ['threads', 'rounds', 'reps', 'max-layers', 'figure', 'json', 'help'], USAGE);
    return {
      json: flags.json === true, help: flags.help === true, figure: str('figure'),
      threads: intFlag(flags, 'threads', defaultThreads()), rounds: intFlag(flags, 'rounds', 5), reps: intFlag(flags, 'reps', 3), maxLayers: intFlag(flags, 'max-layers', 12),
    };
  }, USAGE, (o) => {
    const r = runAudio(o);
    if (o.figure) fs.writeFileSync(o.figure, audioFigure(r));
    return r;
  }, formatAudio);
}

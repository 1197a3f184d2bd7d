// Child process of workers.test.ts: worker_threads using tensors at the same time. The same file is
// the workers' script. Modes (each prints one `RESULT {json}` line):
//   stress ROUNDS WORKERS ITERS   rounds of WORKERS workers (and the main thread) doing randn/add/
//                                 matmul/backward/dispose in loops, values checked against plain JS
//   foreign                       a handle carried to another thread is refused there, both ways
//   exit ROUNDS MB                workers that end holding MB of tensors give them back
//   terminate                     a worker terminated in the middle of its ops frees its tensors
import { Worker, isMainThread, parentPort, workerData } from 'worker_threads';
import { Tensor, functions as torch, scope, memory, setNumThreads, manualSeed } from '../../src/tensor';
import { native } from '../../src/tensor/native';

function result(r: unknown): void {
  process.stdout.write('RESULT ' + JSON.stringify(r) + '\n');
}

// One training-like step: c = sum((a + 1) @ w); dc/dw[i][j] = sum_r (a + 1)[r][i], for every j.
// Returns how many gradient entries disagree with that sum computed in JS from the tensor's data.
function step(w: Tensor, n: number): number {
  return scope(() => {
    const a = torch.randn([n, n]);
    const b = a.add(1);
    const c = b.matmul(w).sum();
    c.backward();
    const bd = b.dataSync() as number[];
    const g = w.grad!.dataSync() as number[];
    let bad = 0;
    for (let i = 0; i < n; i++) {
      let colSum = 0, absSum = 0;
      for (let r = 0; r < n; r++) {
        colSum += bd[r * n + i];
        absSum += Math.abs(bd[r * n + i]);
      }
      // fp32 summation of n terms: error below n * eps * sum|terms|
      const tol = n * 1.2e-7 * absSum + 1e-6;
      for (let j = 0; j < n; j++) if (!(Math.abs(g[i * n + j] - colSum) <= tol)) bad++;
    }
    w.grad!.zero_();
    a.dispose();
    torch.ones([4]).mul(2); // freed by the scope
    return bad;
  });
}

function workerMain(): void {
  const { mode, iters, seed, foreignHandle } = workerData as { mode: string; iters: number; seed: number; foreignHandle?: number };
  setNumThreads(1);
  if (mode === 'stress') {
    manualSeed(seed);
    const w = torch.randn([24, 24]).requiresGrad_(true);
    let bad = 0;
    for (let k = 0; k < iters; k++) {
      bad += step(w, 24);
      torch.randn([16]).add(k); // left to the GC backstop
      if (k % 7 === 0) torch.ones([3]).dispose();
    }
    w.dispose();
    const m = memory();
    parentPort!.postMessage({ bad, iters, liveAfterDispose: m.liveTensors - m.backstopTensors });
  } else if (mode === 'foreign') {
    let error = '';
    try {
      native.Shape(foreignHandle!);
    } catch (e) {
      error = `${(e as Error).constructor.name}: ${(e as Error).message}`;
    }
    const mine = torch.ones([2, 3]);
    parentPort!.postMessage({ error, handle: mine._id });
    // keep `mine` alive until the main thread has tried it
    parentPort!.once('message', () => {
      mine.dispose();
      parentPort!.postMessage({ done: true });
    });
  } else if (mode === 'exit') {
    // held until the worker ends: never disposed, never collected (still referenced)
    const held = [torch.ones([iters * 1024 * 256])];
    parentPort!.postMessage({ live: memory().liveTensors, bytes: held[0].numel() * 4 });
  } else if (mode === 'terminate') {
    const held = torch.ones([256, 1024]);
    parentPort!.postMessage({ started: true });
    for (;;) scope(() => held.add(1).matmul(torch.ones([1024, 8])).sum().item());
  }
}

function run(data: unknown, onMessage?: (m: unknown, w: Worker) => void): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: data });
    const got: unknown[] = [];
    w.on('message', (m) => {
      got.push(m);
      onMessage?.(m, w);
    });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolve(got) : reject(new Error(`worker exited with code ${code}`))));
  });
}

async function stress(rounds: number, workers: number, iters: number): Promise<void> {
  setNumThreads(1);
  const base = memory().processLiveTensors;
  const t0 = Date.now();
  let bad = 0, steps = 0, mainBad = 0;
  const w = torch.randn([24, 24]).requiresGrad_(true);
  for (let r = 0; r < rounds; r++) {
    const all = Array.from({ length: workers }, (_, k) => run({ mode: 'stress', iters, seed: 100 * r + k }));
    // the main thread works at the same time, between the workers' messages
    let k = 0;
    const mainLoop = new Promise<void>((resolve) => {
      const tick = () => {
        mainBad += step(w, 24);
        if (++k < iters) setImmediate(tick);
        else resolve();
      };
      tick();
    });
    const results = (await Promise.all([...all, mainLoop]).then((rs) => rs.slice(0, workers))) as { bad: number; iters: number; liveAfterDispose: number }[][];
    for (const [m] of results) {
      bad += m.bad;
      steps += m.iters;
      if (m.liveAfterDispose !== 0) throw new Error(`a worker had ${m.liveAfterDispose} tensors left after disposing its own`);
    }
  }
  w.dispose();
  result({ bad, mainBad, steps, leftInProcess: memory().processLiveTensors - base, ms: Date.now() - t0 });
}

async function foreign(): Promise<void> {
  const mine = torch.ones([5]);
  let mainError = '';
  const msgs = await run({ mode: 'foreign', foreignHandle: mine._id }, (m, w) => {
    const { handle } = m as { handle?: number };
    if (handle === undefined) return;
    try {
      native.Shape(handle);
    } catch (e) {
      mainError = `${(e as Error).constructor.name}: ${(e as Error).message}`;
    }
    w.postMessage('go');
  });
  const workerError = (msgs[0] as { error: string }).error;
  const stillMine = mine.shape;
  mine.dispose();
  result({ workerError, mainError, stillMine });
}

async function exitMode(rounds: number, mb: number): Promise<void> {
  const base = memory();
  const rss0 = process.memoryUsage().rss;
  const perWorker: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [m] = (await run({ mode: 'exit', iters: mb })) as { bytes: number }[];
    perWorker.push(m.bytes);
  }
  const after = memory();
  result({
    perWorker,
    processLiveDelta: after.processLiveTensors - base.processLiveTensors,
    processBytesDelta: after.processLiveBytes - base.processLiveBytes,
    rssGrowth: process.memoryUsage().rss - rss0,
  });
}

async function terminate(): Promise<void> {
  const base = memory().processLiveTensors;
  let during = 0;
  const exitCode = await new Promise<number>((resolve, reject) => {
    const w = new Worker(__filename, { workerData: { mode: 'terminate' } });
    w.on('message', () => {
      setTimeout(() => {
        during = memory().processLiveTensors - base;
        void w.terminate();
      }, 300);
    });
    w.on('error', reject);
    w.on('exit', resolve);
  });
  // the main thread still works afterwards
  const sum = scope(() => torch.ones([10]).sum().item());
  result({ exitCode, during, after: memory().processLiveTensors - base, sum });
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  const n = args.map(Number);
  if (mode === 'stress') await stress(n[0] ?? 4, n[1] ?? 4, n[2] ?? 100);
  else if (mode === 'foreign') await foreign();
  else if (mode === 'exit') await exitMode(n[0] ?? 6, n[1] ?? 64);
  else if (mode === 'terminate') await terminate();
  else throw new Error('usage: workers_child.js stress|foreign|exit|terminate [args]');
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  workerMain();
}

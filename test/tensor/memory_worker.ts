// Child process of memory.test.ts, for what needs a process of its own:
//   node --expose-gc dist/test/tensor/memory_worker.js gc     GC backstop frees dropped tensors
//   node dist/test/tensor/memory_worker.js train [iters]      RSS and live tensors over an MLP training loop
// Prints one `RESULT {json}` line.
import { Tensor, functions as torch, scope, memory, noGrad, manualSeed } from '../../src/tensor';

function result(r: unknown): void {
  process.stdout.write('RESULT ' + JSON.stringify(r) + '\n');
}

async function gcMode(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const tick = () => new Promise((r) => setImmediate(r));
  const base = memory();
  // dropped without dispose, outside any scope: only the GC backstop can free them
  (() => {
    for (let k = 0; k < 200; k++) torch.ones([64, 64]);
  })();
  // tensors that escaped a scope by being returned, then dropped
  (() => {
    scope(() => [torch.ones([64, 64]), { t: torch.ones([64, 64]) }]);
  })();
  const dropped = memory();
  let after = dropped;
  for (let k = 0; k < 50 && after.liveTensors > base.liveTensors; k++) {
    gc();
    await tick();
    await new Promise((r) => setTimeout(r, 5));
    after = memory();
  }
  // a tensor still referenced must survive the collections
  const held = torch.ones([8]);
  for (let k = 0; k < 3; k++) {
    gc();
    await tick();
  }
  const heldAlive = !held.isDisposed && held.sum().item() === 8;
  result({ base, dropped, after, heldAlive });
}

function trainMode(iters: number): void {
  manualSeed(0);
  const D = 64, H = 128, C = 10, B = 32, lr = 0.05;
  // parameters live outside any scope and are disposed at the end
  const init = (shape: number[], scale: number) => scope(() => torch.randn(shape).mul(scale)).requiresGrad_(true);
  const w1 = init([D, H], 1 / Math.sqrt(D)), b1 = init([H], 0), w2 = init([H, C], 1 / Math.sqrt(H)), b2 = init([C], 0);
  const params: Tensor[] = [w1, b1, w2, b2];
  // a fixed pool of batches (a small "dataset"), so that the loss can fall
  const data = Array.from({ length: 8 }, () => ({
    x: torch.randn([B, D]),
    y: torch.randint(0, C, [B]),
  }));
  const step = (k: number): number =>
    scope(() => {
      const { x, y } = data[k % data.length];
      const h = x.matmul(w1).add(b1).relu();
      const logits = h.matmul(w2).add(b2);
      const loss = torch.crossEntropyLoss(logits, y);
      loss.backward();
      noGrad(() => {
        for (const p of params) {
          p.sub_(p.grad!.mul(lr));
          p.zeroGrad();
        }
      });
      return loss.item();
    });
  const t0 = Date.now();
  const samples: { iter: number; rss: number; live: number; liveBytes: number }[] = [];
  let first = 0, last = 0;
  for (let k = 0; k < iters; k++) {
    const l = step(k);
    if (k === 0) first = l;
    last = l;
    if ((k + 1) % 500 === 0) {
      const m = memory();
      samples.push({ iter: k + 1, rss: process.memoryUsage().rss, live: m.liveTensors, liveBytes: m.liveBytes });
    }
  }
  const ms = Date.now() - t0;
  for (const p of params) p.dispose();
  for (const d of data) {
    d.x.dispose();
    d.y.dispose();
  }
  result({ iters, ms, samples, firstLoss: first, lastLoss: last, liveAfterDispose: memory().liveTensors });
}

const mode = process.argv[2];
if (mode === 'gc') {
  gcMode().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (mode === 'train') {
  trainMode(Number(process.argv[3] ?? 10000));
} else {
  console.error('usage: memory_worker.js gc|train [iters]');
  process.exit(2);
}

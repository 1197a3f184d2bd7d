// Child process of memory_backstop.test.ts, synchronous throughout (no await: the event loop never
// turns, so nothing but the addon's own sweep can free what the garbage collector finds):
//   node dist/test/tensor/memory_backstop_worker.js scoped|unscoped STEPS WIDTH
//     an MLP training loop written the way a PyTorch user writes it, with or without scope()
//   node dist/test/tensor/memory_backstop_worker.js tiny COUNT
//     COUNT one-element tensors dropped without dispose
// Prints one `RESULT {json}` line.
import { functions as torch, scope, memory, manualSeed, F } from '../../src/tensor';
import { Linear, ReLU, Sequential, params } from '../../src/nn';
import { SGD } from '../../src/optim';

const [mode, stepsArg, widthArg] = process.argv.slice(2);
const steps = Number(stepsArg), width = Number(widthArg);
if (mode === 'tiny') {
  let maxLive = 0;
  for (let k = 0; k < steps; k++) {
    torch.ones([1]).add(k);
    if (k % 1000 === 0) maxLive = Math.max(maxLive, memory().liveTensors);
  }
  process.stdout.write('RESULT ' + JSON.stringify({ created: 2 * steps, maxLive, rss: process.memoryUsage.rss() }) + '\n');
  process.exit(0);
}
manualSeed(0);
const D = 64, C = 10, B = 32;
const model = new Sequential(new Linear(D, width), new ReLU(), new Linear(width, width), new ReLU(), new Linear(width, C));
const opt = new SGD(params(model), { lr: 0.05 });
const data = Array.from({ length: 8 }, () => ({ x: torch.randn([B, D]), y: torch.randint(0, C, [B]) }));

function step(k: number): number {
  const { x, y } = data[k % data.length];
  const loss = F.crossEntropy(model.forward(x), y);
  opt.zeroGrad();
  loss.backward();
  opt.step();
  return loss.item();
}

const samples: { step: number; rss: number; live: number }[] = [];
let peak = 0, first = 0, last = 0;
const t0 = Date.now();
for (let k = 0; k < steps; k++) {
  last = mode === 'scoped' ? scope(() => step(k)) : step(k);
  if (k === 0) first = last;
  const rss = process.memoryUsage.rss();
  if (rss > peak) peak = rss;
  if ((k + 1) % (steps / 20) === 0) samples.push({ step: k + 1, rss, live: memory().liveTensors });
}
process.stdout.write('RESULT ' + JSON.stringify({ mode, steps, width, ms: Date.now() - t0, peak, samples, first, last }) + '\n');

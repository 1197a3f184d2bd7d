// The engine demo: fit a small MLP to a 3-arm spiral with plain tensor ops and autograd,
// printing the loss curve. Memory stays flat: each step runs in a scope.
import { F, Generator, Tensor, functions as torch, memory, noGrad, scope, getNumThreads, torchVersion } from '../tensor';
import { intFlag, parseFlags } from './args';

function spiral(n: number, gen: Generator): { x: Tensor; y: Tensor } {
  return scope(() => {
    const classes = 3;
    const r = torch.linspace(0.05, 1, n).repeat([classes]); // (3n)
    const k = torch.arange(classes).repeatInterleave(n); // (3n)
    const noise = torch.randn([classes * n], { generator: gen }).mul(0.15);
    const theta = k.mul(2 * Math.PI / classes).add(r.mul(4)).add(noise);
    const x = torch.stack([r.mul(theta.cos()), r.mul(theta.sin())], 1); // (3n, 2)
    return { x, y: k };
  });
}

function sparkline(values: number[]): string {
  const bars = '▁▂▃▄▅▆▇█';
  const lo = Math.min(...values), hi = Math.max(...values);
  return values.map((v) => bars[Math.round(((v - lo) / (hi - lo || 1)) * (bars.length - 1))]).join('');
}

export function runDemo(args: string[]): number {
  const { flags } = parseFlags(args);
  const steps = intFlag(flags, 'steps', 600);
  const gen = new Generator(0);
  const { x, y } = spiral(200, gen);
  // 2 -> 64 -> 64 -> 3, He-initialised
  const shapes: [number, number][] = [[64, 2], [64, 64], [3, 64]];
  const params = shapes.flatMap(([o, i]) => [
    torch.randn([o, i], { generator: gen }).mul(Math.sqrt(2 / i)).requiresGrad_(),
    torch.zeros([o], { requiresGrad: true }),
  ]);
  const velocity = params.map((p) => torch.zerosLike(p));
  const lr = 0.1, momentum = 0.9;
  const forward = (inp: Tensor) => {
    let h = inp;
    for (let l = 0; l < 3; l++) {
      h = F.linear(h, params[2 * l], params[2 * l + 1]);
      if (l < 2) h = h.relu();
    }
    return h;
  };
  const losses: number[] = [];
  const t0 = performance.now();
  const live0 = memory().liveTensors;
  if (!flags.json) console.log(`refinery demo: libtorch ${torchVersion}, ${getNumThreads()} threads; MLP 2-64-64-3 on a 3-arm spiral (600 points), SGD momentum ${momentum}, lr ${lr}`);
  for (let step = 1; step <= steps; step++) {
    const loss = scope(() => {
      const l = F.crossEntropy(forward(x), y);
      l.backward();
      noGrad(() => {
        params.forEach((p, k) => {
          const g = p.grad!;
          velocity[k].mul_(momentum).add_(g);
          p.sub_(velocity[k], { alpha: lr });
          p.zeroGrad();
        });
      });
      return l.item();
    });
    losses.push(loss);
    if (!flags.json && (step % 50 === 0 || step === 1)) {
      console.log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(4)}`);
    }
  }
  const ms = performance.now() - t0;
  const accuracy = scope(() => noGrad(() => forward(x).argmax(1).eq(y).float().mean().item()));
  const leaked = memory().liveTensors - live0;
  const curve = losses.filter((_, i) => i % Math.max(1, Math.floor(steps / 60)) === 0);
  if (flags.json) {
    console.log(JSON.stringify({ steps, finalLoss: losses[losses.length - 1], accuracy, msPerStep: ms / steps, leakedTensors: leaked, losses }));
  } else {
    console.log(`loss curve  ${sparkline(curve)}  ${losses[0].toFixed(3)} -> ${losses[losses.length - 1].toFixed(4)}`);
    console.log(`train accuracy ${(accuracy * 100).toFixed(1)}%  ${(ms / steps).toFixed(2)} ms/step  tensors leaked by the loop: ${leaked}`);
  }
  return accuracy > 0.9 ? 0 : 1;
}

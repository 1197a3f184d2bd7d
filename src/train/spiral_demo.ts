// The engine demo: fit a small MLP to a 3-arm spiral with plain tensor ops and autograd, and
// report the loss curve. Memory stays flat: each step runs in a scope. `refinery demo` calls spiralDemo.
import { F, Generator, Tensor, functions as torch, memory, noGrad, scope } from '../tensor';

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

/** A series as one line of block characters (lowest ▁ to highest █). */
export function sparkline(values: number[]): string {
  const bars = '▁▂▃▄▅▆▇█';
  const lo = Math.min(...values), hi = Math.max(...values);
  return values.map((v) => bars[Math.round(((v - lo) / (hi - lo || 1)) * (bars.length - 1))]).join('');
}

export interface SpiralDemoResult {
  steps: number;
  losses: number[];
  finalLoss: number;
  /** Training-set accuracy after the last step. */
  accuracy: number;
  msPerStep: number;
  /** Tensors alive after the loop that were not before it (0: the loop does not leak). */
  leakedTensors: number;
}

/**
 * Fits a 2-64-64-3 MLP (He-initialised, SGD with momentum 0.9, lr 0.1) to a 600-point 3-arm spiral
 * for `steps` full-batch steps; `onStep` sees each step's loss.
 */
export function spiralDemo(o: { steps?: number; onStep?: (step: number, loss: number) => void } = {}): SpiralDemoResult {
  const steps = o.steps ?? 600;
  if (!Number.isSafeInteger(steps) || steps <= 0) throw new RangeError(`spiralDemo: steps must be a positive integer, got ${steps}`);
  const gen = new Generator(0);
  const { x, y } = spiral(200, gen);
  // 2 -> 64 -> 64 -> 3, He-initialised
  const shapes: [number, number][] = [[64, 2], [64, 64], [3, 64]];
  const params = shapes.flatMap(([o_, i]) => [
    torch.randn([o_, i], { generator: gen }).mul(Math.sqrt(2 / i)).requiresGrad_(),
    torch.zeros([o_], { requiresGrad: true }),
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
    o.onStep?.(step, loss);
  }
  const ms = performance.now() - t0;
  const accuracy = scope(() => noGrad(() => forward(x).argmax(1).eq(y).float().mean().item()));
  const leaked = memory().liveTensors - live0;
  for (const t of [x, y, ...params, ...velocity]) t.dispose();
  gen.dispose();
  return { steps, losses, finalLoss: losses[losses.length - 1], accuracy, msPerStep: ms / steps, leakedTensors: leaked };
}

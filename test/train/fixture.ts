// A tiny training problem for the train/ tests: a 4-16-3 MLP with dropout drawn from its own
// generator, on 64 synthetic samples in 8 shuffled batches. Randomness comes from three places a
// resume must restore: the shuffle generator (drawn at each epoch start), the dropout generator
// (drawn every step) and the default generator (input noise every step).
import { F, Generator, Tensor, functions as torch, keep, noGrad, scope } from '../../src/tensor';
import { Module } from '../../src/nn/module';
import { Parameter } from '../../src/nn/param';
import { SGD } from '../../src/optim';
import type { StepOutput, TrainOptions } from '../../src/train';

export class MLP extends Module {
  w1: Parameter;
  b1: Parameter;
  w2: Parameter;
  b2: Parameter;
  constructor(init: Generator, readonly dropout: Generator, readonly p = 0.2) {
    super();
    const param = (shape: number[], scale: number) => scope(() => Parameter.from(torch.randn(shape, { generator: init }).mul(scale)));
    this.w1 = param([4, 16], 0.5);
    this.b1 = param([16], 0.1);
    this.w2 = param([16, 3], 0.5);
    this.b2 = param([3], 0.1);
  }
  forward(x: Tensor): Tensor {
    const h = x.matmul(this.w1).add(this.b1).relu(); // (B, 16)
    return F.dropout(h, { p: this.p, training: this.training, generator: this.dropout }).matmul(this.w2).add(this.b2); // (B, 3)
  }
}

export interface Batch {
  x: Tensor;
  y: Tensor;
}

export const BATCHES_PER_EPOCH = 8;

/** Everything `train` needs for the tiny problem, built from `seed` (the same seed gives the same run). */
export function setup(seed = 0, lr = 0.1) {
  const dataGen = new Generator(seed + 100);
  const x = keep(torch.randn([64, 4], { generator: dataGen }));
  const y = keep(scope(() => x.matmul(torch.randn([4, 3], { generator: dataGen })).argmax(1))); // (64,) labels
  const shuffle = new Generator(seed + 1);
  const dropout = new Generator(seed + 2);
  const model = new MLP(new Generator(seed + 3), dropout);
  const optimizer = new SGD(model, { lr, momentum: 0.9 });

  // the epoch's order comes from the shuffle generator's state at the epoch start (an epoch generator)
  function* data(_epoch: number, startBatch: number): IterableIterator<Batch> {
    const perm = keep(torch.randperm(64, { generator: shuffle })); // kept: next() runs inside each step's scope
    try {
      for (let i = startBatch; i < BATCHES_PER_EPOCH; i++) {
        const idx = perm.narrow(0, i * 8, 8);
        yield { x: x.indexSelect(0, idx), y: y.indexSelect(0, idx) };
      }
    } finally {
      perm.dispose();
    }
  }

  const stepFn = (b: Batch): StepOutput => {
    const noisy = b.x.add(torch.randn(b.x.shape).mul(0.05)); // default generator
    const logits = model(noisy) as Tensor;
    const loss = F.crossEntropy(logits, b.y);
    const acc = logits.argmax(1).eq(b.y).float().mean();
    return { loss, acc };
  };

  const evalFn = () => noGrad(() => {
    const logits = model(x) as Tensor;
    return { loss: F.crossEntropy(logits, y), accuracy: logits.argmax(1).eq(y).float().mean() };
  });

  const options = {
    model, optimizer, data, stepFn, evalFn,
    generators: { dropout },
    epochGenerators: { shuffle },
    config: { seed, lr, model: '4-16-3', dropout: 0.2 },
  } satisfies Partial<TrainOptions<Batch>>;
  return { ...options, x, y, shuffle, dropout };
}

/** The metric records without their wall-clock time, for exact comparisons. */
export function withoutTime<T extends { time?: number }>(records: T[]): Omit<T, 'time'>[] {
  return records.map(({ time: _time, ...rest }) => rest);
}

/** Every tensor of the model as raw bytes, for exact comparisons. */
export function weightBytes(model: Module): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, t] of Object.entries(model as unknown as Record<string, unknown>)) {
    if (t instanceof Tensor) out[k] = Buffer.from(t.toBytes()).toString('hex');
  }
  return out;
}

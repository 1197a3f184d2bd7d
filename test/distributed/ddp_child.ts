// One rank of a data-parallel training run for ddp.test.ts (or the whole run without WORLD_SIZE):
// a float64 MLP regressing synthetic data, SGD with momentum, DataLoader shards of a global batch
// of 12. Usage: node ddp_child.js <runsDir> <name> <steps> [resume] ; env DIE_AT=<step> with
// DIE_RANK=<r> makes rank r SIGKILL itself at that step; OVERLAP=0 reduces the gradients after
// backward instead of during it; BUCKET_BYTES sets the bucket size. Rank 0 prints the final weights
// and the loop's ddp statistics as JSON.
import { F, Generator, Tensor, functions as torch, keep, scope } from '../../src/tensor';
import { Module } from '../../src/nn/module';
import { Parameter } from '../../src/nn/param';
import { SGD } from '../../src/optim';
import { DataLoader } from '../../src/data';
import { train } from '../../src/train';
import { ProcessGroup, rendezvousFromEnv } from '../../src/distributed';

class MLP extends Module {
  w1: Parameter;
  b1: Parameter;
  w2: Parameter;
  b2: Parameter;
  constructor(g: Generator) {
    super();
    const p = (shape: number[], s: number) => scope(() => Parameter.from(torch.randn(shape, { generator: g, dtype: 'float64' }).mul(s)));
    this.w1 = p([5, 8], 0.5);
    this.b1 = p([8], 0.1);
    this.w2 = p([8, 2], 0.5);
    this.b2 = p([2], 0.1);
  }
  forward(x: Tensor): Tensor {
    return x.matmul(this.w1).add(this.b1).tanh().matmul(this.w2).add(this.b2); // (B, 2)
  }
}

async function main() {
  const [runsDir, name, steps, resume] = process.argv.slice(2);
  const rv = rendezvousFromEnv();
  const pg = rv ? await ProcessGroup.init({ timeout: 60, heartbeat: 1 }) : undefined;
  const rank = pg?.rank ?? 0;
  const dataGen = new Generator(7);
  const x = keep(torch.randn([60, 5], { generator: dataGen, dtype: 'float64' }));
  const y = keep(scope(() => x.matmul(torch.randn([5, 2], { generator: dataGen, dtype: 'float64' })).sin()));
  // every rank starts from different weights: the broadcast from rank 0 must make them equal
  const model = new MLP(new Generator(100 + rank));
  const optimizer = new SGD(model, { lr: 0.1, momentum: 0.9 });
  const loader = new DataLoader({ x, y }, { batchSize: 12, shuffle: true, seed: 3, shard: pg ?? undefined });
  const dieAt = Number(process.env.DIE_AT ?? -1), dieRank = Number(process.env.DIE_RANK ?? -1);
  const result = await train({
    run: name, runsDir, config: { problem: 'ddp-child' }, resume: resume === 'resume', model, optimizer,
    data: (e, s) => loader.epoch(e, { startBatch: s }),
    stepFn: (b: { x: Tensor; y: Tensor }, ctx) => {
      if (ctx.step === dieAt && rank === dieRank) process.kill(process.pid, 'SIGKILL');
      return { loss: F.mseLoss(model(b.x) as Tensor, b.y) };
    },
    steps: Number(steps), logEvery: 2, checkpointEvery: 4, progress: false, processGroup: pg,
    overlapGradients: process.env.OVERLAP !== '0',
    ...(process.env.BUCKET_BYTES ? { bucketBytes: Number(process.env.BUCKET_BYTES) } : {}),
  });
  if (rank === 0) {
    const weights: Record<string, number[]> = {};
    for (const k of ['w1', 'b1', 'w2', 'b2'] as const) weights[k] = model[k].dataSync();
    process.stdout.write(JSON.stringify({ status: result.status, step: result.step, resumedFrom: result.resumedFrom, weights, ddp: result.ddp }) + '\n');
  }
  pg?.destroy();
}

main().catch((e) => {
  process.stderr.write(`rank ${process.env.RANK ?? 0}: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

// One rank of the all-reduce bandwidth benchmark through Refinery's c10d Gloo process group (the
// peer is bench/peers/torch_ddp.py). Started by bench/ddp.ts with torchrun's variables; rank 0
// prints one JSON line: the median time of an in-place float32 all-reduce (sum) per size.
import { functions as torch, setNumThreads, tensor, torchVersion } from '../src/tensor';
import { initProcessGroup } from '../src/distributed';
import { median } from './common';

async function main() {
  const sizes = process.argv[2].split(',').map(Number);
  const reps = Number(process.argv[3]);
  setNumThreads(1);
  const pg = await initProcessGroup();
  const ms: Record<string, number> = {};
  for (const n of sizes) {
    const t = torch.ones([n], { dtype: 'float32' });
    const r = Math.max(3, Math.min(reps, Math.floor((reps * 262144) / Math.max(n, 1)) || 3));
    for (let i = 0; i < 3; i++) await pg.allReduce(t);
    const times: number[] = [];
    for (let i = 0; i < r; i++) {
      await pg.barrier();
      const t0 = performance.now();
      await pg.allReduce(t);
      times.push(performance.now() - t0);
    }
    // the slowest rank's time is the collective's time
    const worst = tensor([median(times)], { dtype: 'float64' });
    await pg.allReduce(worst, { op: 'max' });
    ms[String(n)] = worst.item() as number;
    t.dispose();
    worst.dispose();
  }
  if (pg.rank === 0) process.stdout.write(JSON.stringify({ peer: 'refinery', version: `libtorch ${torchVersion}`, ms }) + '\n');
  pg.destroy();
}

main().catch((e) => {
  process.stderr.write(`ddp_worker rank ${process.env.RANK}: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

// Process groups over c10d Gloo, three ranks in this one process (each rank's rendezvous and waits
// run on the thread pool, so they proceed side by side): collectives against closed forms,
// buckets of mixed dtypes, rendezvous errors that name what is wrong, bad arguments.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Tensor, functions as torch, tensor } from '../../src/tensor';
import { native } from '../../src/tensor/native';
import { GradientReducer, ProcessGroup, freePort, rendezvousFromEnv } from '../../src/distributed';
import { Parameter } from '../../src/nn/param';

const hasGloo = Boolean(native.distributedBackends);

async function world(n: number): Promise<ProcessGroup[]> {
  const masterPort = await freePort();
  return Promise.all(Array.from({ length: n }, (_, rank) => ProcessGroup.init({ rank, worldSize: n, masterPort, timeout: 20, heartbeat: 2 })));
}

test('allReduce, broadcast, allGather and barrier on 3 ranks match their closed forms', { skip: !hasGloo && 'built without Gloo' }, async () => {
  const pgs = await world(3);
  try {
    // rank r holds [r+1, 10(r+1)] (float64) and r+1 ones (int32)
    const a = pgs.map((pg) => tensor([pg.rank + 1, 10 * (pg.rank + 1)], { dtype: 'float64' }));
    const b = pgs.map((pg) => torch.full([4], pg.rank + 1, { dtype: 'int32' }));
    await Promise.all(pgs.map((pg, r) => pg.allReduce([a[r], b[r]])));
    for (let r = 0; r < 3; r++) {
      assert.deepEqual(a[r].tolist(), [6, 60]);
      assert.deepEqual(b[r].tolist(), [6, 6, 6, 6]);
    }
    await Promise.all(pgs.map((pg, r) => pg.allReduce(a[r], { op: 'avg' })));
    assert.deepEqual(a[1].tolist(), [6, 60]); // the same on every rank, so the mean is itself
    const m = pgs.map((pg) => tensor([pg.rank, 5 - pg.rank], { dtype: 'float32' }));
    await Promise.all(pgs.map((pg, r) => pg.allReduce(m[r], { op: 'max' })));
    assert.deepEqual(m[0].tolist(), [2, 5]);

    // many small tensors of two dtypes, some non-contiguous, over buckets of 16 bytes
    const many = pgs.map((pg) => [
      torch.arange(6, { dtype: 'float64' }).add(pg.rank).reshape([2, 3]).t(), // non-contiguous view
      torch.full([3], pg.rank, { dtype: 'float32' }),
      torch.full([5], 2 * pg.rank, { dtype: 'float64' }),
    ]);
    await Promise.all(pgs.map((pg, r) => pg.allReduce(many[r], { op: 'avg', bucketBytes: 16 })));
    for (let r = 0; r < 3; r++) {
      assert.deepEqual(many[r][0].tolist(), [[1, 4], [2, 5], [3, 6]]); // mean of k + r over r = 0..2 is k + 1
      assert.deepEqual(many[r][1].tolist(), [1, 1, 1]);
      assert.deepEqual(many[r][2].tolist(), [2, 2, 2, 2, 2]);
    }

    const c = pgs.map((pg) => tensor([[pg.rank, pg.rank + 0.5]], { dtype: 'float64' }));
    await Promise.all(pgs.map((pg, r) => pg.broadcast(c[r], { src: 2 })));
    for (let r = 0; r < 3; r++) assert.deepEqual(c[r].tolist(), [[2, 2.5]]);

    const gathered = await Promise.all(pgs.map((pg) => pg.allGather(tensor([pg.rank * 7], { dtype: 'int64' }))));
    for (const g of gathered) assert.deepEqual(g.map((t: Tensor) => t.tolist()), [[0], [7], [14]]);
    await Promise.all(pgs.map((pg) => pg.barrier()));

    // bad arguments: named, no crash
    await assert.rejects(pgs[0].allReduce(tensor([true, false])), /allReduce: tensor 0 is bool/);
    await assert.rejects(pgs[0].allReduce(torch.zeros([2], { device: 'meta' })), /allReduce: tensor 0 is on meta; the process group takes CPU tensors \(Gloo\) and, with NCCL, CUDA tensors/);
    await assert.rejects(pgs[0].allReduce(a[0], { op: 'mean' as never }), /op must be one of sum, avg, product, min, max; got "mean"/);
    await assert.rejects(pgs[0].broadcast(a[0], { src: 3 }), /src \(the root rank\) must be in \[0, 2\], got 3/);
    await assert.rejects(pgs[0].allReduce(a[0], { bucket: 1 } as never), /bucket/);
  } finally {
    for (const pg of pgs) pg.destroy();
  }
  await assert.rejects(pgs[0].barrier(), /destroyed/);
});

test('GradientReducer: buckets launched from backward\'s hooks average the gradients; misuse is named', { skip: !hasGloo && 'built without Gloo' }, async () => {
  // two ranks in this process: rank r's loss is sum(c_r * a) + sum(d_r * b) with c_r, d_r known, so
  // its gradients are c_r and d_r and the averaged ones their means; u gets no gradient (zeros)
  const pgs = await world(2);
  const made = pgs.map((pg) => {
    const a = Parameter.from(torch.zeros([3], { dtype: 'float64' }));
    const b = Parameter.from(torch.zeros([2, 2], { dtype: 'float64' }));
    const u = Parameter.from(torch.zeros([1], { dtype: 'float64' }));
    const c = tensor([1, 2, 3].map((v) => v * (pg.rank + 1)), { dtype: 'float64' });
    const d = tensor([[pg.rank, 1], [2, 3 * pg.rank]], { dtype: 'float64' });
    // 24-byte buckets: [u], [b] (32 B, alone), [a] in reverse order
    return { a, b, u, c, d, red: new GradientReducer(pg, [a, b, u], { bucketBytes: 24 }) };
  });
  try {
    for (const m of made) {
      m.red.prepare();
      m.a.mul(m.c).sum().add(m.b.mul(m.d).sum()).backward();
    }
    const extras = made.map((_, r) => tensor([r, 10], { dtype: 'float64' }));
    await Promise.all(made.map((m, r) => m.red.finish([extras[r]])));
    for (const m of made) {
      assert.deepEqual(m.a.grad!.tolist(), [1.5, 3, 4.5]);
      assert.deepEqual(m.b.grad!.tolist(), [[0.5, 1], [2, 1.5]]);
      assert.deepEqual(m.u.grad!.tolist(), [0]);
      // b and a were complete during backward; u's bucket (first in order) only in finish(), and
      // buckets start in order, so nothing could start from backward
      assert.deepEqual(m.red.stats(), { buckets: 3, launchedInBackward: 0 });
    }
    assert.deepEqual(extras[1].tolist(), [0.5, 10]);
    // with u used as well, every bucket starts during backward
    for (const m of made) {
      m.red.prepare();
      m.a.mul(m.c).sum().add(m.b.mul(m.d).sum()).add(m.u.sum()).backward();
    }
    await Promise.all(made.map((m) => m.red.finish()));
    for (const m of made) {
      assert.deepEqual(m.red.stats(), { buckets: 3, launchedInBackward: 3 });
      assert.deepEqual(m.a.grad!.tolist(), [3, 6, 9]); // accumulated over the two steps: 2 x the mean
      assert.deepEqual(m.u.grad!.tolist(), [1]);
    }
    await assert.rejects(made[0].red.finish(), /finish\(\) without prepare\(\)/);
    made[0].red.prepare();
    assert.throws(() => made[0].red.prepare(), /previous step's gradients were never finished/);
    made[0].red.cancel();
    assert.throws(() => new GradientReducer(pgs[0], [Parameter.from(torch.zeros([2], { device: 'meta' }))]), /gradient reducer: parameter 0 is on meta; the process group takes CPU tensors \(Gloo\)/);
    assert.throws(() => new GradientReducer(pgs[0], [made[0].a], { bucketBytes: 0 }), /bucketBytes must be a positive integer, got 0/);
  } finally {
    for (const m of made) m.red.dispose();
    for (const pg of pgs) pg.destroy();
  }
  // a parameter reached twice in one step (two backward passes) is refused: its bucket was on the wire
  const [solo] = await world(1);
  const p = Parameter.from(torch.ones([2], { dtype: 'float64' }));
  const red = new GradientReducer(solo, [p]);
  try {
    red.prepare();
    p.sum().backward();
    p.sum().backward();
    await assert.rejects(red.finish(), /parameter 0 received its gradient twice in one step/);
  } finally {
    red.dispose();
    solo.destroy();
  }
  assert.throws(() => red.prepare(), /the reducer was disposed/);
});

test('a rank that cannot reach the store, and a rank that never joins, time out with messages naming them', { skip: !hasGloo && 'built without Gloo' }, async () => {
  const port = await freePort();
  await assert.rejects(ProcessGroup.init({ rank: 1, worldSize: 2, masterPort: port, timeout: 1 }),
    new RegExp(`rank 1 of 2 could not reach the rendezvous store at MASTER_ADDR:MASTER_PORT = 127\\.0\\.0\\.1:${port} within 1 s \\(is rank 0 running`));
  await assert.rejects(ProcessGroup.init({ rank: 0, worldSize: 3, masterPort: await freePort(), timeout: 1 }),
    /rank 0 of 3: ranks 1, 2 did not join within 1 s .*is WORLD_SIZE=3 right, and did every rank start\?/);
});

test('torchrun variables are read and checked', () => {
  assert.equal(rendezvousFromEnv({}), null);
  assert.deepEqual(rendezvousFromEnv({ WORLD_SIZE: '4', RANK: '2', LOCAL_RANK: '0', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '1234' }),
    { rank: 2, worldSize: 4, localRank: 0, masterAddr: '10.0.0.1', masterPort: 1234 });
  assert.deepEqual(rendezvousFromEnv({ WORLD_SIZE: '2', RANK: '1' }), { rank: 1, worldSize: 2, localRank: 1, masterAddr: '127.0.0.1', masterPort: 29500 });
  assert.throws(() => rendezvousFromEnv({ WORLD_SIZE: '2' }), /WORLD_SIZE=2 is set but RANK is not/);
  assert.throws(() => rendezvousFromEnv({ WORLD_SIZE: '2', RANK: '2' }), /RANK="2": expected an integer in \[0, 1\]/);
  assert.throws(() => rendezvousFromEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_PORT: 'http' }), /MASTER_PORT="http": expected an integer in \[1, 65535\]/);
});

test('DataLoader shards: the ranks together take each batch one process takes, in the same epoch order', async () => {
  const { DataLoader } = await import('../../src/data');
  const x = torch.arange(26, { dtype: 'int64' });
  const whole = new DataLoader({ x }, { batchSize: 6, shuffle: true, seed: 5 });
  const parts = [0, 1, 2].map((rank) => new DataLoader({ x }, { batchSize: 6, shuffle: true, seed: 5, shard: { rank, worldSize: 3 } }));
  // 26 = 4 batches of 6 and 2 left over: fewer than 3 ranks' worth, so the sharded epoch has 4 batches
  assert.equal(whole.length, 5);
  assert.equal(parts[0].length, 4);
  for (const epoch of [0, 1]) {
    const lists = (l: InstanceType<typeof DataLoader>) => {
      const out: number[][] = [];
      for (const b of l.epoch(epoch)) out.push(b.x.tolist() as number[]); // a batch lives until the next
      return out;
    };
    const ref = lists(whole);
    const mine = parts.map(lists);
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(mine.map((m) => m[i].length), [2, 2, 2]);
      assert.deepEqual(ref[i].filter((_, j) => j % 3 === 1), mine[1][i]); // rank r takes positions r, r + 3
      assert.deepEqual([...mine[0][i], ...mine[1][i], ...mine[2][i]].sort((a, b) => a - b), [...ref[i]].sort((a, b) => a - b));
    }
  }
  assert.throws(() => new DataLoader({ x }, { batchSize: 8, shard: { rank: 0, worldSize: 3 } }), /batchSize 8 is not a multiple of shard.worldSize 3/);
  assert.throws(() => new DataLoader({ x }, { batchSize: 6, shard: { rank: 3, worldSize: 3 } }), /shard.rank must be an integer in \[0, 2\], got 3/);
});

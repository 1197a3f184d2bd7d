// Deterministic memory: dispose, scopes, keep, `using`, peak tracking, the GC backstop (child
// process with --expose-gc) and a long training loop whose RSS and live tensor count must stay flat
// (child process, so that the measurement is not disturbed by the other tests).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { Tensor, functions as torch, scope, keep, memory, resetPeakMemory, Scope } from '../../src/tensor';

const WORKER = path.join(__dirname, 'memory_worker.js');

function live(): number {
  return memory().liveTensors;
}

test('dispose frees at once: liveTensors and liveBytes drop', () => {
  const m0 = memory();
  const t = torch.ones([100, 100]);
  const m1 = memory();
  assert.equal(m1.liveTensors, m0.liveTensors + 1);
  assert.equal(m1.liveBytes, m0.liveBytes + 100 * 100 * 4);
  t.dispose();
  const m2 = memory();
  assert.equal(m2.liveTensors, m0.liveTensors);
  assert.equal(m2.liveBytes, m0.liveBytes);
  assert.equal(t.isDisposed, true);
});

test('double dispose is harmless, and so is Symbol.dispose after dispose', () => {
  const a = torch.ones([10]);
  const b = torch.ones([10]);
  const n = live();
  a.dispose();
  a.dispose();
  a[Symbol.dispose]();
  assert.equal(live(), n - 1);
  // the freed handle slot is reused by the next tensor; a stale dispose must not free that one
  const c = torch.zeros([3]);
  a.dispose();
  assert.equal(c.isDisposed, false);
  assert.deepEqual(c.dataSync(), [0, 0, 0]);
  assert.deepEqual(b.dataSync().length, 10);
  b.dispose();
  c.dispose();
  assert.equal(live(), n - 2);
});

test('scope frees everything created inside that is not returned', () => {
  const n = live();
  let inner: Tensor[] = [];
  const r = scope(() => {
    const a = torch.ones([4]);
    const b = a.add(1);
    const c = b.mul(2); // intermediates a and b, result c
    inner = [a, b];
    return c;
  });
  assert.equal(live(), n + 1);
  assert.ok(inner.every((t) => t.isDisposed));
  assert.deepEqual(r.dataSync(), [4, 4, 4, 4]);
  r.dispose();
  assert.equal(live(), n);
});

test('scope frees on exceptions too', () => {
  const n = live();
  assert.throws(() =>
    scope(() => {
      torch.ones([4]);
      torch.ones([4]).matmul(torch.ones([3])); // throws inside libtorch
    }),
  );
  assert.equal(live(), n);
});

test('tensors nested in returned arrays, objects and Maps survive and move to the enclosing scope', () => {
  const n = live();
  let survivors: Tensor[] = [];
  let garbage: Tensor;
  const outerResult = scope(() => {
    const r = scope(() => {
      garbage = torch.ones([2]);
      const t1 = torch.ones([1]), t2 = torch.ones([2]), t3 = torch.ones([3]), t4 = torch.ones([4]);
      survivors = [t1, t2, t3, t4];
      return { x: t1, list: [t2, [t3]], m: new Map([['k', t4]]) };
    });
    assert.ok(garbage.isDisposed, 'not returned: freed by the inner scope');
    assert.ok(survivors.every((t) => !t.isDisposed), 'returned: survive the inner scope');
    assert.equal(r.x.shape[0], 1);
    assert.equal(live(), n + 4);
    return r.list[0]; // only t2 leaves the outer scope
  });
  // the survivors moved to the outer scope, which freed all but its own result
  assert.equal(outerResult, survivors[1]);
  assert.deepEqual(survivors.map((t) => t.isDisposed), [true, false, true, true]);
  assert.equal(live(), n + 1);
  outerResult.dispose();
  assert.equal(live(), n);
});

test('nested scopes free at their own end', () => {
  const n = live();
  scope(() => {
    const a = torch.ones([2]);
    const b = scope(() => {
      const c = torch.ones([2]);
      scope(() => {
        torch.ones([2]);
        torch.ones([2]);
        assert.equal(live(), n + 4);
      });
      assert.equal(live(), n + 2);
      return c.add(a); // c is freed, the sum moves up
    });
    assert.equal(live(), n + 2);
    assert.deepEqual(b.dataSync(), [2, 2]);
  });
  assert.equal(live(), n);
});

test('keep() protects a tensor from every enclosing scope until disposed', () => {
  const n = live();
  let kept!: Tensor;
  scope(() => {
    scope(() => {
      kept = keep(torch.ones([3]));
      torch.ones([3]);
    });
    assert.equal(kept.isDisposed, false);
  });
  assert.equal(kept.isDisposed, false);
  assert.equal(live(), n + 1);
  const viaMethod = scope(() => torch.zeros([2]).keep().add(0).keep());
  assert.equal(live(), n + 3, 'both kept tensors survive; the method form returns the tensor');
  kept.dispose();
  viaMethod.dispose();
  assert.equal(live(), n + 1, 'the first kept zeros is still alive until disposed');
});

test('Scope objects: close() with survivors, Symbol.dispose, and idempotent close', () => {
  const n = live();
  const s = new Scope();
  const a = torch.ones([2]);
  const b = torch.ones([2]);
  s.close([b]);
  assert.ok(a.isDisposed);
  assert.ok(!b.isDisposed);
  s.close();
  assert.ok(!b.isDisposed, 'closing twice does nothing');
  b.dispose();

  const s2 = new Scope();
  torch.ones([2]);
  torch.ones([2]);
  assert.equal(live(), n + 2);
  s2[Symbol.dispose]();
  assert.equal(live(), n);
});

test('`using` declarations: a Scope and single tensors end with the block', () => {
  const n = live();
  let seen: Tensor[] = [];
  {
    using _s = new Scope();
    seen = [torch.ones([5]), torch.ones([5]).mul(3)];
    assert.equal(live(), n + 3);
  }
  assert.ok(seen.every((t) => t.isDisposed));
  assert.equal(live(), n);
  let t!: Tensor;
  {
    using x = torch.ones([7]);
    t = x;
    assert.equal(scope(() => x.sum().item()), 7);
  }
  assert.ok(t.isDisposed, 'a `using` tensor is disposed at the end of its block');
  assert.equal(live(), n);
  // `using` also disposes when the block throws
  let u!: Tensor;
  assert.throws(() => {
    using y = torch.ones([2]);
    u = y;
    throw new Error('boom');
  }, /boom/);
  assert.ok(u.isDisposed);
});

test('peakBytes tracks the high-water mark until reset', () => {
  const base = memory();
  resetPeakMemory();
  assert.equal(memory().peakBytes, base.liveBytes);
  const big = torch.zeros([256, 1024]); // 1 MiB
  const small = torch.zeros([16]);
  big.dispose();
  const m = memory();
  assert.equal(m.liveBytes, base.liveBytes + 64);
  assert.equal(m.peakBytes, base.liveBytes + 1024 * 1024 + 64, 'the peak was with both tensors alive');
  resetPeakMemory();
  assert.equal(memory().peakBytes, memory().liveBytes);
  small.dispose();
  // a scope's temporaries count toward the peak while they live
  resetPeakMemory();
  const before = memory().liveBytes;
  const liveBefore = live();
  scope(() => {
    torch.zeros([1024, 256]);
  });
  assert.equal(memory().liveBytes, before);
  assert.equal(memory().peakBytes, before + 1024 * 1024);
  assert.equal(live(), liveBefore);
});

function runWorker(args: string[], nodeFlags: string[], timeoutMs: number) {
  const r = spawnSync(process.execPath, [...nodeFlags, WORKER, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, REFINERY_NUM_THREADS: process.env.REFINERY_NUM_THREADS ?? '2' },
  });
  const stderr = (r.stderr ?? '').split('\n').filter((l) => !/^W\d{8} |^WARNING: Logging before/.test(l)).join('\n');
  assert.equal(r.status, 0, `memory_worker ${args.join(' ')}: status ${r.status} signal ${r.signal}\n${stderr.slice(-3000)}`);
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, 'no RESULT line');
  return JSON.parse(line.slice(7));
}

test('GC backstop: tensors dropped without dispose are freed after global.gc()', () => {
  const r = runWorker(['gc'], ['--expose-gc'], 60_000);
  assert.equal(r.dropped.liveTensors, r.base.liveTensors + 202, 'all dropped tensors were live before the collection');
  assert.equal(r.after.liveTensors, r.base.liveTensors, 'the backstop freed every dropped tensor');
  assert.equal(r.after.liveBytes, r.base.liveBytes);
  assert.equal(r.heldAlive, true, 'a referenced tensor survives collections');
});

test('10,000 MLP training steps (64-128-10, batch 32): RSS within 10% of its value at step 500, liveTensors constant', () => {
  const r = runWorker(['train', '10000'], [], 120_000);
  const s = r.samples as { iter: number; rss: number; live: number; liveBytes: number }[];
  assert.equal(s.length, 20);
  const ref = s[0];
  assert.equal(ref.iter, 500);
  for (const x of s) {
    assert.equal(x.live, ref.live, `live tensors at step ${x.iter}`);
    assert.equal(x.liveBytes, ref.liveBytes, `live bytes at step ${x.iter}`);
    assert.ok(Math.abs(x.rss - ref.rss) <= 0.1 * ref.rss,
      `RSS ${(x.rss / 2 ** 20).toFixed(1)} MiB at step ${x.iter} vs ${(ref.rss / 2 ** 20).toFixed(1)} MiB at step 500`);
  }
  assert.equal(ref.live, 20, '4 parameters and 8 batches of (x, y); every step frees its temporaries and gradients');
  assert.equal(r.liveAfterDispose, 0);
  assert.ok(r.lastLoss < r.firstLoss / 4, `the model learns (loss ${r.firstLoss} -> ${r.lastLoss})`);
  const mb = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(`train: ${r.iters} steps in ${r.ms} ms; RSS ${mb(ref.rss)} MiB at step 500, ` +
    `${mb(Math.min(...s.map((x) => x.rss)))}-${mb(Math.max(...s.map((x) => x.rss)))} MiB over the run; ${ref.live} live tensors`);
  // the time is reported, not asserted (bench/ measures speed); the spawn's 120 s timeout catches a hang
});

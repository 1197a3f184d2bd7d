// The GC backstop must hold memory for a user who forgets scope(): the addon reports every
// backstopped tensor's memory to V8 (its storage, a per-tensor and per-graph-node overhead, and the
// activations its graph keeps alive) and frees the handles whose JS objects a collection found dead,
// without waiting for the event loop.
// Child processes (memory_backstop_worker.ts), so that RSS is not disturbed by other tests.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'path';
import { spawnSync } from 'child_process';

const WORKER = path.join(__dirname, 'memory_backstop_worker.js');
const MiB = 2 ** 20;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [WORKER, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, REFINERY_NUM_THREADS: '1' },
  });
  assert.equal(r.status, 0, `memory_backstop_worker ${args.join(' ')}: status ${r.status} signal ${r.signal}\n${(r.stderr ?? '').slice(-3000)}`);
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, 'no RESULT line');
  return JSON.parse(line.slice(7));
}

interface Loop {
  ms: number;
  peak: number;
  samples: { step: number; rss: number; live: number }[];
  first: number;
  last: number;
}

test('an MLP loop without scope() (2,000 steps, 64-256-256-10, synchronous) stays within 2x the RSS of the scoped loop, and flat', () => {
  const steps = 2000, width = 256;
  const scoped = run(['scoped', String(steps), String(width)]) as Loop;
  const unscoped = run(['unscoped', String(steps), String(width)]) as Loop;
  const mb = (b: number) => (b / MiB).toFixed(0);
  console.log(`backstop: peak RSS ${mb(unscoped.peak)} MiB without scope() vs ${mb(scoped.peak)} MiB with (${(unscoped.peak / scoped.peak).toFixed(2)}x); ` +
    `${unscoped.ms} vs ${scoped.ms} ms; live tensors without scope() at the samples: ${unscoped.samples.map((s) => s.live).join(' ')}`);
  assert.equal(unscoped.first, scoped.first, 'the same computation');
  assert.ok(Math.abs(unscoped.last - scoped.last) <= 1e-4 * Math.max(1, Math.abs(scoped.last)), `losses ${unscoped.last} vs ${scoped.last}`);
  // Before the backstop swept by itself, every step's graph stayed (about 180 KB a step here):
  // 2,000 steps grew RSS by some 300 MiB, past 2x (measured: 2.26x). Now about 1.25x: between
  // collections V8 lets reported external memory grow by 64 MiB, the sweep lags by at most 32 MiB of
  // reported memory, and the graph estimate covers most but not all of what a graph holds.
  assert.ok(unscoped.peak <= 2 * scoped.peak, `peak RSS ${mb(unscoped.peak)} MiB without scope() vs ${mb(scoped.peak)} MiB with`);
  const half = unscoped.samples.length / 2;
  const firstHalf = Math.max(...unscoped.samples.slice(0, half).map((s) => s.rss));
  const secondHalf = Math.max(...unscoped.samples.slice(half).map((s) => s.rss));
  assert.ok(secondHalf <= firstHalf + 96 * MiB, `RSS still growing: ${mb(firstHalf)} MiB in the first half, ${mb(secondHalf)} MiB in the second`);
  assert.ok(Math.max(...unscoped.samples.map((s) => s.live)) < steps, 'dropped tensors are freed during the loop');
});

test('400,000 one-element tensors dropped without dispose in a synchronous loop: most are freed during the loop', () => {
  const r = run(['tiny', '200000']);
  // Each collection of the young generation (every few MB of JS allocation) clears them; the
  // bound leaves room for several collection intervals.
  assert.ok(r.maxLive < r.created / 4, `up to ${r.maxLive} of ${r.created} tensors were live at once`);
});

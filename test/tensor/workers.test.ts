// Worker threads: each Node environment (main thread, every worker) has its own handle table in the
// addon, so that workers loading and augmenting data while the main thread trains cannot corrupt
// each other's tensors. Each scenario runs in a child process (workers_child.ts): a crash there fails
// the test with its output instead of taking the runner down.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'path';
import { spawnSync } from 'child_process';

const CHILD = path.join(__dirname, 'workers_child.js');

function runChild(args: string[], timeoutMs: number) {
  const r = spawnSync(process.execPath, [CHILD, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    env: { ...process.env, REFINERY_NUM_THREADS: '1' },
  });
  assert.equal(r.status, 0, `workers_child ${args.join(' ')}: status ${r.status} signal ${r.signal}\n${(r.stderr ?? '').slice(-3000)}`);
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `no RESULT line\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice(7));
}

test('4 workers and the main thread doing randn/add/matmul/backward/dispose at once, 5 rounds: no crash, every gradient right', () => {
  const rounds = 5, workers = 4, iters = 60;
  const r = runChild(['stress', String(rounds), String(workers), String(iters)], 120_000);
  assert.equal(r.steps, rounds * workers * iters);
  assert.equal(r.bad, 0, 'gradient entries in the workers that differ from the column sums computed in JS');
  assert.equal(r.mainBad, 0, 'gradient entries in the main thread that differ');
  assert.equal(r.leftInProcess, 0, 'tensors left in the process after every worker ended');
  console.log(`workers: ${r.steps} worker steps + ${rounds * iters} main-thread steps in ${r.ms} ms`);
});

test('a tensor handle carried to another thread is refused there with a clear Error, both ways', () => {
  const r = runChild(['foreign'], 60_000);
  for (const e of [r.workerError, r.mainError]) {
    assert.match(e, /^Error: argument 0: tensor handle \d+ belongs to another thread: tensors cannot be shared between worker threads/);
  }
  assert.deepEqual(r.stillMine, [5], 'the refused use did not touch the owner\'s tensor');
});

test('a worker that ends holding tensors gives them back (6 workers x 64 MiB)', () => {
  const r = runChild(['exit', '6', '64'], 90_000);
  assert.deepEqual(r.perWorker, Array(6).fill(64 * 2 ** 20));
  assert.equal(r.processLiveDelta, 0, 'live tensors in the process after the workers ended');
  assert.equal(r.processBytesDelta, 0);
  // 384 MiB were allocated over the run; if they were not freed, RSS would have grown by at least
  // that much. A new isolate's own heap and allocator caches may stay, well below it.
  assert.ok(r.rssGrowth < 192 * 2 ** 20, `RSS grew by ${(r.rssGrowth / 2 ** 20).toFixed(0)} MiB`);
});

test('worker.terminate() in the middle of a loop of ops: the process survives and the worker\'s tensors are freed', () => {
  const r = runChild(['terminate'], 60_000);
  assert.equal(r.exitCode, 1, 'terminate() ends a worker with code 1');
  assert.ok(r.during >= 1, 'the worker held tensors while it ran');
  assert.equal(r.after, 0);
  assert.equal(r.sum, 10);
});

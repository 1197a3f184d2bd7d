// Trains the fixture problem in its own process until it receives SIGINT (loop.test.ts sends it
// after "ready"), then prints the result as JSON. Usage: node sigint_child.js <runsDir> <steps>
import { manualSeed } from '../../src/tensor';
import { train } from '../../src/train';
import { setup } from './fixture';

const [runsDir, steps] = process.argv.slice(2);
manualSeed(42);
const s = setup(0);
const sleeper = new Int32Array(new SharedArrayBuffer(4));

train({
  ...s,
  run: 'child', runsDir, steps: Number(steps), logEvery: 1, evalEvery: 50, progress: false,
  stepFn: (batch, ctx) => {
    if (ctx.step === 5) process.stdout.write('ready\n');
    if (ctx.step >= 5) Atomics.wait(sleeper, 0, 0, 2); // slow steps, so that the signal arrives mid-run
    return s.stepFn(batch);
  },
}).then((r) => {
  process.stdout.write(JSON.stringify({ status: r.status, step: r.step, checkpoint: r.checkpoint }) + '\n');
});

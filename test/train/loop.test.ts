// The training loop: an interrupted (stop hook, emitted SIGINT, real SIGINT to a child process)
// and resumed run reproduces the uninterrupted run's metrics and weights bit for bit; flat memory;
// config checks on resume; the report; errors.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { Tensor, functions as torch, manualSeed, memory, scope } from '../../src/tensor';
import { DataLoader, saveImageGrid } from '../../src/data';
import { TrainOptions, readMetrics, train } from '../../src/train';
import { Batch, setup, weightBytes, withoutTime } from './fixture';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'loop-test-'));
let runs = 0;
const SEED = 42;

type Plan = Partial<TrainOptions<Batch>>;

/** Trains the fixture problem from scratch (default generator seeded) with `plan`. */
async function trainFresh(name: string, plan: Plan) {
  manualSeed(SEED);
  const s = setup(0);
  const result = await train({ ...s, run: name, runsDir: root, progress: false, ...plan });
  return { s, result };
}

/** Metrics and final weights of an uninterrupted run. */
async function reference(plan: Plan) {
  const { s, result } = await trainFresh(`ref-${runs++}`, plan);
  assert.equal(result.status, 'completed');
  return { records: withoutTime(result.run.readMetrics()), weights: weightBytes(s.model) };
}

/** Continues run `name` from its latest checkpoint with fresh objects and a default generator elsewhere. */
async function resume(name: string, plan: Plan) {
  manualSeed(12345);
  const s = setup(0);
  const result = await train({ ...s, run: name, runsDir: root, progress: false, resume: true, ...plan });
  return { s, result, records: withoutTime(result.run.readMetrics()) };
}

const cases: { title: string; plan: Plan; stopAt: number }[] = [
  { title: 'by steps, stopped mid-epoch, logging every step', plan: { steps: 20, logEvery: 1, evalEvery: 5, checkpointEvery: 6 }, stopAt: 11 },
  { title: 'by epochs, stopped mid-window (logEvery 3)', plan: { epochs: 3, logEvery: 3, evalEvery: 4 }, stopAt: 7 },
  { title: 'by epochs, stopped on an epoch boundary, eval and checkpoint per epoch', plan: { epochs: 3, logEvery: 5, evalEvery: 'epoch', checkpointEvery: 'epoch' }, stopAt: 8 },
];

for (const c of cases) {
  test(`exact resume (${c.title}): the loss curve and weights are bit-identical`, async () => {
    const ref = await reference(c.plan);
    const name = `stop-${runs++}`;
    const first = await trainFresh(name, { ...c.plan, shouldStop: (ctx) => ctx.step === c.stopAt });
    assert.equal(first.result.status, 'interrupted');
    assert.equal(first.result.step, c.stopAt);
    assert.equal(path.basename(first.result.checkpoint), `step-${String(c.stopAt).padStart(8, '0')}.safetensors`);
    const second = await resume(name, c.plan);
    assert.equal(second.result.status, 'completed');
    assert.equal(second.result.resumedFrom, c.stopAt);
    assert.ok(ref.records.length > 5);
    assert.deepStrictEqual(second.records, ref.records);
    assert.deepStrictEqual(weightBytes(second.s.model), ref.weights);
  });
}

test('exact resume with the seeded DataLoader of src/data (order from seed + epoch) and PNG media in the report', async () => {
  const loaderPlan = (s: ReturnType<typeof setup>): Plan => {
    const loader = new DataLoader({ x: s.x, y: s.y }, { batchSize: 10, shuffle: true, seed: 3 }); // 7 batches, the last of 4
    return {
      data: (epoch, startBatch) => loader.epoch(epoch, { startBatch }), epochGenerators: {},
      epochs: 3, stepsPerEpoch: loader.length, logEvery: 2, evalEvery: 'epoch',
    };
  };
  manualSeed(SEED);
  const a = setup(0);
  const ref = await train({ ...a, ...loaderPlan(a), run: `loader-ref-${runs++}`, runsDir: root, progress: false });
  assert.equal(ref.step, 21);
  const name = `loader-${runs++}`;
  manualSeed(SEED);
  const b = setup(0);
  const first = await train({ ...b, ...loaderPlan(b), run: name, runsDir: root, progress: false, shouldStop: (ctx) => ctx.step === 10 });
  assert.equal(first.status, 'interrupted');
  saveImageGrid(first.run.file('samples', 'step-10.png'), scope(() => torch.rand([4, 1, 8, 8])), { nrow: 2 });
  manualSeed(999);
  const c = setup(0);
  const second = await train({ ...c, ...loaderPlan(c), run: name, runsDir: root, progress: false, resume: true });
  assert.deepStrictEqual(withoutTime(second.run.readMetrics()), withoutTime(ref.run.readMetrics()));
  assert.deepStrictEqual(weightBytes(c.model), weightBytes(a.model));
  assert.ok(fs.readFileSync(path.join(second.run.dir, 'index.html'), 'utf8').includes('<img src="samples/step-10.png"'));
});

test('SIGINT (process.emit): finishes the step, checkpoints, returns "interrupted", removes its handler; resume is exact', async () => {
  const plan: Plan = { steps: 20, logEvery: 2, evalEvery: 10 };
  const ref = await reference(plan);
  const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
  const out: string[] = [];
  const stream = { write: (s: string) => out.push(s), isTTY: false };
  manualSeed(SEED);
  const s = setup(0);
  const name = `sigint-${runs++}`;
  let listening = 0;
  const result = await train({
    ...s, ...plan, run: name, runsDir: root, progress: { stream },
    stepFn: (batch, ctx) => {
      listening = process.listenerCount('SIGINT');
      if (ctx.step === 12) process.emit('SIGINT', 'SIGINT'); // during the 13th step
      return s.stepFn(batch);
    },
  });
  assert.equal(listening, before.int + 1);
  assert.equal(process.listenerCount('SIGINT'), before.int, 'SIGINT handler removed');
  assert.equal(process.listenerCount('SIGTERM'), before.term, 'SIGTERM handler removed');
  assert.equal(result.status, 'interrupted');
  assert.equal(result.step, 13);
  assert.ok(out.join('').includes('SIGINT: finishing this step, then saving a checkpoint'), out.join(''));
  assert.ok(fs.existsSync(result.checkpoint));
  const html = fs.readFileSync(path.join(result.run.dir, 'index.html'), 'utf8');
  assert.ok(html.includes('interrupted · step 13'));
  const second = await resume(name, plan);
  assert.deepStrictEqual(second.records, ref.records);
  assert.deepStrictEqual(weightBytes(second.s.model), ref.weights);
});

test('a child process receiving a real SIGINT exits cleanly with a checkpoint, and resuming it is exact', async () => {
  const steps = 300;
  const child = spawn(process.execPath, [path.join(__dirname, 'sigint_child.js'), root, String(steps)], {
    stdio: ['ignore', 'pipe', 'pipe'], env: process.env,
  });
  let stdout = '', stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('ready\n')) resolve();
    });
    child.on('exit', () => reject(new Error(`child exited before it was ready: ${stderr}`)));
  });
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.on('exit', (c) => resolve(c));
  });
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.equal(result.status, 'interrupted');
  assert.ok(result.step > 5 && result.step < steps, `stopped at step ${result.step}`);
  assert.ok(fs.existsSync(result.checkpoint));
  assert.match(stderr, /SIGINT: finishing this step/);
  assert.equal(readMetrics(path.join(root, 'child', 'metrics.jsonl')).filter((r) => r['train/loss'] !== undefined).length, result.step);

  const plan: Plan = { steps, logEvery: 1, evalEvery: 50 };
  const second = await resume('child', plan);
  assert.equal(second.result.resumedFrom, result.step);
  const ref = await reference(plan);
  assert.deepStrictEqual(second.records, ref.records);
  assert.deepStrictEqual(weightBytes(second.s.model), ref.weights);
});

test('flat memory: the same number of live tensors at step 3 and step 30', async () => {
  manualSeed(SEED);
  const s = setup(0);
  const live: number[] = [];
  await train({
    ...s, run: `memory-${runs++}`, runsDir: root, progress: false, steps: 40, logEvery: 1, checkpointEvery: 10, evalEvery: 7,
    stepFn: (batch, ctx) => {
      if (ctx.step === 3 || ctx.step === 30) live.push(memory().liveTensors);
      return s.stepFn(batch);
    },
  });
  assert.equal(live.length, 2);
  // train() awaits between steps, and between jobs the GC backstop may free garbage that earlier tests dropped,
  // so the count can only fall for reasons outside this loop; a step that leaks a tensor makes it grow by 27+.
  assert.ok(live[1] <= live[0], `live tensors grew from ${live[0]} at step 3 to ${live[1]} at step 30`);
});

test('resuming with a different config errors clearly, unless the change is allowed', async () => {
  const name = `config-${runs++}`;
  await trainFresh(name, { steps: 4, shouldStop: (ctx) => ctx.step === 2 });
  manualSeed(SEED);
  const s = setup(0);
  await assert.rejects(train({ ...s, config: { ...s.config, lr: 0.5 }, run: name, runsDir: root, progress: false, steps: 4, resume: true }),
    /run "config-\d+": the config differs .*lr: 0\.1 -> 0\.5/);
  await assert.rejects(train({ ...s, run: name, runsDir: root, progress: false, steps: 4 }), /already exists/);
  const ok = await train({ ...s, config: { ...s.config, lr: 0.5 }, run: name, runsDir: root, progress: false, steps: 4, resume: true, allowConfigChange: ['lr'] });
  assert.equal(ok.resumedFrom, 2);
  assert.equal(ok.status, 'completed');
});

test('the report: an <svg> per metric (train, eval, lr), config table, written at the end', async () => {
  const { result } = await trainFresh(`report-${runs++}`, { steps: 12, logEvery: 2, evalEvery: 6 });
  const html = fs.readFileSync(path.join(result.run.dir, 'index.html'), 'utf8');
  const plots = [...html.matchAll(/<svg [^>]*aria-label="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(plots.sort(), ['eval/accuracy', 'eval/loss', 'lr', 'train/acc', 'train/loss']);
  assert.ok(html.includes('completed · step 12'));
  assert.ok(html.includes('<tr><th>model</th><td>4-16-3</td></tr>'));
  assert.ok(!/<script/i.test(html));
  const files = fs.readdirSync(path.join(result.run.dir, 'checkpoints'));
  assert.deepEqual(files.sort(), ['latest', 'step-00000012.safetensors']);
});

test('progress: a plain line per 10% with loss and lr when not a TTY', async () => {
  const out: string[] = [];
  await trainFresh(`progress-${runs++}`, { steps: 20, logEvery: 2, progress: { stream: { write: (s: string) => out.push(s), isTTY: false } } });
  const lines = out.join('').trimEnd().split('\n').filter((l) => l.startsWith('progress-'));
  assert.equal(lines.length, 10, out.join(''));
  assert.match(out.join(''), /\nstep 20 eval: loss=[\d.]+ accuracy=[\d.]+\n$/);
  assert.match(lines[9], /^progress-\d+ 20\/20 \(100%\) .* it\/s elapsed \d\d:\d\d eta 00:00 epoch=2 loss=[\d.]+ lr=0\.1$/);
});

test('errors: no epochs or steps, a loss that is not a tensor, an epoch without batches', async () => {
  manualSeed(SEED);
  const s = setup(0);
  const base = { ...s, runsDir: root, progress: false as const };
  await assert.rejects(train({ ...base, run: `e-${runs++}` }), /give epochs or steps/);
  await assert.rejects(train({ ...base, run: `e-${runs++}`, steps: 2, stepFn: (b) => ({ loss: (s.stepFn(b).loss as Tensor).item() }) }),
    /returned the loss as a number; return the loss tensor .* or pass manualUpdate: true/);
  const name = `e-${runs++}`;
  await assert.rejects(train({ ...base, run: name, epochs: 1, data: () => [] }), /data\(0, 0\) yielded no batches/);
  assert.ok(fs.readFileSync(path.join(root, name, 'index.html'), 'utf8').includes('failed'));
  // manualUpdate: the step function updates the parameters itself
  const manual = await train({
    ...base, run: `e-${runs++}`, steps: 3, manualUpdate: true,
    stepFn: (b) => {
      s.optimizer.zeroGrad();
      const out = s.stepFn(b);
      (out.loss as Tensor).backward();
      s.optimizer.step();
      return { loss: (out.loss as Tensor).item() };
    },
  });
  assert.equal(manual.status, 'completed');
  assert.equal(s.optimizer.stepCount, 3);
});

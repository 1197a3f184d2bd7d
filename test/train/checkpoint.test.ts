// Checkpoints: one safetensors file with model, optimizer, counters, generator states and config;
// restoring it reproduces the weights, the optimizer's next update and the random streams exactly;
// an interrupted write leaves the previous checkpoint intact; the last K are kept.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, functions as torch, loadFile, manualSeed, memory, saveFile, scope } from '../../src/tensor';
import { Checkpoints, RestoreTargets, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint';
import { setup, weightBytes } from './fixture';
import { EMA } from '../../src/optim';
import { stateDict } from '../../src/nn/module';

// The real module object, so tests can patch it underneath the code under test.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const fs: typeof import('fs') = require('fs');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'checkpoint-test-'));
}

/** A few training steps so that weights, momentum buffers and generators have moved. */
function trainSteps(s: ReturnType<typeof setup>, n: number): void {
  const batches = s.data(0, 0);
  for (let i = 0; i < n; i++) {
    scope(() => {
      const b = batches.next().value!;
      s.optimizer.zeroGrad();
      (s.stepFn(b).loss as Tensor).backward();
      s.optimizer.step();
    });
  }
  batches.return?.();
}

/** Reads `file` once, restores `targets`, frees what it read. */
function restoreFrom(file: string, targets: RestoreTargets): void {
  const ck = loadCheckpoint(file);
  try {
    ck.restore(targets);
  } finally {
    ck.dispose();
  }
}

const draw = (g?: Generator) => scope(() => torch.randn([5], g ? { generator: g } : {}).tolist());

/** One step on the first 8 samples (no shuffling): it draws from the dropout and default generators. */
function oneStep(s: ReturnType<typeof setup>): void {
  scope(() => {
    s.optimizer.zeroGrad();
    (s.stepFn({ x: s.x.narrow(0, 0, 8), y: s.y.narrow(0, 0, 8) }).loss as Tensor).backward();
    s.optimizer.step();
  });
}

test('round trip: weights, optimizer state, counters, config, extra, and generator states', () => {
  const file = path.join(tmpDir(), 'ckpt.safetensors');
  // two identical runs: one is saved and then draws random numbers, the other takes one more step
  const a = setup(0), twin = setup(0);
  manualSeed(0);
  trainSteps(a, 3);
  saveCheckpoint(file, {
    model: a.model, optimizer: a.optimizer, step: 3, epoch: 1, batchInEpoch: 2,
    generators: { dropout: a.dropout }, config: { lr: 0.1, layers: [4, 16, 3] }, extra: { note: 'hi' },
    tensors: { t: torch.arange(4, { dtype: 'float64' }) },
  });
  const savedWeights = weightBytes(a.model);
  const nextDropout = draw(a.dropout);
  const nextDefault = draw();
  manualSeed(0); // the twin's steps draw the same noise from the default generator
  trainSteps(twin, 3);
  oneStep(twin);
  const afterOneMore = weightBytes(twin.model);

  // a different model and optimizer (another seed), restored from the file
  const b = setup(7);
  assert.notDeepEqual(weightBytes(b.model), savedWeights);
  draw(); // move the default generator away from the saved state
  const info = loadCheckpoint(file);
  info.restore({ model: b.model, optimizer: b.optimizer, generators: { default: Generator.default(), dropout: b.dropout } });
  assert.deepEqual(weightBytes(b.model), savedWeights);
  assert.equal(info.step, 3);
  assert.equal(info.epoch, 1);
  assert.equal(info.batchInEpoch, 2);
  assert.deepEqual(info.config, { lr: 0.1, layers: [4, 16, 3] });
  assert.deepEqual(info.extra, { note: 'hi' });
  const extra = info.takeTensors();
  info.dispose();
  assert.deepEqual(Object.keys(extra), ['t']);
  assert.deepEqual(extra.t.tolist(), [0, 1, 2, 3]);
  extra.t.dispose();
  assert.equal(b.optimizer.stepCount, 3);
  assert.deepEqual(draw(b.dropout), nextDropout, 'dropout generator restored');
  assert.deepEqual(draw(), nextDefault, 'default generator restored');

  // the next update is the saved run's: momentum buffers and generators restored
  const c = setup(0); // the same data as the twin's batch; its own weights and momentum moved elsewhere
  trainSteps(c, 5);
  restoreFrom(file, { model: c.model, optimizer: c.optimizer, generators: { default: Generator.default(), dropout: c.dropout } });
  oneStep(c);
  assert.deepEqual(weightBytes(c.model), afterOneMore);

  // loading frees everything it read (the optimizer copies its state into its own buffers)
  const live = memory().liveTensors;
  restoreFrom(file, { model: c.model, optimizer: c.optimizer, generators: { dropout: c.dropout } });
  assert.equal(memory().liveTensors, live);
});

test('the file is plain safetensors: dotted names with prefixes, uint8 RNG states, JSON in __metadata__', () => {
  const file = path.join(tmpDir(), 'ckpt.safetensors');
  const a = setup(0);
  trainSteps(a, 1);
  saveCheckpoint(file, { model: a.model, optimizer: a.optimizer, step: 1, generators: { dropout: a.dropout }, config: { a: 1 } });
  const { tensors, metadata } = loadFile(file);
  assert.deepEqual(Object.keys(tensors).sort(), [
    'model.b1', 'model.b2', 'model.w1', 'model.w2',
    'optim.momentum_buffer.0', 'optim.momentum_buffer.1', 'optim.momentum_buffer.2', 'optim.momentum_buffer.3', 'optim.step',
    'rng.default', 'rng.dropout',
  ]);
  assert.equal(tensors['rng.default'].dtype, 'uint8');
  assert.equal(metadata.format, 'pt');
  assert.equal(metadata.refinery_checkpoint, '1');
  assert.equal(metadata.step, '1');
  assert.equal(metadata.optim_step_count, '1');
  assert.deepEqual(JSON.parse(metadata.config), { a: 1 });
  for (const t of Object.values(tensors)) t.dispose();
});

test('loading checks: model mismatch, missing generator state, not a checkpoint', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ckpt.safetensors');
  const a = setup(0);
  saveCheckpoint(file, { model: a.model, step: 0 });
  const b = setup(1);
  const wider = setup(1);
  wider.model.b2 = scope(() => wider.model.b2.repeat(2)) as typeof wider.model.b2;
  const plain = path.join(dir, 'plain.safetensors');
  scope(() => saveFile(plain, { x: torch.zeros([1]) }));
  const live = memory().liveTensors; // every failed load below frees what it read

  assert.throws(() => restoreFrom(file, { model: b.model, optimizer: b.optimizer }), /holds no optimizer state \(it has: model\)/);
  assert.throws(() => restoreFrom(file, { model: b.model, generators: { dropout: b.dropout } }), /no state for generator "dropout" \(it has: default\)/);
  assert.throws(() => restoreFrom(file, { objects: { ema: b.optimizer } }), /holds no "ema" state \(it has: model\)/);
  assert.throws(() => restoreFrom(file, { model: wider.model }), /loadStateDict: b2 has shape \[3\], expected \[6\] \(the module's tensor\)/);
  // a file without Refinery's metadata is read as a PyTorch state dict: its names must be the model's
  assert.throws(() => restoreFrom(plain, { model: b.model }), /plain\.safetensors: loadPytorchStateDict: missing \[w1, b1, w2, b2\], unexpected \[x\]/);
  assert.throws(() => restoreFrom(plain, { generators: { default: Generator.default() } }), /holds no state for generator "default" \(it has: none\)/);
  // a kind is checked when the file records one
  saveCheckpoint(file, { model: a.model, step: 0, config: { kind: 'mlp' } });
  assert.throws(() => loadCheckpoint(file, 'fashion-classifier'), /ckpt\.safetensors is not a fashion-classifier checkpoint \(its config says kind "mlp"\)/);
  loadCheckpoint(file, 'mlp').dispose();
  assert.equal(memory().liveTensors, live);
});

test('atomic: a write interrupted midway leaves the previous checkpoint and the latest pointer intact', () => {
  const dir = tmpDir();
  const ckpts = new Checkpoints(dir, { keep: 3 });
  const a = setup(0);
  trainSteps(a, 2);
  const first = ckpts.save({ model: a.model, optimizer: a.optimizer, step: 2, generators: { dropout: a.dropout } });
  const savedWeights = weightBytes(a.model);
  trainSteps(a, 2);

  // the disk fills up (or the process dies) after 1000 bytes of the next checkpoint
  const realWrite = fs.writeSync;
  let written = 0;
  (fs as { writeSync: unknown }).writeSync = (fd: number, buf: Uint8Array, off?: number, len?: number, ...rest: unknown[]) => {
    const n = Math.min(len ?? buf.length, 1000 - written);
    if (n <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    written += n;
    return (realWrite as (...a: unknown[]) => number)(fd, buf, off, n, ...rest);
  };
  try {
    assert.throws(() => ckpts.save({ model: a.model, optimizer: a.optimizer, step: 4, generators: { dropout: a.dropout } }), /ENOSPC/);
  } finally {
    (fs as { writeSync: unknown }).writeSync = realWrite;
  }
  assert.ok(written === 1000, 'the write was cut midway');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['latest', 'step-00000002.safetensors'], 'no partial or temp file left');
  assert.equal(ckpts.latest(), first);
  const b = setup(5);
  const info = loadCheckpoint(ckpts.latest()!);
  info.restore({ model: b.model, optimizer: b.optimizer, generators: { dropout: b.dropout } });
  assert.equal(info.step, 2);
  info.dispose();
  assert.deepEqual(weightBytes(b.model), savedWeights);
});

test('a temp file left by a killed writer is removed; the pointer falls back to the newest file', () => {
  const dir = tmpDir();
  const a = setup(0);
  const ckpts = new Checkpoints(dir);
  ckpts.save({ model: a.model, step: 10 });
  // a process that died mid-write (pid 2^22+1 is above Linux's pid_max default... or simply not alive)
  const dead = path.join(dir, 'step-00000020.safetensors.tmp-4194305-abcdef123456');
  fs.writeFileSync(dead, 'partial');
  new Checkpoints(dir);
  assert.ok(!fs.existsSync(dead));
  fs.rmSync(path.join(dir, 'latest'));
  assert.equal(new Checkpoints(dir).latest(), path.join(dir, 'step-00000010.safetensors'));
  assert.equal(new Checkpoints(path.join(dir, 'empty')).latest(), null);
});

test('keeps the last K checkpoints and points latest at the newest', () => {
  const dir = tmpDir();
  const a = setup(0);
  const ckpts = new Checkpoints(dir, { keep: 2 });
  for (const step of [100, 200, 300, 400, 500]) ckpts.save({ model: a.model, step });
  assert.deepEqual(ckpts.list().map((c) => c.step), [400, 500]);
  assert.equal(fs.readFileSync(path.join(dir, 'latest'), 'utf8'), 'step-00000500.safetensors\n');
  assert.equal(ckpts.latest(), ckpts.pathFor(500));
  assert.throws(() => new Checkpoints(dir, { keep: 0 }), /keep must be at least 1/);
});

test('Python PyTorch reads the checkpoint: weights by dotted name, and rng.default continues the same stream', (t) => {
  const { spawnSync } = require('child_process') as typeof import('child_process');
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) {
    t.skip('python3 with torch is not installed');
    return;
  }
  const file = path.join(tmpDir(), 'ckpt.safetensors');
  const a = setup(0);
  saveCheckpoint(file, { model: a.model, step: 0, config: { hidden: 16 } });
  const expected = draw();
  // an independent reader: struct + json + torch, no Refinery code
  const py = `
import json, struct, sys, torch
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
def get(name, dtype):
    b, e = header[name]['data_offsets']
    return torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=dtype).reshape(header[name]['shape'])
torch.set_rng_state(get('rng.default', torch.uint8))
print(json.dumps({'w1': get('model.w1', torch.float32).tolist(), 'randn': torch.randn(5).tolist(),
                  'config': json.loads(header['__metadata__']['config'])}))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', py, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.w1, a.model.w1.tolist());
  assert.deepEqual(out.randn, expected);
  assert.deepEqual(out.config, { hidden: 16 });
});

test('a named set of objects: an EMA saved under its own name beside model and optimizer, restored exactly', () => {
  const file = path.join(tmpDir(), 'ckpt.safetensors');
  const a = setup(0);
  const ema = new EMA(a.model, { decay: 0.9 });
  trainSteps(a, 2);
  ema.update();
  ema.update();
  saveCheckpoint(file, { model: a.model, optimizer: a.optimizer, objects: { ema }, step: 2 });
  const { tensors, metadata } = loadFile(file);
  assert.deepEqual(JSON.parse(metadata.objects), { model: 'module', optim: 'optimizer', ema: 'state' });
  assert.deepEqual(Object.keys(tensors).filter((k) => k.startsWith('ema.')).sort(), ['ema.shadow.0', 'ema.shadow.1', 'ema.shadow.2', 'ema.shadow.3', 'ema.step']);
  assert.ok(!Object.keys(tensors).some((k) => k.startsWith('optim.ema')), 'the EMA does not pose as optimizer state');
  for (const t of Object.values(tensors)) t.dispose();

  const b = setup(3);
  const emaB = new EMA(b.model, { decay: 0.9 });
  restoreFrom(file, { model: b.model, optimizer: b.optimizer, objects: { ema: emaB } });
  assert.equal(emaB.stepCount, 2);
  emaB.shadow.forEach((s, i) => assert.deepEqual(s.toBytes(), ema.shadow[i].toBytes()));
  assert.throws(() => saveCheckpoint(file, { model: a.model, objects: { rng: ema }, step: 0 }), /object name "rng" must be a word without dots and not one of model, optim, rng, extra/);
  assert.throws(() => saveCheckpoint(file, { model: a.model, objects: { 'a.b': ema }, step: 0 }), /object name "a\.b"/);

  // a run checkpointed before objects had names kept its EMA inside the optimizer's state
  const old = path.join(tmpDir(), 'old.safetensors');
  scope(() => {
    const flat: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(stateDict(a.model))) flat[`model.${k}`] = v;
    for (const [k, v] of Object.entries(a.optimizer.stateDict())) flat[`optim.${k}`] = v;
    for (const [k, v] of Object.entries(ema.stateDict())) flat[`optim.ema.${k}`] = v;
    flat['rng.default'] = Generator.default().getState();
    saveFile(old, flat, { format: 'pt', refinery_checkpoint: '1', step: '2', optim_step_count: '2' });
  });
  const c = setup(4);
  const emaC = new EMA(c.model, { decay: 0.9 });
  restoreFrom(old, { model: c.model, objects: { ema: emaC } });
  emaC.shadow.forEach((s, i) => assert.deepEqual(s.toBytes(), ema.shadow[i].toBytes()));
  ema.dispose(); emaB.dispose(); emaC.dispose();
});

test('loading a shipped model for inference reads its file once and leaves the global generator alone', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { loadClassifier } = require('../../src/vision');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { loadNoisyClassifier } = require('../../src/diffusion');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { loadDiffusionModel } = require('../../src/diffusion/model');
  const root = path.resolve(__dirname, '../../..');
  const cases: [string, (f: string) => unknown][] = [
    ['fashion-classifier', loadClassifier],
    ['noisy-classifier', loadNoisyClassifier],
    ['fashion-diffusion', loadDiffusionModel],
  ];
  for (const [name, load] of cases) {
    const file = path.join(root, 'checkpoints', `${name}.safetensors`);
    manualSeed(123);
    const expected = draw();
    manualSeed(123);
    const realOpen = fs.openSync;
    let opens = 0;
    fs.openSync = ((p: import('fs').PathLike, ...rest: unknown[]) => {
      if (path.resolve(String(p)) === file) opens++;
      return (realOpen as (...a: unknown[]) => number)(p, ...rest);
    }) as typeof fs.openSync;
    try {
      load(file);
    } finally {
      fs.openSync = realOpen;
    }
    assert.equal(opens, 1, `${name}: read once`);
    assert.deepEqual(draw(), expected, `${name}: the global generator is where it was`);
  }
});

// The rotation-invariant convnets (src/vision/rotnet.ts) and their pipeline (train_rotnet.ts): the
// cyclic networks' outputs are invariant to 90° rotations (the dihedral one also to flips) within a
// float32 bound derived below, the plain one is not; stage sizes that break exactness are refused;
// parameter counts; a short training run writes its run folder, reloads, evaluates, ensembles and resumes exactly.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, Tensor, functions as torch, loadFile, noGrad, scope } from '../../src/tensor';
import { numParams } from '../../src/nn';
import { DIHEDRAL } from '../../src/nn';
import { disposeTask, rotatedTask } from '../../src/data';
import { ROTNET_ARCHS, TrainRotnetResult, Rotnet, countParams, DEFAULT_ROTNET, evaluateRotnet, loadRotnet, rotnetEnsemble, stageSizes, trainRotnet, widthForParams } from '../../src/vision';

const U = 2 ** -24;

for (const arch of ROTNET_ARCHS) {
  test(`rotnet ${arch}: ${arch === 'plain' ? 'not invariant' : arch === 'dihedral' ? 'invariant to rotations and flips' : 'invariant to 90° rotations'}`, () => noGrad(() => scope(() => {
    const net = new Rotnet({ arch, width: 3, hidden: 8, inputSize: 15 }, { generator: new Generator(1) });
    net.eval();
    assert.equal(numParams(net), countParams({ ...DEFAULT_ROTNET, arch, width: 3, hidden: 8, inputSize: 15 }));
    const x = torch.rand([3, 1, 15, 15], { generator: new Generator(2) });
    const f = net.features(x), y = net(x); // (3, 8), (3, 10)
    // The views are permuted bit for bit (test/nn/cyclic.test.ts); rms pooling of permuted views is
    // within (V + 2)·u·rms of itself (ibid.), and the output layer adds |W|·|Δf| plus each side's
    // own rounding (γ_{hidden+1}·(|W||f| + |b|) each): that is the bound.
    const V = arch === 'dihedral' ? 8 : 4, W = net.out.W as Tensor, b = net.out.b as Tensor;
    const scale = f.abs().matmul(W.abs().t()).add(b.abs()); // (3, 10)
    const tol = f.abs().matmul(W.abs().t()).mul((V + 2) * U).add(scale.mul(2 * 10 * U));
    const elements = arch === 'dihedral' ? [1, 2, 3, 4, 5, 6, 7] : [1, 2, 3];
    for (const g of elements) {
      const yg = net(DIHEDRAL.apply(x, g));
      const excess = yg.sub(y).abs().sub(tol).max().item() as number;
      if (arch === 'plain') assert.ok(excess > 0, `plain: T_${g} should change the output`);
      else assert.ok(excess <= 0, `T_${g}: exceeds the bound by ${excess}`);
    }
    if (arch === 'cyclic-pool' || arch === 'cyclic-roll') assert.ok((net(x.flip([3])).sub(y).abs().max().item() as number) > 1e-4, 'C4 networks see flips');
  })));
}

test('rotnet: sizes where pooling breaks exact invariance are refused; widths for equal parameter counts', () => {
  assert.deepEqual(stageSizes({ arch: 'cyclic-roll', inputSize: 31 }), [15, 7, 3]);
  assert.throws(() => new Rotnet({ arch: 'cyclic-roll', inputSize: 32 }), /rotnet: inputSize 32 gives 32x32 maps at pooling stage 1, where 3x3 stride-2 pooling does not commute with 90° rotations/);
  assert.throws(() => new Rotnet({ arch: 'cyclic-pool', inputSize: 29 }), /inputSize 29 gives 14x14 maps at pooling stage 2/);
  assert.deepEqual(stageSizes({ arch: 'plain', inputSize: 28 }), [13, 6, 2], 'plain: any size');
  assert.throws(() => new Rotnet({ arch: 'plain', inputSize: 9 }), /inputSize 9 is too small/);
  assert.throws(() => new Rotnet({ arch: 'hexagonal' as never }), /rotnet: arch must be one of plain, cyclic-pool, cyclic-roll, dihedral, got "hexagonal"/);
  for (const arch of ROTNET_ARCHS) {
    const w = widthForParams(arch, 40000);
    const n = (k: number) => countParams({ ...DEFAULT_ROTNET, arch, width: k });
    assert.ok(Math.abs(n(w) - 40000) <= Math.min(Math.abs(n(w + 1) - 40000), w > 1 ? Math.abs(n(w - 1) - 40000) : Infinity), `${arch}: width ${w} is the closest`);
  }
});

test('trainRotnet: a short run writes weights, result.json and a report; reload, TTA eval and a weighted ensemble', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotnet-'));
  const mnistRot = rotatedTask('mnist-rot');
  try {
    const runs: TrainRotnetResult[] = [];
    for (const arch of ['plain', 'cyclic-pool'] as const) {
      runs.push(await trainRotnet({ config: { model: { arch, width: 2, hidden: 8 }, batchSize: 8 }, maxSteps: 3, evalEvery: 1000, runsDir: dir, name: arch, log: null, progress: false, task: mnistRot }));
    }
    for (const r of runs) {
      assert.equal(r.status, 'completed');
      assert.equal(r.step, 3);
      for (const f of ['model.safetensors', 'result.json', 'index.html', 'augmented-batch.png', 'metrics.jsonl', 'config.json']) assert.ok(fs.existsSync(path.join(r.runDir, f)), f);
      const html = fs.readFileSync(path.join(r.runDir, 'index.html'), 'utf8');
      assert.match(html, /Confusion matrix/);
      assert.match(html, /aria-label="test confusion matrix"/);
      const saved = JSON.parse(fs.readFileSync(path.join(r.runDir, 'result.json'), 'utf8'));
      assert.equal(saved.test.n, 4000);
      // the checkpoint reloads to the same predictions as the result recorded
      const e = evaluateRotnet({ checkpoint: r.out!, progress: false, task: mnistRot });
      assert.equal(e.accuracy, r.test!.accuracy);
      assert.ok(Math.abs(e.logLoss - r.test!.logLoss) < 1e-9);
    }
    const { model, task } = loadRotnet(runs[1].out!);
    assert.equal(task, 'mnist-rot');
    assert.equal(model.config.arch, 'cyclic-pool');
    const tta = evaluateRotnet({ checkpoint: runs[1].out!, tta: 2, split: 'valid', progress: false, task: mnistRot });
    assert.equal(tta.n, 1000);
    const ens = rotnetEnsemble({ checkpoints: runs.map((r) => r.out!), progress: false, task: mnistRot });
    assert.ok(Math.abs(ens.weights.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    // fitted on the validation set: no worse there than the uniform blend or either model (to the optimiser's tolerance)
    const best = Math.min(ens.uniform.valid.logLoss, ...ens.models.map((m) => m.valid.logLoss));
    assert.ok(ens.weighted.valid.logLoss <= best + 1e-6, `${ens.weighted.valid.logLoss} vs ${best}`);
    assert.throws(() => rotnetEnsemble({ checkpoints: [runs[0].out!] }), /rotnetEnsemble: give at least 2 checkpoints, got 1/);

    // exact resume with realtime augmentation and dropout: 2 steps, then resumed to 4 = 4 straight steps
    const cfg = { config: { model: { arch: 'cyclic-roll' as const, width: 2, hidden: 8 }, batchSize: 8, seed: 3 }, evalEvery: 1000, runsDir: dir, log: null, progress: false, task: mnistRot };
    const straight = await trainRotnet({ ...cfg, maxSteps: 4, name: 'straight' });
    await trainRotnet({ ...cfg, maxSteps: 2, name: 'resumed' });
    const resumed = await trainRotnet({ ...cfg, maxSteps: 4, name: 'resumed', resume: true });
    assert.equal(resumed.step, 4);
    const a = loadFile(straight.out!).tensors, b = loadFile(resumed.out!).tensors;
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    for (const k of Object.keys(a)) assert.ok(a[k].equal(b[k]), `${k}: resumed run differs`);
  } finally {
    disposeTask(mnistRot);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Checkpoints to and from Python PyTorch: `refinery export` of each shipped model loads with
// load_state_dict(strict=True) into its twin in python/refinery_twins.py and gives our outputs; a
// state dict saved from a twin (PyTorch's own init) loads into our loaders and gives its outputs.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { Generator, Tensor, functions as torch, loadFile, noGrad, saveFile, scope, tensor } from '../../src/tensor';
import { fashionMnist } from '../../src/data';
import { toSymmetric } from '../../src/diffusion/images';
import { loadDiffusionModel } from '../../src/diffusion/model';
import { loadClassifier } from '../../src/vision';
import { loadNoisyClassifier } from '../../src/diffusion/noisy_classifier_train';
import { exportCommand as exportCmd, importCommand as importCmd } from '../../src/cli/export';
import { runCommand } from '../../src/cli/flags';

// the commands as refinery runs them (both are synchronous): the exit code, messages on stdout/stderr
const exportCommand = (args: string[]) => runCommand(exportCmd, args) as number;
const importCommand = (args: string[]) => runCommand(importCmd, args) as number;

const ROOT = path.resolve(__dirname, '../../..');
const PYTHON = '/usr/bin/python3';
const TWINS = path.join(ROOT, 'test/cli/twins_check.py');
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

type Kind = 'fashion-classifier' | 'noisy-classifier' | 'diffusion';
const SHIPPED: [Kind, string][] = [
  ['fashion-classifier', 'checkpoints/fashion-classifier.safetensors'],
  ['noisy-classifier', 'checkpoints/noisy-classifier.safetensors'],
  ['diffusion', 'checkpoints/fashion-diffusion.safetensors'],
];

// Tolerance from fp32 arithmetic: a rounding error of eps = 2^-24 per operation, accumulating as a
// random walk over a dot product of length K (sqrt(K)) and adding up over the L layers on the
// longest path, relative to the size of the values; the two sides run the same ops with possibly
// different kernels (our conv algorithms, thread splits), so they may differ by twice that.
const EPS32 = 2 ** -24;
const PATH: Record<Kind, { K: number; L: number }> = {
  'fashion-classifier': { K: 64 * 7 * 7, L: 5 }, // head Linear over 3136 features; 3 convs + 2 linears
  'noisy-classifier': { K: 64 * 9, L: 8 }, // 3x3 conv over 64 channels; 3 stages (conv + FiLM), 2 embedding linears, head
  diffusion: { K: 128 * 9, L: 60 }, // 3x3 conv over 128 channels; ~20 ResBlocks/attention blocks of ~3 layers
};
function tolerance(kind: Kind, scale: number): number {
  const { K, L } = PATH[kind];
  return 2 * EPS32 * Math.sqrt(K) * L * Math.max(1, scale);
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'export-test-'));
}

/** 8 test images x0 in [-1, 1], noisy x = x0 + sigma n at sigmas from 0.002 to 80, labels (one null). */
function writeInputs(file: string): void {
  scope(() => {
    const test = fashionMnist('test');
    const x0 = toSymmetric(test.images.narrow(0, 0, 8));
    const sigma = tensor([0.002, 0.05, 0.3, 1, 2.5, 10, 40, 80], { dtype: 'float32' });
    const noise = torch.randn([8, 1, 28, 28], { generator: new Generator(5) });
    const x = x0.add(noise.mul(sigma.reshape([8, 1, 1, 1])));
    saveFile(file, { x0, x, sigma, labels: tensor([0, 1, 2, 3, 4, 5, 6, -1], { dtype: 'int64' }) });
    test.images.dispose();
    test.labels.dispose();
  });
}

/** Our outputs on the inputs file, for a model file of `kind` (a Refinery checkpoint or a PyTorch state dict). */
function ours(kind: Kind, modelFile: string, inputsFile: string): Tensor {
  const { tensors: inp } = loadFile(inputsFile);
  try {
    return noGrad(() => {
      if (kind === 'fashion-classifier') {
        const m = loadClassifier(modelFile);
        return scope(() => m(inp.x0.add(1).div(2)));
      }
      if (kind === 'noisy-classifier') {
        const m = loadNoisyClassifier(modelFile);
        return m(inp.x, inp.sigma.to('float64'));
      }
      const { denoiser } = loadDiffusionModel(modelFile);
      return denoiser(inp.x, inp.sigma, { labels: inp.labels });
    });
  } finally {
    Object.values(inp).forEach((t) => t.dispose());
  }
}

function python(...args: string[]): void {
  const r = spawnSync(PYTHON, [TWINS, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `twins_check.py ${args.join(' ')}:\n${r.stderr}`);
}

function assertClose(kind: Kind, actual: Tensor, expected: Tensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, what);
  // the denoiser's c_in x and c_skip x are O(1) at every sigma (EDM), so its output sets the scale
  const scale = expected.abs().max().item();
  const diff = scope(() => actual.sub(expected).abs().max().item());
  const tol = tolerance(kind, scale);
  if (process.env.SHOW_DIFFS) process.stderr.write(`${what}: max diff ${diff}, tolerance ${tol}, scale ${scale}\n`);
  assert.ok(diff <= tol, `${what}: max |ours - PyTorch| = ${diff}, tolerance ${tol} (scale ${scale})`);
}

function quietly<T>(f: () => T): T {
  const log = console.log;
  console.log = () => {};
  try {
    return f();
  } finally {
    console.log = log;
  }
}

test('refinery export: each shipped model loads strictly into its PyTorch twin and gives our outputs', (t) => {
  if (!hasTorch) return t.skip(`${PYTHON} cannot import torch`);
  const dir = tmpDir();
  const inputs = path.join(dir, 'inputs.safetensors');
  writeInputs(inputs);
  for (const [kind, rel] of SHIPPED) {
    const exported = path.join(dir, `${kind}.pt.safetensors`);
    assert.equal(quietly(() => exportCommand([path.join(ROOT, rel), '--format', 'pytorch', '--out', exported])), 0);
    const { tensors, metadata } = loadFile(exported);
    const config = JSON.parse(metadata.config);
    assert.equal(config.kind, kind);
    assert.ok(!Object.keys(tensors).some((k) => /^model\.|\.W$|\.b$|gamma|beta|running[A-Z]|layers\./.test(k)), `${kind}: PyTorch names only`);
    if (kind === 'fashion-classifier') {
      assert.deepEqual(config.input.mean, [0.286]);
      assert.deepEqual(config.input.std, [0.353]);
      assert.deepEqual(tensors['body.1.num_batches_tracked'].shape, []);
      assert.ok('body.0.weight' in tensors && 'body.1.running_mean' in tensors && 'head.0.bias' in tensors && 'out.weight' in tensors);
    }
    Object.values(tensors).forEach((x) => x.dispose());
    const theirsFile = path.join(dir, `${kind}.out.safetensors`);
    python('run', exported, inputs, theirsFile);
    const theirs = loadFile(theirsFile).tensors.y;
    const mine = ours(kind, path.join(ROOT, rel), inputs);
    assertClose(kind, mine, theirs, `${kind} exported`);
    if (kind === 'fashion-classifier') assert.deepEqual(mine.argmax(1).tolist(), theirs.argmax(1).tolist());
    // the exported file itself is read by our loaders too, with the same result
    const again = ours(kind, exported, inputs);
    assert.equal(scope(() => again.sub(mine).abs().max().item()), 0, `${kind}: the export loads back here exactly`);
    [mine, theirs, again].forEach((x) => x.dispose());
  }
  fs.rmSync(dir, { recursive: true });
});

test('a state dict saved from a PyTorch twin loads into our loaders (and refinery import) and gives its outputs', (t) => {
  if (!hasTorch) return t.skip(`${PYTHON} cannot import torch`);
  const dir = tmpDir();
  const inputs = path.join(dir, 'inputs.safetensors');
  writeInputs(inputs);
  for (const [kind] of SHIPPED) {
    const state = path.join(dir, `${kind}.torch.safetensors`);
    const theirsFile = path.join(dir, `${kind}.out.safetensors`);
    python('make', kind, inputs, state, theirsFile);
    const theirs = loadFile(theirsFile).tensors.y;
    const direct = ours(kind, state, inputs);
    assertClose(kind, direct, theirs, `${kind} from PyTorch`);
    const imported = path.join(dir, `${kind}.refinery.safetensors`);
    assert.equal(quietly(() => importCommand([state, '--out', imported])), 0);
    const viaImport = ours(kind, imported, inputs);
    assert.equal(scope(() => viaImport.sub(direct).abs().max().item()), 0, `${kind}: refinery import gives the same model`);
    [theirs, direct, viaImport].forEach((x) => x.dispose());
  }
  fs.rmSync(dir, { recursive: true });
});

test('export and import refuse what they cannot convert, naming the file and what is expected', () => {
  const dir = tmpDir();
  const bare = path.join(dir, 'bare.safetensors');
  scope(() => saveFile(bare, { 'out.weight': torch.zeros([10, 128]) }));
  const stderr = process.stderr.write;
  let said = '';
  process.stderr.write = ((s: string) => { said += s; return true; }) as typeof process.stderr.write;
  const codes: number[] = [];
  try {
    codes.push(quietly(() => importCommand([bare])));
    codes.push(quietly(() => importCommand([bare, '--kind', 'fashion-classifier', '--out', path.join(dir, 'x.safetensors')])));
    codes.push(importCommand([bare, '--kind', 'gan']));
    codes.push(exportCommand([path.join(ROOT, SHIPPED[0][1]), '--out', path.join(bare, 'x.safetensors')]));
    codes.push(exportCommand([bare, '--format', 'onnx']));
    codes.push(exportCommand([bare, '--frmat', 'pytorch']));
    codes.push(importCommand([]));
  } finally {
    process.stderr.write = stderr;
  }
  // failures while converting exit 1, bad command lines 2; one line each
  assert.deepEqual(codes, [1, 1, 2, 2, 2, 2, 2]);
  const lines = said.trimEnd().split('\n');
  assert.equal(lines.length, 7, said);
  assert.match(lines[0], /^refinery import: readModel: .*bare\.safetensors records no kind: give its kind \(one of fashion-classifier, noisy-classifier, diffusion\)$/);
  assert.match(lines[1], /bare\.safetensors: loadPytorchStateDict: missing \[body\.0\.weight, .*\], unexpected \[\]/);
  assert.match(lines[2], /^refinery import: --kind: expected one of fashion-classifier, noisy-classifier, diffusion, got "gan"$/);
  assert.match(lines[3], /^refinery export: --out: cannot write .*bare\.safetensors is not a folder$/);
  assert.match(lines[4], /^refinery export: --format: expected one of pytorch, got "onnx"$/);
  assert.match(lines[5], /^refinery export: unknown flag --frmat \(did you mean --format\?\)$/);
  assert.match(lines[6], /^refinery import: expected FILE \(the safetensors state dict \(names of the torch\.nn twin\)\), got nothing$/);
  fs.rmSync(dir, { recursive: true });
});

test('python/refinery_twins.py is importable without the safetensors package', (t) => {
  if (!hasTorch) return t.skip(`${PYTHON} cannot import torch`);
  const r = spawnSync(PYTHON, ['-c', 'import sys; sys.path.insert(0, sys.argv[1]); import refinery_twins; print(",".join(refinery_twins.__all__))', path.join(ROOT, 'python')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /FashionClassifier,NoisyClassifier,UNet,Denoiser/);
});

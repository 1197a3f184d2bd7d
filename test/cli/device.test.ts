// --device for the jobs that run a model (train diffusion / classifier, sample, eval classifier):
// 'cpu' is the same job as without the flag (bit-identical output), 'cuda' and 'cuda:N' are checked
// against the machine before anything is loaded or written (a CPU-only libtorch, no GPU, or an
// index out of range: one line naming the job, the device and what this machine has), and a
// malformed value is a usage error. Data-parallel training on CUDA is refused without NCCL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkComputeDevice, cudaDeviceCount } from '../../src/tensor';
import { assertCollectivesOn, distributedBackends } from '../../src/distributed';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const gpus = cudaDeviceCount();

function refinery(args: string[], cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MAIN, ...args], { cwd, env: { ...process.env, REFINERY_NUM_THREADS: '1' } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('checkComputeDevice: cpu, cuda and cuda:N against this machine; malformed names refused', () => {
  assert.equal(checkComputeDevice('job', 'cpu'), 'cpu');
  assert.equal(checkComputeDevice('job', 'cpu:0'), 'cpu');
  for (const bad of ['gpu', 'cuda:-1', 'cuda:x', 'cpu:1', '', 3, null]) {
    assert.throws(() => checkComputeDevice('job', bad), /^TypeError: job: device must be 'cpu', 'cuda' or 'cuda:N' \(N a GPU index\), got /);
  }
  if (gpus === 0) {
    assert.throws(() => checkComputeDevice('job', 'cuda'), /^Error: job: device "cuda": CUDA is not available \(libtorch \S+ sees no CUDA device: a CPU-only build, or no GPU\)/);
    assert.throws(() => checkComputeDevice('job', 'cuda:1'), /job: device "cuda:1": CUDA is not available/);
  } else {
    assert.equal(checkComputeDevice('job', 'cuda'), 'cuda:0');
    assert.equal(checkComputeDevice('job', `cuda:${gpus - 1}`), `cuda:${gpus - 1}`);
    assert.throws(() => checkComputeDevice('job', `cuda:${gpus}`), new RegExp(`^RangeError: job: device "cuda:${gpus}": this machine has ${gpus} CUDA device`));
  }
  // data parallel: CPU tensors go through Gloo; CUDA ones need NCCL
  assertCollectivesOn('cpu', 'job');
  if (!distributedBackends().includes('nccl')) {
    assert.throws(() => assertCollectivesOn('cuda:0', 'job'), /^Error: job: data-parallel training on cuda:0 needs NCCL, which this build lacks \(backends: gloo; Gloo takes CPU tensors\)/);
  }
});

test('refinery --device: cpu is the same job; cuda without a GPU (or out of range) is one line before any work; a bad value is a usage error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'device-cli-'));
  try {
    const sample = ['sample', '--n', '4', '--steps', '2', '--batch-size', '4'];
    const missing = gpus === 0 ? 'cuda' : `cuda:${gpus}`;
    const [plain, cpu, cuda, clf, bad] = await Promise.all([
      refinery([...sample, '--out', 'plain.png'], dir),
      refinery([...sample, '--out', 'cpu.png', '--device', 'cpu'], dir),
      refinery([...sample, '--out', 'cuda.png', '--device', missing], dir),
      refinery(['train', 'classifier', '--epochs', '1', '--device', missing, '--runs-dir', 'runs'], dir),
      refinery([...sample, '--device', 'gpu'], dir),
    ]);
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(cpu.status, 0, cpu.stderr);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'cpu.png')), fs.readFileSync(path.join(dir, 'plain.png')));
    const why = gpus === 0 ? 'CUDA is not available' : `this machine has ${gpus} CUDA device`;
    assert.equal(cuda.status, 1);
    assert.equal(cuda.stderr.trim().split('\n').length, 1, cuda.stderr);
    assert.match(cuda.stderr, new RegExp(`^refinery sample: sampleGrid: device "${missing}": ${why}`));
    assert.ok(!fs.existsSync(path.join(dir, 'cuda.png')));
    assert.equal(clf.status, 1);
    assert.match(clf.stderr, new RegExp(`^refinery train classifier: trainClassifier: device "${missing}": ${why}`));
    assert.ok(!fs.existsSync(path.join(dir, 'runs')), 'no run folder for a refused device');
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'refinery sample: --device: expected cpu, cuda or cuda:N (N a GPU index), got "gpu"\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

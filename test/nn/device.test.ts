// Moving modules and optimizers (Module.to, Optimizer.to), generators per device, and custom
// functions refused where libtorch would run their TypeScript backward on a device thread.
// Devices: dtype moves are checked on the CPU (float32 -> float64); cuda cases skip without a GPU.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { F, Generator, Tensor, applyFunction, cudaIsAvailable, functions as torch, scope, tensor } from '../../src/tensor';
import { Linear } from '../../src/nn/layers/linear';
import { Module, params } from '../../src/nn/module';
import { Adam } from '../../src/optim';

const noCuda = !cudaIsAvailable() && 'no CUDA device in this build or machine';

class Net extends Module {
  l1: Linear;
  l2: Linear;
  steps = tensor([3], { dtype: 'int64' }); // an integer buffer: a dtype move leaves it alone
  constructor(g: Generator) {
    super();
    this.l1 = new Linear(4, 8, { generator: g });
    this.l2 = new Linear(8, 2, { generator: g });
  }
  forward(x: Tensor): Tensor {
    return this.l2(F.relu(this.l1(x)));
  }
}

test('Module.to(dtype): floating tensors change in place (same objects, grads moved), integer buffers stay; the optimizer state follows with Optimizer.to', () => {
  scope(() => {
    const net = new Net(new Generator(0));
    const x = torch.randn([5, 4], { generator: new Generator(1) });
    const before = params(net);
    const opt = new Adam(net, { lr: 0.1 });
    (net(x) as Tensor).square().mean().backward();
    opt.step(); // Adam state now exists in float32
    const w32 = net.l1.W as Tensor;
    const w32values = w32.dataSync();
    net.to('float64');
    assert.deepEqual(params(net), before, 'the same Parameter objects');
    for (const p of params(net)) {
      assert.equal(p.dtype, 'float64');
      assert.equal(p.grad!.dtype, 'float64', 'the gradient moved with its tensor');
      assert.ok(p.isLeaf && p.requiresGrad);
    }
    assert.equal(net.steps.dtype, 'int64');
    // exactly the float32 values, widened
    assert.deepEqual((net.l1.W as Tensor).dataSync(), w32values.map((v) => Math.fround(v)));
    opt.to();
    opt.zeroGrad();
    (net(x.to('float64')) as Tensor).square().mean().backward();
    opt.step(); // the float32 moments were moved: no dtype mismatch
    for (const [k, t] of Object.entries(opt.stateDict())) if (k !== 'step' && !k.startsWith('step.')) assert.equal(t.dtype, 'float64', k);
    assert.throws(() => net.to('cuda:7' as never), /cuda|CUDA/);
  });
});

test('generators: CPU by default, per device on request; a device this build lacks is an error', () => {
  const g = new Generator(3);
  assert.equal(g.device, 'cpu');
  assert.equal(Generator.default().device, 'cpu');
  const a = torch.rand([4], { generator: new Generator(5, { device: 'cpu' }) }).dataSync();
  assert.deepEqual(torch.rand([4], { generator: new Generator(5) }).dataSync(), a);
  if (!cudaIsAvailable()) assert.throws(() => new Generator(0, { device: 'cuda' }), /Generator|CUDA|cuda/);
});

test('generators on cuda: seeded streams repeat and differ from the CPU stream', { skip: noCuda }, () => {
  const draw = () => torch.randn([6], { generator: new Generator(7, { device: 'cuda' }), device: 'cuda' }).to('cpu').dataSync();
  assert.deepEqual(draw(), draw());
  assert.equal(new Generator(7, { device: 'cuda' }).device, 'cuda:0');
});

test('a custom function whose inputs are on cuda is refused with a message (its TypeScript backward would run on a device thread)', { skip: noCuda }, () => {
  const x = torch.ones([3], { device: 'cuda', requiresGrad: true });
  assert.throws(() => applyFunction({
    name: 'Twice', forward: (_c, a: Tensor) => a.mul(2), backward: (_c, g) => [g!.mul(2)],
  }, x), /Twice: input 0 is on cuda:0, but a custom function's TypeScript backward can only run for CPU tensors/);
});

test('Module.to(cuda) and back: parameters, gradients and optimizer state on the GPU, the same values', { skip: noCuda }, () => {
  scope(() => {
    const net = new Net(new Generator(0));
    const x = torch.randn([5, 4], { generator: new Generator(1) });
    const cpuOut = (net(x) as Tensor).dataSync();
    const opt = new Adam(net, { lr: 0.1 });
    net.to('cuda');
    opt.to();
    const out = net(x.to('cuda')) as Tensor;
    assert.equal(out.device, 'cuda:0');
    out.dataSync().forEach((v, i) => assert.ok(Math.abs(v - cpuOut[i]) <= 1e-5 * (1 + Math.abs(cpuOut[i]))));
    out.square().mean().backward();
    opt.step();
    net.to('cpu');
    assert.equal((net.l1.W as Tensor).device, 'cpu');
  });
});

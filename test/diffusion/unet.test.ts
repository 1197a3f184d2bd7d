// The U-Net denoiser backbone: shapes, conditioning, init, gradients, determinism, leaks, training.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, memory, noGrad, scope, tensor } from '../../src/tensor';
import { UNet, UNetConfig } from '../../src/diffusion/unet';
import { edmCoefficients, edmPrecondition } from '../../src/diffusion/precondition';
import { diffusionLoss } from '../../src/diffusion/objectives';
import { numParams, params, namedParams, stateDict } from '../../src/nn/module';
import { Adam } from '../../src/optim/adam';

const tiny = (o: Partial<UNetConfig> = {}): UNet => new UNet({
  inChannels: 1, outChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1,
  imageSize: 28, attentionResolutions: [14], numHeads: 2, generator: new Generator(3), ...o,
});

/** Makes the zero output conv non-zero so that gradients reach everything. */
function perturbOutput(net: UNet, seed = 9): void {
  const g = new Generator(seed);
  noGrad(() => {
    (net.outConv.W as Tensor).normal_(0, 0.1, { generator: g });
    (net.outConv.b as Tensor).normal_(0, 0.1, { generator: g });
  });
}

test('output shapes: 28×28×1 and 32×32×3, with and without labels', () => {
  scope(() => {
    const g = new Generator(0);
    const a = tiny();
    const x = torch.randn([2, 1, 28, 28], { generator: g });
    assert.deepEqual(a(x, tensor([0.1, -0.5])).shape, [2, 1, 28, 28]);
    const b = tiny({ inChannels: 3, outChannels: 3, imageSize: 32, attentionResolutions: [16], numClasses: 10 });
    const y = torch.randn([3, 3, 32, 32], { generator: g });
    const c = tensor([0.1, -0.5, 1]);
    assert.deepEqual(b(y, c, { labels: tensor([1, 9, -1], { dtype: 'int64' }) }).shape, [3, 3, 32, 32]);
    assert.deepEqual(b(y, c).shape, [3, 3, 32, 32]); // no labels: the null class
    // a three-level net reaches 7×7 / 8×8 at the bottom
    const deep = tiny({ channelMult: [1, 2, 2], attentionResolutions: [7] });
    assert.deepEqual(deep(x, tensor([0, 0])).shape, [2, 1, 28, 28]);
    assert.ok(deep.down[2].attns[0] !== null && deep.down[0].attns[0] === null, 'attention at 7×7 only');
    const deep32 = tiny({ inChannels: 3, outChannels: 3, imageSize: 32, channelMult: [1, 2, 2], attentionResolutions: [8] });
    assert.deepEqual(deep32(y, c).shape, [3, 3, 32, 32]);
    assert.ok(deep32.down[2].attns[0] !== null);
  });
});

test('labels −1, null and missing all select the learnable null class', () => {
  scope(() => {
    const net = tiny({ numClasses: 4 });
    const c = tensor([0.2, 0.2]);
    const e = (l?: Tensor | number[] | null) => net.embedding(c, l);
    const nullEmb = e(tensor([-1, -1], { dtype: 'int64' }));
    assert.equal(nullEmb.sub(e(null)).abs().max().item(), 0);
    assert.equal(nullEmb.sub(e()).abs().max().item(), 0);
    assert.equal(nullEmb.sub(e([4, 4])).abs().max().item(), 0, 'index numClasses is the null class');
    assert.ok(nullEmb.sub(e([0, 3])).abs().max().item() > 0, 'real classes differ from the null class');
    assert.deepEqual((net.classEmbed!.W as Tensor).shape, [5, 32]);
    assert.throws(() => e([1, 2, 3]), /UNet: labels has shape \[3\], expected \[2\] \(one class per sample\)/);
    assert.throws(() => e([0, 5]), /UNet: labels must be classes in 0\.\.3, or -1 or 4 for no label, got 5/);
    assert.throws(() => e([-2, 0]), /UNet: labels must be classes in 0\.\.3, or -1 or 4 for no label, got -2/);
  });
});

test('configuration errors name the option, the value and what is expected', () => {
  const bad: [Partial<UNetConfig>, RegExp][] = [
    [{ channels: 1 }, /^UNet: channels must be even with noiseEmbedding 'fourier' \(a cos and a sin per frequency\), got 1$/],
    [{ channels: 0 }, /^UNet: channels must be a positive integer, got 0$/],
    [{ numHeads: 0 }, /^UNet: numHeads must be a positive integer, got 0$/],
    [{ numGroups: 2.5 }, /^UNet: numGroups must be a positive integer, got 2.5$/],
    [{ noiseEmbedding: 'gaussian' as never }, /^UNet: noiseEmbedding must be 'fourier' or 'sinusoidal', got "gaussian"$/],
    [{ fourierScale: -1 }, /^UNet: fourierScale must be a positive number, got -1$/],
    [{ dropout: 1 }, /^UNet: dropout must lie in \[0, 1\), got 1$/],
  ];
  for (const [o, re] of bad) assert.throws(() => tiny(o), (e: Error) => re.test(e.message), JSON.stringify(o));
  // an odd channel count is fine with the sinusoidal embedding (it pads with a zero feature)
  scope(() => assert.deepEqual(tiny({ channels: 9, noiseEmbedding: 'sinusoidal', numGroups: 3 }).embedding(tensor([0.1])).shape, [1, 36]));
});

test('parameter counts and state-dict names', () => {
  const small = new UNet({ inChannels: 1, outChannels: 1, channels: 32, channelMult: [1, 2, 2], numResBlocks: 2, imageSize: 28, attentionResolutions: [7], numClasses: 10, generator: new Generator(0) });
  const n = numParams(small);
  const nTiny = numParams(tiny());
  console.log(`UNet parameters: small (32, [1,2,2], 2 blocks, attn@7, 10 classes) ${n}; tiny test config ${nTiny}`);
  assert.ok(n > 500_000 && n < 3_000_000, `small config has ${n} parameters`);
  const names = Object.keys(stateDict(small));
  for (const k of ['inConv.W', 'embed1.W', 'classEmbed.W', 'down.0.blocks.0.conv1.W', 'down.0.blocks.0.norm2.film.proj.W',
    'down.2.attns.0.attn.q.W', 'downsample.0.conv.W', 'midAttn.attn.out.W', 'up.0.blocks.0.skip.W', 'upsample.0.conv.W', 'outConv.W', 'noiseEmbed.freqs']) {
    assert.ok(names.includes(k), `${k} in the state dict (have ${names.slice(0, 8).join(', ')}, ...)`);
  }
  assert.ok(!params(small).includes(small.noiseEmbed.freqs as never), 'Fourier frequencies are fixed');
});

test('zero-initialised output: the preconditioned denoiser is c_skip·x at init', () => {
  scope(() => {
    const net = tiny({ numClasses: 3 });
    assert.equal((net.outConv.W as Tensor).abs().max().item(), 0);
    const D = edmPrecondition(net);
    const x = torch.randn([3, 1, 28, 28], { generator: new Generator(1) });
    const sigma = tensor([0.05, 0.5, 20]);
    const want = x.mul(edmCoefficients()(sigma).cSkip.reshape([3, 1, 1, 1]));
    assert.ok(D(x, sigma, { labels: tensor([0, -1, 2], { dtype: 'int64' }) }).sub(want).abs().max().item() < 1e-6);
  });
});

test('gradient reaches every parameter once the output layer is non-zero', () => {
  scope(() => {
    const net = tiny({ numClasses: 3, dropout: 0.1, dropoutGenerator: new Generator(2) });
    perturbOutput(net);
    const x = torch.randn([4, 1, 28, 28], { generator: new Generator(4) });
    net(x, tensor([0.3, -1, 0.5, 0]), { labels: tensor([0, 1, 2, -1], { dtype: 'int64' }) }).square().mean().backward();
    for (const [name, p] of namedParams(net)) {
      assert.ok(p.grad !== null, `${name} has a gradient`);
      assert.ok(p.grad!.abs().sum().item() > 0, `${name} has a non-zero gradient`);
    }
  });
});

test('initialisation is deterministic from the generator seed', () => {
  scope(() => {
    const a = stateDict(tiny({ generator: new Generator(11) }));
    const b = stateDict(tiny({ generator: new Generator(11) }));
    const c = stateDict(tiny({ generator: new Generator(12) }));
    let differs = false;
    for (const k of Object.keys(a)) {
      assert.equal(a[k].sub(b[k]).abs().max().item(), 0, k);
      if (a[k].sub(c[k]).abs().max().item() > 0) differs = true;
    }
    assert.ok(differs, 'another seed gives other weights');
  });
});

test('no tensors leak across forward and backward calls', () => {
  const net = tiny({ numClasses: 2 });
  perturbOutput(net);
  const x = torch.randn([2, 1, 28, 28], { generator: new Generator(5) });
  const c = tensor([0.1, 0.2]);
  const labels = tensor([1, -1], { dtype: 'int64' });
  const step = () => scope(() => { net(x, c, { labels }).square().mean().backward(); });
  step();
  const before = memory().liveTensors;
  for (let k = 0; k < 3; k++) {
    step();
    net(x, c).dispose();
  }
  assert.equal(memory().liveTensors, before);
});

test('training smoke test: a few Adam steps on 8 fixed images lower the loss', () => {
  const net = tiny({ channels: 8, channelMult: [1], numResBlocks: 1, attentionResolutions: [] });
  const D = edmPrecondition(net);
  const x0 = noGrad(() => {
    // 8 fixed blobs at different positions
    const yy = torch.arange(28).view([1, 1, 28, 1]).expand([8, 1, 28, 28]);
    const shift = tensor([4, 7, 10, 13, 15, 18, 21, 24]).view([8, 1, 1, 1]);
    return yy.sub(shift).abs().lt(3).to('float32').mul(1).sub(0.5);
  }).keep();
  const evalLoss = () => scope(() => noGrad(() => diffusionLoss(D, x0, { generator: new Generator(100) }).item()));
  const opt = new Adam(net, { lr: 3e-3 });
  const g = new Generator(7);
  const first = evalLoss();
  for (let k = 0; k < 30; k++) {
    scope(() => {
      diffusionLoss(D, x0, { generator: g }).backward();
      opt.step();
      opt.zeroGrad();
    });
  }
  const last = evalLoss();
  console.log(`UNet training smoke: loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
  assert.ok(last < first * 0.9, `loss ${first} -> ${last}`);
  x0.dispose();
});

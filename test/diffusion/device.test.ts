// Every tensor the diffusion library creates follows its inputs' device and dtype: checked on the
// 'meta' device (any CPU tensor mixed in is an error there) and in float64; with a GPU, on cuda.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, cudaIsAvailable, functions as torch, scope } from '../../src/tensor';
import { diffusionLoss, edmWeighting, logNormalSigmas } from '../../src/diffusion/objectives';
import { appendDims } from '../../src/diffusion/parameterisation';
import { UNet } from '../../src/diffusion/unet';
import { denoiseAt } from '../../src/diffusion/denoiser';

// a denoiser made of ops only: D(x, σ) = x / (1 + σ²)
const shrink = (x: Tensor, sigma: Tensor) => x.div(appendDims(sigma.square().add(1), x.ndim));

test('diffusionLoss on the meta device: σ, the noise and the weighting are made there (no CPU tensor mixed in)', () => {
  scope(() => {
    const x0 = torch.zeros([4, 1, 3, 3], { device: 'meta' });
    const loss = diffusionLoss(shrink, x0, { generator: new Generator(0), sigmaSampler: logNormalSigmas(), weighting: edmWeighting() });
    assert.equal(loss.device, 'meta');
    assert.deepEqual(loss.shape, []);
  });
});

test('diffusionLoss in float64: the loss is float64 and equals the closed form for the same σ and noise', () => {
  scope(() => {
    const x0 = torch.randn([3, 2], { generator: new Generator(1), dtype: 'float64' });
    const loss = diffusionLoss(shrink, x0, { generator: new Generator(2), weighting: () => torch.ones([3], { dtype: 'float64' }) });
    assert.equal(loss.dtype, 'float64');
    // the same draws by hand: σ first (log-normal, float64), then the noise in x0's dtype
    const g = new Generator(2);
    const sigma = torch.randn([3], { generator: g, dtype: 'float64' }).mul(1.2).add(-1.2).exp();
    const noise = torch.randn([3, 2], { generator: g, dtype: 'float64' });
    const x = x0.add(noise.mul(sigma.unsqueeze(1)));
    const expected = shrink(x, sigma).sub(x0).square().mean(1).mean().item() as number;
    assert.ok(Math.abs((loss.item() as number) - expected) <= 1e-14 * Math.max(1, expected));
  });
});

test('U-Net without labels: the null-class ids follow the input (float64 model and input give float64)', () => {
  scope(() => {
    const net = new UNet({ inChannels: 1, outChannels: 1, channels: 4, channelMult: [1], numResBlocks: 1, attentionResolutions: [], imageSize: 4, numClasses: 3, generator: new Generator(0) });
    net.to('float64');
    const x = torch.randn([2, 1, 4, 4], { generator: new Generator(3), dtype: 'float64' });
    const out = net.forward(x, torch.zeros([2], { dtype: 'float64' })) as Tensor;
    assert.equal(out.dtype, 'float64');
    assert.deepEqual(out.shape, [2, 1, 4, 4]);
    const withLabels = net.forward(x, torch.zeros([2], { dtype: 'float64' }), { labels: [0, 2] }) as Tensor;
    assert.equal(withLabels.dtype, 'float64');
  });
});

test('denoiseAt with a number σ on cuda, and diffusionLoss with a CPU generator for cuda data', { skip: !cudaIsAvailable() && 'no CUDA device' }, () => {
  scope(() => {
    const x = torch.randn([2, 3], { generator: new Generator(0) }).to('cuda');
    assert.equal(denoiseAt(shrink, x, 0.5).device, 'cuda:0');
    const cpuLoss = diffusionLoss(shrink, x.to('cpu'), { generator: new Generator(9) }).item() as number;
    const gpuLoss = diffusionLoss(shrink, x, { generator: new Generator(9) });
    assert.equal(gpuLoss.device, 'cuda:0');
    assert.ok(Math.abs((gpuLoss.item() as number) - cpuLoss) <= 1e-5 * Math.max(1, Math.abs(cpuLoss)));
  });
});

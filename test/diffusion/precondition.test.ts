// EDM preconditioning (Karras et al. 2022, Table 1 / Eq. 7) against its closed forms.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Generator, Tensor, functions as torch, tensor } from '../../src/tensor';
import { edmCoefficients, edmPrecondition, epsCoefficients, precondition } from '../../src/diffusion/precondition';
import { toDenoised } from '../../src/diffusion/parameterisation';

function close(a: number, b: number, tol: number, what = ''): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
}

test('EDM coefficients at known σ', () => {
  const c = edmCoefficients({ sigmaData: 0.5 })(tensor([0.5, 0.002, 80, 1], { dtype: 'float64' }));
  const [skip, out, cin, noise] = [c.cSkip, c.cOut, c.cIn, c.cNoise].map((t) => t.dataSync());
  close(skip[0], 0.5, 1e-15, 'c_skip(σ_d) = ½');
  close(out[0], 0.5 / Math.SQRT2, 1e-15, 'c_out(σ_d) = σ_d/√2');
  close(cin[0], 1 / (0.5 * Math.SQRT2), 1e-14, 'c_in(σ_d) = 1/(σ_d√2)');
  close(noise[0], 0.25 * Math.log(0.5), 1e-15, 'c_noise = ¼ ln σ');
  assert.ok(skip[1] > 0.9999 && out[1] < 0.002, 'σ → 0: D → x');
  assert.ok(skip[2] < 1e-4 && Math.abs(out[2] - 0.5) < 1e-4, 'σ → ∞: D → σ_d·F');
  // Unit input variance, and c_out² equals the variance of the effective target (EDM, Appendix B.6)
  for (let i = 0; i < 4; i++) {
    const s = [0.5, 0.002, 80, 1][i];
    close(cin[i] * cin[i] * (s * s + 0.25), 1, 1e-12, 'Var(c_in·x) = 1');
    close(out[i] * out[i], (1 - skip[i]) ** 2 * 0.25 + skip[i] * skip[i] * s * s, 1e-12, 'c_out² = Var of the effective target');
  }
});

test('preconditioned zero network is c_skip·x; ε-coefficients are the ε → x0 conversion', () => {
  const g = new Generator(1);
  const x = torch.randn([3, 2, 4], { generator: g, dtype: 'float64' });
  const sigma = tensor([0.1, 0.5, 7], { dtype: 'float64' });
  let seenNoise: Tensor | null = null;
  const zero = (xIn: Tensor, cNoise: Tensor) => { seenNoise = cNoise; return torch.zerosLike(xIn); };
  const D = edmPrecondition(zero, { sigmaData: 0.5 });
  const expected = x.mul(edmCoefficients()(sigma).cSkip.reshape([3, 1, 1]));
  assert.ok(D(x, sigma).sub(expected).abs().max().item() < 1e-15);
  assert.deepEqual(seenNoise!.shape, [3]);
  // a 0-d σ is one level for the whole batch
  close(D(x, tensor(0.5, { dtype: 'float64' })).sub(x.mul(0.5)).abs().max().item(), 0, 1e-15, '0-d σ');
  assert.throws(() => D(x, sigma.reshape([3, 1])), /precondition: sigma has shape \[3, 1\], expected \[3\] \(one noise level per sample of x, or a 0-d tensor\)/);
  assert.throws(() => D(x, tensor([1, 2], { dtype: 'float64' })), /precondition: sigma has shape \[2\], expected \[3\]/);
  assert.deepEqual(seenNoise!.shape, [3]);
  // An ε-network under ε-coefficients equals toDenoised('eps', …) on c_in-scaled input
  const epsNet = (xIn: Tensor) => xIn.sin();
  const De = precondition(epsNet, epsCoefficients());
  const cin = sigma.square().add(1).rsqrt().reshape([3, 1, 1]);
  const ref = toDenoised('eps', x, x.mul(cin).sin(), sigma);
  assert.ok(De(x, sigma).sub(ref).abs().max().item() < 1e-14);
});

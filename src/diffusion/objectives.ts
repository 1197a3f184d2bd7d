// Training objectives: the weighted denoising loss E_{σ, x0, n}[λ(σ)·‖D(x0 + σ·n, σ) − x0‖²]
// ("Diffusion models are autoencoders", Dieleman 2022; EDM, Karras et al. 2022, Eq. 8). Every
// weighting is one function of the EDM noise level σ giving λ in x0 space (SNR = 1/σ²); an ε-space
// weighting w becomes λ = w·SNR since ‖ε̂ − ε‖² = ‖x̂0 − x0‖²/σ².
import { Generator, Tensor, functions as torch } from '../tensor';
import type { Conditioning, Denoiser } from './denoiser';
import { Parameterisation, appendDims, toDenoised } from './parameterisation';
import { Schedule, edmSigma } from './schedules';

/** x0-space loss weight λ(σ) at EDM noise levels σ, shaped like σ. */
export type Weighting = (sigma: Tensor) => Tensor;

/** n noise levels (n,) float64 from an explicit generator. */
export type SigmaSampler = (n: number, generator: Generator) => Tensor;

/** λ = 1: plain x0-MSE. */
export const uniformWeighting: Weighting = (sigma) => torch.onesLike(sigma);

/** λ = SNR = 1/σ²: the uniform ε-MSE of DDPM (Ho et al. 2020, Eq. 14, "L_simple"). */
export const epsWeighting: Weighting = (sigma) => sigma.square().reciprocal();

/** λ = SNR + 1: uniform v-MSE (Salimans & Ho 2022, "SNR+1" weighting). */
export const vWeighting: Weighting = (sigma) => sigma.square().reciprocal().add(1);

/** λ = SNR² : the ε-MSE weighted by SNR (Kingma et al. 2021's weighting family). */
export const snrWeighting: Weighting = (sigma) => sigma.pow(-4);

/** Min-SNR-γ (Hang et al. 2023, Eq. 6): ε-space weight min(SNR, γ)/SNR, i.e. λ = min(SNR, γ). */
export function minSnrWeighting(gamma = 5): Weighting {
  return (sigma) => sigma.square().reciprocal().clamp({ max: gamma });
}

/** EDM weighting (Karras et al. 2022, Table 1): λ = (σ² + σ_d²)/(σ·σ_d)², unit effective weight after c_out. */
export function edmWeighting({ sigmaData = 0.5 }: { sigmaData?: number } = {}): Weighting {
  return (sigma) => sigma.square().add(sigmaData * sigmaData).div(sigma.mul(sigmaData).square());
}

/**
 * Likelihood weighting (Song et al. 2021, "Maximum likelihood training of score-based diffusion
 * models", Thm. 1): score-space weight g(t)², i.e. ε-space g(t)²/σ_t² and x0-space
 * λ = g(t)²·α_t²/σ_t⁴, with t the schedule's time at EDM noise level σ. For VP this is −λ′(t)·SNR.
 */
export function likelihoodWeighting(schedule: Schedule): Weighting {
  return (sigma) => {
    const t = schedule.tFromSigma(sigma);
    const a = schedule.alpha(t), s = schedule.sigma(t);
    return schedule.g2(t).mul(a.square()).div(s.pow(4));
  };
}

/** ln σ ~ N(P_mean, P_std²) (EDM, Karras et al. 2022, Table 1: P_mean = −1.2, P_std = 1.2). */
export function logNormalSigmas({ pMean = -1.2, pStd = 1.2 }: { pMean?: number; pStd?: number } = {}): SigmaSampler {
  return (n, generator) => torch.randn([n], { generator, dtype: 'float64', device: generator?.device }).mul(pStd).add(pMean).exp();
}

/** ln σ ~ U(ln σ_min, ln σ_max). */
export function logUniformSigmas({ sigmaMin = 0.002, sigmaMax = 80 }: { sigmaMin?: number; sigmaMax?: number } = {}): SigmaSampler {
  const lo = Math.log(sigmaMin), hi = Math.log(sigmaMax);
  return (n, generator) => torch.rand([n], { generator, dtype: 'float64', device: generator?.device }).mul(hi - lo).add(lo).exp();
}

/** t ~ U(tMin, tMax), σ = σ_t/α_t of the schedule (Ho et al. 2020; Song et al. 2021). */
export function uniformTimeSigmas(schedule: Schedule, { tMin = 1e-3, tMax = 1 }: { tMin?: number; tMax?: number } = {}): SigmaSampler {
  return (n, generator) => edmSigma(schedule, torch.rand([n], { generator, dtype: 'float64', device: generator?.device }).mul(tMax - tMin).add(tMin));
}

export interface DiffusionLossOptions {
  sigmaSampler?: SigmaSampler;
  weighting?: Weighting;
  generator: Generator;
  /** What the model predicts; it is converted to x0 before the loss (default 'x0'). */
  parameterisation?: Parameterisation;
  extra?: Conditioning;
}

/**
 * The weighted denoising loss (EDM, Karras et al. 2022, Eq. 8): σ ~ sigmaSampler, n ~ N(0, I),
 * x = x0 + σ·n, loss = mean_b λ(σ_b)·mean_i (D(x, σ)_bi − x0_bi)². Returns a scalar tensor with grad.
 * Defaults: log-normal σ and the EDM weighting. `model` is a Denoiser; with a `parameterisation`
 * other than 'x0' it is a network of the same signature whose output means that prediction.
 */
export function diffusionLoss(model: Denoiser, x0: Tensor, opts: DiffusionLossOptions): Tensor {
  const { sigmaSampler = logNormalSigmas(), weighting = edmWeighting(), generator, parameterisation = 'x0', extra } = opts;
  const batch = x0.shape[0];
  // drawn on the generator's device (the same numbers on any device), then moved to x0's
  const sigma = sigmaSampler(batch, generator).to({ dtype: x0.dtype, device: x0.device }); // (B,)
  const noise = torch.randn(x0.shape, { generator, dtype: x0.dtype, device: generator?.device }).to(x0.device); // (B, …)
  const x = x0.add(noise.mul(appendDims(sigma, x0.ndim))); // x = x0 + σ·n
  const denoised = toDenoised(parameterisation, x, model(x, sigma, extra), sigma);
  const dims = x0.shape.map((_, i) => i).slice(1);
  const perExample = dims.length ? denoised.sub(x0).square().mean(dims) : denoised.sub(x0).square(); // (B,)
  return weighting(sigma).mul(perExample).mean(); // EDM (Karras et al. 2022), Eq. 8
}

/**
 * The likelihood weighting with importance sampling (Song et al. 2021, §5 "variance reduction"):
 * t is drawn with density q(t) ∝ g(t)²/σ_t² instead of uniformly on [tMin, tMax], and each sample is
 * reweighted by u(t)/q(t) so that the expected loss is unchanged. For a VP schedule
 * d log σ_edm²/dt = β(t)·(1 + σ²)/σ² = g²/σ_t², so q is exactly log-uniform in the EDM σ over
 * [σ(tMin), σ(tMax)], and the reweighted x0-space weight λ_lik·u/q reduces to (2·ln(σmax/σmin)/(tMax − tMin))/σ²:
 * a constant times the ε-MSE weight (Kingma et al. 2021: the ELBO is an integral over log-SNR with
 * uniform ε weight). Returned as a sampler and the matching weighting, for diffusionLoss.
 */
export function likelihoodImportance(schedule: Schedule, { tMin = 1e-3, tMax = 1 }: { tMin?: number; tMax?: number } = {}): { sigmaSampler: SigmaSampler; weighting: Weighting; sigmaMin: number; sigmaMax: number } {
  if (schedule.kind !== 'vp') throw new Error(`likelihoodImportance: needs a VP schedule, got '${schedule.kind}'`);
  if (!(tMin > 0 && tMax > tMin && tMax <= 1)) throw new RangeError(`likelihoodImportance: need 0 < tMin < tMax <= 1, got tMin=${tMin}, tMax=${tMax}`);
  const sigmaMin = edmSigma(schedule, tMin).item() as number;
  const sigmaMax = edmSigma(schedule, tMax).item() as number;
  const zSigma = Math.log(sigmaMax / sigmaMin);
  const lik = likelihoodWeighting(schedule);
  return {
    sigmaMin,
    sigmaMax,
    sigmaSampler: logUniformSigmas({ sigmaMin, sigmaMax }),
    // λ_lik(σ) · u_σ(σ) / q_σ(σ), with u_σ = (dt/dσ)/(tMax − tMin), dt/dσ = 2σ/(g²(1 + σ²)) for VP, q_σ = 1/(σ·zSigma)
    weighting: (sigma) => {
      const t = schedule.tFromSigma(sigma);
      const dtds = sigma.mul(2).div(schedule.g2(t).mul(sigma.square().add(1)));
      return lik(sigma).mul(dtds).mul(sigma).mul(zSigma / (tMax - tMin));
    },
  };
}

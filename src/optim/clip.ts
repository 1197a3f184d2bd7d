// Gradient clipping by the global norm (Pascanu et al. 2013), as torch.nn.utils.clip_grad_norm_.
import { functions as torch, noGrad, scope } from '../tensor';
import { Parameter } from '../nn/param';
import { ParamSource, resolveParams } from './optimizer';

/**
 * Scales every gradient in place by min(1, maxNorm / (norm + 1e-6)), where norm is the norm of all
 * gradients concatenated into one vector (`normType` 2 by default, or Infinity). Returns that norm,
 * measured before clipping. Parameters without a gradient are ignored.
 */
export function clipGradNorm(source: ParamSource | Parameter, maxNorm: number, opts: { normType?: number } = {}): number {
  const normType = opts.normType ?? 2;
  if (!(maxNorm >= 0)) throw new RangeError(`clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  const ps = source instanceof Parameter ? [source] : resolveParams(source, 'clipGradNorm', {});
  return scope(() => noGrad(() => {
    const grads = ps.map((p) => p.grad).filter((g) => g !== null);
    if (grads.length === 0) return 0;
    const total = normType === Infinity
      ? torch.stack(grads.map((g) => g.abs().max())).max()
      : torch.stack(grads.map((g) => g.norm(normType))).norm(normType);
    // maxNorm / (total + 1e-6), clamped to 1: the same float32 arithmetic as PyTorch
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp({ max: 1 });
    for (const g of grads) g.mul_(coef);
    return total.item();
  }));
}

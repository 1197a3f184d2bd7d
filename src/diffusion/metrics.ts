// Sample-quality metrics in the feature space of a fixed classifier (Heusel et al. 2017's FID with
// the Fashion-MNIST reference classifier's penultimate features in place of Inception's, hence
// "classifier-FID"), class adherence of conditional samples, and within-class diversity.
import { Tensor, functions as torch, noGrad, scope, tensor } from '../tensor';

/** Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64. */
export interface FeatureStats {
  mu: Tensor;
  cov: Tensor;
  n: number;
}

export function featureStats(features: Tensor): FeatureStats {
  if (features.ndim !== 2) throw new TypeError(`featureStats: features must be (N, D), got [${features.shape.join(', ')}]`);
  const n = features.shape[0];
  if (n < 2) throw new RangeError(`featureStats: need at least 2 feature vectors, got ${n}`);
  return noGrad(() => scope(() => {
    const f = features.to('float64');
    const mu = f.mean(0);
    const c = f.sub(mu);
    const cov = c.t().matmul(c).div(n - 1);
    return { mu, cov, n };
  }));
}

/** Symmetric PSD square root through the eigendecomposition (negative round-off eigenvalues clamped to 0). */
export function sqrtPsd(a: Tensor): Tensor {
  return scope(() => {
    const [l, v] = torch.linalgEigh(a.add(a.t()).div(2)) as unknown as [Tensor, Tensor];
    return v.mul(l.clamp({ min: 0 }).sqrt()).matmul(v.t());
  });
}

/**
 * Fréchet distance between N(mu1, S1) and N(mu2, S2) (Dowson & Landau 1982; FID, Heusel et al. 2017):
 * |mu1 − mu2|² + tr(S1 + S2 − 2 (S1^½ S2 S1^½)^½). The trace of the matrix square root is the sum of
 * the square roots of the eigenvalues of the symmetric PSD matrix S1^½ S2 S1^½, computed in float64.
 */
export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  if (a.mu.shape[0] !== b.mu.shape[0]) throw new RangeError(`frechetDistance: feature sizes differ (${a.mu.shape[0]} vs ${b.mu.shape[0]})`);
  return noGrad(() => scope(() => {
    const mu1 = a.mu.to('float64'), mu2 = b.mu.to('float64');
    const s1 = a.cov.to('float64'), s2 = b.cov.to('float64');
    const r = sqrtPsd(s1);
    const m = r.matmul(s2).matmul(r);
    const ev = torch.linalgEigvalsh(m.add(m.t()).div(2)).clamp({ min: 0 }).sqrt().sum().item() as number;
    const d = mu1.sub(mu2).square().sum().item() as number;
    return d + (s1.trace().item() as number) + (s2.trace().item() as number) - 2 * ev;
  }));
}

/** Mean Euclidean distance over all unordered pairs of rows of features (N, D), N >= 2. */
export function meanPairwiseDistance(features: Tensor): number {
  const n = features.shape[0];
  if (features.ndim !== 2 || n < 2) throw new TypeError(`meanPairwiseDistance: features must be (N >= 2, D), got [${features.shape.join(', ')}]`);
  return noGrad(() => scope(() => {
    const f = features.to('float64');
    const d = torch.cdist(f.unsqueeze(0), f.unsqueeze(0)).squeeze(0); // (N, N), zero diagonal
    return (d.sum().item() as number) / (n * (n - 1));
  }));
}

/**
 * Within-class diversity: for each class with at least 2 samples, the mean pairwise feature distance
 * of its samples; returns the mean over classes and the per-class values (NaN for classes with < 2).
 */
export function withinClassDiversity(features: Tensor, labels: number[] | Int32Array | BigInt64Array, numClasses: number): { mean: number; perClass: number[] } {
  const lab = Array.from(labels as ArrayLike<number | bigint>, Number);
  if (lab.length !== features.shape[0]) throw new RangeError(`withinClassDiversity: ${lab.length} labels for ${features.shape[0]} feature vectors`);
  const perClass: number[] = [];
  for (let c = 0; c < numClasses; c++) {
    const idx = lab.flatMap((l, i) => (l === c ? [i] : []));
    if (idx.length < 2) {
      perClass.push(NaN);
      continue;
    }
    perClass.push(scope(() => meanPairwiseDistance(features.indexSelect(0, tensor(idx, { dtype: 'int64' })))));
  }
  const ok = perClass.filter((v) => Number.isFinite(v));
  return { mean: ok.length ? ok.reduce((s, v) => s + v, 0) / ok.length : NaN, perClass };
}

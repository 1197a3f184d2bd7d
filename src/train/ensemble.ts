// Weighted model averaging (Dieleman et al. 2015, plankton, "Combining different models": "blended
// uniformly or with weights optimized on the validation set"): the ensemble's probabilities are
// Σ_m w_m P_m with w = softmax(θ) (positive, summing to 1), θ fitted by L-BFGS to minimise the log
// loss on held-out data. Works on predicted probabilities, so any models (and their TTA) combine.
import { Tensor, functions as torch, noGrad, scope } from '../tensor';
import { minimizeLbfgs } from '../optim/lbfgs';

export interface EnsembleFit {
  /** w = softmax(θ): one weight per model, positive, summing to 1. */
  weights: number[];
  /** The fitted log loss (mean negative log probability of the targets), in nats. */
  logLoss: number;
  iterations: number;
}

function checkProbs(probs: Tensor[], fn: string): [number, number] {
  if (!Array.isArray(probs) || probs.length === 0) throw new TypeError(`${fn}: probs must be a non-empty array of (N, K) probability tensors`);
  const [n, k] = probs[0].shape;
  probs.forEach((p, i) => {
    if (!(p instanceof Tensor) || p.ndim !== 2 || p.shape[0] !== n || p.shape[1] !== k) {
      throw new TypeError(`${fn}: probs[${i}] must be (N, K) = (${n}, ${k}) like probs[0], got ${p instanceof Tensor ? `shape [${p.shape.join(', ')}]` : typeof p}`);
    }
  });
  return [n, k];
}

/** Σ_m w_m P_m: (N, K) from M (N, K) probability tensors. */
export function mixProbs(probs: Tensor[], weights: number[]): Tensor {
  checkProbs(probs, 'mixProbs');
  if (weights.length !== probs.length || !weights.every((w) => Number.isFinite(w) && w >= 0)) {
    throw new RangeError(`mixProbs: weights must be ${probs.length} finite numbers >= 0, got ${JSON.stringify(weights)}`);
  }
  return scope(() => probs.map((p, m) => p.mul(weights[m])).reduce((a, b) => a.add(b)));
}

/**
 * Fits the ensemble weights on `targets`: int64 labels (N,), or (N, K) class probabilities (soft
 * targets; the loss is then the cross-entropy -Σ_k t_k log p_k, minimised exactly where the mixture
 * equals the targets when it can). Probabilities are floored at 1e-15 inside the log.
 */
export function fitEnsembleWeights(probs: Tensor[], targets: Tensor, o: { maxIter?: number } = {}): EnsembleFit {
  const [n, k] = checkProbs(probs, 'fitEnsembleWeights');
  const soft = targets.ndim === 2;
  if (soft ? targets.shape[0] !== n || targets.shape[1] !== k : targets.ndim !== 1 || targets.shape[0] !== n) {
    throw new TypeError(`fitEnsembleWeights: targets must be (${n},) labels or (${n}, ${k}) probabilities, got shape [${targets.shape.join(', ')}]`);
  }
  const M = probs.length;
  if (M === 1) return { weights: [1], logLoss: logLossOf(probs[0], targets), iterations: 0 };
  return scope(() => {
    // (M, N, K) float64 stack; with hard labels only the target column matters: (M, N)
    const P = noGrad(() => torch.stack(probs.map((p) => p.double()), 0));
    const picked = soft ? null : P.gather(2, targets.reshape([1, n, 1]).expand([M, n, 1])).squeeze(2); // (M, N)
    const T = soft ? targets.double() : null;
    const loss = (theta: Tensor): Tensor => {
      const w = theta.softmax(0); // (M,)
      if (picked) return w.matmul(picked).clampMin(1e-15).log().mean().neg(); // mean_n -log Σ_m w_m P_m[n, y_n]
      const mix = w.reshape([M, 1, 1]).mul(P).sum(0); // (N, K)
      return mix.clampMin(1e-15).log().mul(T!).sum(1).mean().neg();
    };
    const r = minimizeLbfgs(loss, torch.zeros([M], { dtype: 'float64' }), { maxIter: o.maxIter ?? 200, gradTolerance: 1e-10 });
    const weights = Array.from(r.x.softmax(0).dataSync() as ArrayLike<number>);
    return { weights, logLoss: r.value, iterations: r.iterations };
  });
}

/** Mean log loss of probabilities against labels (N,) or soft targets (N, K). */
export function logLossOf(p: Tensor, targets: Tensor): number {
  return scope(() => {
    const lp = p.double().clampMin(1e-15).log();
    return (targets.ndim === 2 ? lp.mul(targets.double()).sum(1).mean().neg() : lp.gather(1, targets.reshape([-1, 1])).mean().neg()).item() as number;
  });
}

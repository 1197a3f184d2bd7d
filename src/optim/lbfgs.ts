// L-BFGS (Nocedal & Wright, "Numerical Optimization", 2nd ed.: Algorithm 7.4, the two-loop recursion,
// inside Algorithm 7.5) with a backtracking line search on the Armijo condition (Algorithm 3.1). For
// small deterministic problems (ensemble weights, temperature scaling, fitting a few parameters to a
// closed form), on the engine: the vectors are 1-D tensors, gradients come from autograd.
import { Tensor, enableGrad, grad, keep, noGrad, scope } from '../tensor';

export interface LbfgsOptions {
  /** Iterations (default 200). */
  maxIter?: number;
  /** Correction pairs kept (default 10). */
  historySize?: number;
  /** Stop when max |∇f| falls to this (default 1e-9). */
  gradTolerance?: number;
  /** Stop when an iteration changes f by less than this, relative to max(1, |f|) (default 1e-14). */
  changeTolerance?: number;
  /** Armijo sufficient-decrease constant c1 (default 1e-4). */
  c1?: number;
}

export interface LbfgsResult {
  /** The minimiser found (a new 1-D tensor the caller owns). */
  x: Tensor;
  /** f at x. */
  value: number;
  /** max |∇f(x)|. */
  gradNorm: number;
  iterations: number;
  /** Why it stopped. */
  reason: 'gradient' | 'change' | 'maxIter' | 'lineSearch';
}

/**
 * Minimises a scalar function of a 1-D tensor from `x0` (float64 recommended). `f` must build its
 * value from its argument with tensor ops (it is differentiated by autograd).
 */
export function minimizeLbfgs(f: (x: Tensor) => Tensor, x0: Tensor, o: LbfgsOptions = {}): LbfgsResult {
  const maxIter = o.maxIter ?? 200, m = o.historySize ?? 10, gtol = o.gradTolerance ?? 1e-9, ftol = o.changeTolerance ?? 1e-14, c1 = o.c1 ?? 1e-4;
  if (!(x0 instanceof Tensor) || x0.ndim !== 1) throw new TypeError(`minimizeLbfgs: x0 must be a 1-D tensor, got ${x0 instanceof Tensor ? `shape [${x0.shape.join(', ')}]` : typeof x0}`);
  if (!x0.isFloatingPoint()) throw new TypeError(`minimizeLbfgs: x0 must be floating point, got ${x0.dtype}`);
  if (!Number.isSafeInteger(maxIter) || maxIter < 0) throw new RangeError(`minimizeLbfgs: maxIter must be an integer >= 0, got ${o.maxIter}`);
  if (!Number.isSafeInteger(m) || m < 1) throw new RangeError(`minimizeLbfgs: historySize must be an integer >= 1, got ${o.historySize}`);

  // value and gradient at x (both owned by the caller)
  const evaluate = (x: Tensor): { value: number; g: Tensor } => scope(() => enableGrad(() => {
    const xv = x.detach().requiresGrad_(true);
    const fx = f(xv);
    if (!(fx instanceof Tensor) || fx.numel() !== 1) throw new TypeError('minimizeLbfgs: f must return a one-element tensor');
    const [g] = grad(fx, xv, { allowUnused: true });
    return { value: fx.item() as number, g: keep(g ? g.detach() : xv.detach().mul(0)) };
  }));
  const dot = (a: Tensor, b: Tensor) => scope(() => a.dot(b).item() as number);

  let x = keep(scope(() => x0.detach().clone()));
  let { value, g } = evaluate(x);
  const hist: { s: Tensor; y: Tensor; rho: number }[] = [];
  let iter = 0, reason: LbfgsResult['reason'] = 'maxIter';
  const gmax = () => scope(() => g.abs().max().item() as number);
  try {
    for (; iter < maxIter; iter++) {
      if (!Number.isFinite(value)) throw new Error(`minimizeLbfgs: f is ${value} at iteration ${iter}`);
      if (gmax() <= gtol) { reason = 'gradient'; break; }
      // two-loop recursion: d = -H·g, with H0 = γI, γ = sᵀy / yᵀy of the newest pair (Nocedal & Wright eq. 7.20)
      let d = noGrad(() => scope(() => {
        let q = g.neg();
        const alpha: number[] = [];
        for (let i = hist.length - 1; i >= 0; i--) {
          const a = hist[i].rho * (q.dot(hist[i].s).item() as number);
          alpha[i] = a;
          q = q.sub(hist[i].y.mul(a));
        }
        const last = hist[hist.length - 1];
        const gamma = last ? 1 / (last.rho * (last.y.dot(last.y).item() as number)) : Math.min(1, 1 / (g.abs().sum().item() as number));
        q = q.mul(gamma);
        for (let i = 0; i < hist.length; i++) {
          const b = hist[i].rho * (q.dot(hist[i].y).item() as number);
          q = q.add(hist[i].s.mul(alpha[i] - b));
        }
        return keep(q);
      }));
      let slope = dot(g, d);
      if (!(slope < 0)) { // not a descent direction (curvature lost): restart from steepest descent
        d.dispose();
        for (const h of hist.splice(0)) { h.s.dispose(); h.y.dispose(); }
        d = keep(g.neg());
        slope = dot(g, d);
      }
      let t = 1, next: { value: number; g: Tensor } | null = null, xNew: Tensor | null = null, flatStep = false;
      for (let k = 0; k < 60; k++) {
        xNew = keep(noGrad(() => scope(() => x.add(d.mul(t)))));
        const e = evaluate(xNew);
        // Armijo: sufficient decrease. Where f no longer resolves the decrease (the change is within
        // its rounding), the step is judged by the gradient instead: it must shrink, so the gradient
        // tolerance stays reachable below the resolution of f.
        const flat = Math.abs(e.value - value) <= 8 * Number.EPSILON * Math.max(1, Math.abs(value));
        const ok = flat ? scope(() => e.g.abs().max().item() as number) < gmax() : e.value <= value + c1 * t * slope;
        if (ok) { next = e; flatStep = flat; break; }
        e.g.dispose();
        xNew.dispose();
        xNew = null;
        t *= 0.5;
      }
      if (!next || !xNew) { d.dispose(); reason = 'lineSearch'; break; }
      const s = keep(noGrad(() => d.mul(t)));
      const y = keep(noGrad(() => next!.g.sub(g)));
      d.dispose();
      const sy = dot(s, y);
      if (sy > 1e-12 * Math.max(1, dot(y, y))) {
        hist.push({ s, y, rho: 1 / sy });
        if (hist.length > m) { const old = hist.shift()!; old.s.dispose(); old.y.dispose(); }
      } else { s.dispose(); y.dispose(); }
      const change = Math.abs(value - next.value);
      x.dispose(); g.dispose();
      x = xNew; g = next.g; value = next.value;
      if (!flatStep && change < ftol * Math.max(1, Math.abs(value))) { iter++; reason = 'change'; break; }
    }
    if (iter >= maxIter && reason === 'maxIter' && gmax() <= gtol) reason = 'gradient';
    const gradNorm = gmax();
    g.dispose();
    return { x, value, gradNorm, iterations: iter, reason };
  } finally {
    for (const h of hist) { h.s.dispose(); h.y.dispose(); }
  }
}

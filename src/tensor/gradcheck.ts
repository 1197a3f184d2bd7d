// Finite-difference gradient checking, like torch.autograd.gradcheck but checking a random
// projection of the Jacobian: the analytical gradient of (output * v).sum() for a fixed random
// cotangent v is compared, element by element, with central differences of the same scalar.
import { DType, isComplex, isFloating } from '../types';
import { grad } from './autograd';
import { scope } from './memory';
import { Tensor, functions as torch, tensor } from './tensor';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance, against the numerical value (default 1e-3). */
  rtol?: number;
  /** Seed of the random cotangent (default 0). */
  seed?: number;
  /** Stop collecting failures after this many (default 10); checking still covers every element. */
  maxFailures?: number;
}

export interface GradcheckFailure {
  /** Position of the input in `inputs`. */
  input: number;
  /** Flat (row-major) element index within that input. */
  index: number;
  analytical: number;
  numerical: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytical - numerical| over all checked elements. */
  maxError: number;
  /** Largest |analytical - numerical| / (atol + rtol * |numerical|); ok means it is <= 1. */
  maxRatio: number;
  /** Number of input elements checked. */
  checked: number;
  /** Positions (in `inputs`) of the inputs that were differentiated. */
  inputsChecked: number[];
  failures: GradcheckFailure[];
}

// A small deterministic generator (xorshift32 + Box-Muller) for the cotangent, so that results do
// not depend on torch's global random state.
function normals(n: number, seed: number): Float64Array {
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return (s + 1) / 4294967297; // in (0, 1)
  };
  const out = new Float64Array(n);
  for (let k = 0; k < n; k += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const th = 2 * Math.PI * uniform();
    out[k] = r * Math.cos(th);
    if (k + 1 < n) out[k + 1] = r * Math.sin(th);
  }
  return out;
}

function realOutputs(out: Tensor | Tensor[]): Tensor[] {
  const outs = Array.isArray(out) ? out : [out];
  const res: Tensor[] = [];
  for (const o of outs) {
    if (!(o instanceof Tensor)) throw new TypeError('gradcheck: fn must return a Tensor or an array of Tensors');
    const d: DType = o.dtype;
    if (isComplex(d)) res.push(torch.viewAsReal(o.isConj() ? o.resolveConj() : o));
    else if (isFloating(d)) res.push(o);
    // integer/bool outputs (indices, masks) carry no gradient and are skipped
  }
  if (res.length === 0) throw new TypeError('gradcheck: fn returned no floating-point output');
  return res;
}

/** Σ_k (out_k * v_k).sum() as a scalar tensor. */
function projection(outs: Tensor[], cot: Tensor[]): Tensor {
  if (outs.length !== cot.length) throw new Error('gradcheck: fn returned a different number of outputs on re-evaluation');
  let acc: Tensor | null = null;
  for (let k = 0; k < outs.length; k++) {
    const s = outs[k].mul(cot[k]).sum();
    acc = acc === null ? s : acc.add(s);
  }
  return acc!;
}

/**
 * Checks the gradients of `fn` at `inputs` against central finite differences, in float64.
 * Inputs that require grad are checked (all floating-point inputs if none does); they must be
 * float64. Complex outputs are compared through their real views; integer outputs are ignored.
 * Every temporary tensor is freed; the inputs and their `.grad` are left untouched.
 */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor | Tensor[], inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const maxFailures = opts.maxFailures ?? 10;
  if (!(eps > 0)) throw new RangeError(`gradcheck: eps must be > 0, got ${eps}`);
  let which = inputs.map((t, k) => (t.requiresGrad ? k : -1)).filter((k) => k >= 0);
  if (which.length === 0) which = inputs.map((t, k) => (isFloating(t.dtype) ? k : -1)).filter((k) => k >= 0);
  if (which.length === 0) throw new TypeError('gradcheck: no floating-point input to check');
  for (const k of which) {
    if (inputs[k].dtype !== 'float64') throw new TypeError(`gradcheck: input ${k} is ${inputs[k].dtype}; finite differences need float64 inputs`);
  }

  return scope(() => {
    const cot: Tensor[] = [];
    try {
      // Analytical: fresh leaves that share the inputs' data (strides included).
      const leaves = inputs.map((t, k) => (which.includes(k) ? t.detach().requiresGrad_(true) : t));
      const analytical: Float64Array[] = scope(() => {
        const outs = realOutputs(fn(...leaves));
        outs.forEach((o, k) => {
          const n = o.shape.reduce((a, b) => a * b, 1);
          cot.push(tensor(normals(n, (opts.seed ?? 0) + 7919 * k), { shape: o.shape }).keep());
        });
        const proj = projection(outs, cot);
        if (!proj.requiresGrad) throw new Error('gradcheck: the output does not depend differentiably on any checked input');
        const gs = grad(proj, which.map((k) => leaves[k]), { allowUnused: true });
        return gs.map((g, j) => (g === null ? new Float64Array(numel(inputs[which[j]])) : Float64Array.from(g.contiguous().dataSync())));
      });

      // Numerical: central differences of the same projection, one input element at a time.
      const base = inputs.map((t, k) => (which.includes(k) ? t.dataSync() : null));
      const evalAt = (k: number, idx: number, delta: number): number => scope(() => {
        const vals = Float64Array.from(base[k]!);
        vals[idx] += delta;
        const args = inputs.map((t, m) => (m === k ? tensor(vals, { shape: t.shape }) : t));
        // grad mode stays as it is, so fn may itself differentiate (checking a gradient's gradient);
        // the perturbed inputs do not require grad, so ordinary ops record no graph
        return projection(realOutputs(fn(...args)), cot).item();
      });

      const failures: GradcheckFailure[] = [];
      let maxError = 0, maxRatio = 0, checked = 0;
      which.forEach((k, j) => {
        const n = base[k]!.length;
        for (let idx = 0; idx < n; idx++) {
          const num = (evalAt(k, idx, eps) - evalAt(k, idx, -eps)) / (2 * eps);
          const ana = analytical[j][idx];
          const err = Math.abs(ana - num);
          const ratio = err / (atol + rtol * Math.abs(num));
          checked++;
          // NaN is sticky: a NaN anywhere makes the check fail
          maxError = Number.isNaN(err) || Number.isNaN(maxError) ? NaN : Math.max(maxError, err);
          maxRatio = Number.isNaN(ratio) || Number.isNaN(maxRatio) ? NaN : Math.max(maxRatio, ratio);
          if (!(ratio <= 1) && failures.length < maxFailures) failures.push({ input: k, index: idx, analytical: ana, numerical: num });
        }
      });
      return { ok: maxRatio <= 1, maxError, maxRatio, checked, inputsChecked: which, failures };
    } finally {
      for (const c of cot) c.dispose();
    }
  });
}

const numel = (t: Tensor): number => t.shape.reduce((a, b) => a * b, 1);

/** Throws an AssertionError-like Error describing the first mismatches when gradcheck fails. */
export function assertGradcheck(fn: (...inputs: Tensor[]) => Tensor | Tensor[], inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const r = gradcheck(fn, inputs, opts);
  if (!r.ok) {
    const lines = r.failures.map((f) => `  input ${f.input}[${f.index}]: analytical ${f.analytical}, numerical ${f.numerical}`);
    throw new Error(`gradcheck failed (max error ${r.maxError}, ${r.failures.length} mismatches shown):\n${lines.join('\n')}`);
  }
  return r;
}

// What a convolution algorithm offers the meta-optimizer: up to three operations (forward, input
// gradient, weight gradient), each usable on its own, and a reason when it does not apply.
import { Tensor, isLaidOut, functions as torch } from '../tensor';
import { ConvOp, ConvProblem, numel, regularOp, regularProblem } from './problem';

/**
 * An implementation of some of the three convolutions of a layer, on a regular (not transposed)
 * problem unless `handlesTransposed`. Every function computes without bias and must not modify its
 * arguments; `gradInput` may not read the values of `x` (a transposed layer has no such tensor).
 */
export interface ConvCandidate {
  name: string;
  description: string;
  /** Why this candidate cannot compute `op` for `p` (a sentence), or null when it can. */
  applicable(op: ConvOp, p: ConvProblem): string | null;
  forward?(x: Tensor, w: Tensor, p: ConvProblem): Tensor;
  gradInput?(gy: Tensor, w: Tensor, p: ConvProblem, x?: Tensor): Tensor;
  gradWeight?(gy: Tensor, x: Tensor, p: ConvProblem, w?: Tensor): Tensor;
  /** Computes transposed problems itself (else they are mapped onto the regular problem). */
  handlesTransposed?: boolean;
  /**
   * How much larger its rounding error may be than a direct sum's (Winograd's transforms amplify it);
   * the correctness check and the tests scale their tolerance by it. Default 1.
   */
  errorGrowth?: number;
}

/** The tensors an operation reads: forward (x, w), gradInput (gy, w, x?), gradWeight (gy, x, w?). */
export interface OpInputs {
  x?: Tensor;
  w: Tensor;
  gy?: Tensor;
}

/** Why `c` cannot compute `op` of `p`, or null. Transposed problems are asked as the regular problem's swapped op. */
export function whyNot(c: ConvCandidate, op: ConvOp, p: ConvProblem): string | null {
  const rp = c.handlesTransposed ? p : regularProblem(p);
  const rop = c.handlesTransposed ? op : regularOp(op, p.transposed);
  let why: string | null;
  try {
    why = c.applicable(rop, rp);
  } catch (e) {
    why = `its applicability check threw: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (why) return why;
  return c[rop] ? null : `provides no ${rop === op ? op : `${rop} (the ${op} of a transposed convolution)`}`;
}

/**
 * Runs `op` of `p` with candidate `c` (no bias). The result comes back in the problem's layout
 * (NCHW, or NHWC in a channels-last network: see convLayout), converted if the candidate computed in
 * another one, and that conversion is part of the candidate's time: a channels-last network stays
 * channels-last from layer to layer whichever candidates its convolutions choose, and an NCHW one
 * stays NCHW.
 */
export function runOp(c: ConvCandidate, op: ConvOp, p: ConvProblem, t: OpInputs): Tensor {
  return inLayout(runOpRaw(c, op, p, t), p);
}

/** `y` (one of p's three results) in p's layout: converted only when its strides are not that layout's. */
export function inLayout(y: Tensor, p: ConvProblem): Tensor {
  if (y.ndim !== 4) return y;
  const want = p.layout ?? 'contiguous';
  return isLaidOut(y, want) ? y : y.contiguous({ memoryFormat: want });
}

function runOpRaw(c: ConvCandidate, op: ConvOp, p: ConvProblem, t: OpInputs): Tensor {
  if (p.transposed && !c.handlesTransposed) {
    const rp = regularProblem(p);
    if (op === 'forward') return c.gradInput!(need(t.x, 'x'), t.w, rp);
    if (op === 'gradInput') return c.forward!(need(t.gy, 'gy'), t.w, rp);
    return c.gradWeight!(need(t.x, 'x'), need(t.gy, 'gy'), rp, t.w);
  }
  if (op === 'forward') return c.forward!(need(t.x, 'x'), t.w, p);
  if (op === 'gradInput') return c.gradInput!(need(t.gy, 'gy'), t.w, p, t.x);
  return c.gradWeight!(need(t.gy, 'gy'), need(t.x, 'x'), p, t.w);
}

function need(t: Tensor | undefined, name: string): Tensor {
  if (!t) throw new Error(`conv candidate: missing tensor ${name}`);
  return t;
}

/** The shape `op` produces. */
export function opOutputShape(op: ConvOp, p: ConvProblem): number[] {
  return op === 'forward' ? p.outputShape : op === 'gradInput' ? p.inputShape : p.weightShape;
}

/** Adds bias [O] to y [N, O, ...] in place. */
export function addBias(y: Tensor, bias: Tensor | null): Tensor {
  if (!bias) return y;
  const shape = y.shape.map((_, i) => (i === 1 ? -1 : 1));
  return y.add_(bias.reshape(shape));
}

/** The input gradient of a bias: the output gradient summed over every axis but the channels. */
export function biasGrad(gy: Tensor): Tensor {
  return gy.sum(gy.shape.map((_, i) => i).filter((i) => i !== 1));
}

/** An uninitialised tensor standing in for one whose shape alone is read. */
export function placeholder(shape: number[], like: Tensor): Tensor {
  return torch.empty(shape, { dtype: like.dtype, device: like.device });
}

/** A reason when the temporary buffers of a candidate would exceed `limitBytes`. */
export function tooLarge(elements: number, p: ConvProblem, what: string, limitBytes = 2 ** 30): string | null {
  const bytes = elements * (p.dtype === 'float64' ? 8 : 4);
  return bytes > limitBytes ? `its ${what} would take ${(bytes / 2 ** 20).toFixed(0)} MiB (limit ${(limitBytes / 2 ** 20).toFixed(0)} MiB)` : null;
}

export { numel };

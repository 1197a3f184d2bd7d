// The candidates the meta-optimizer times: the built-in algorithms, then those registered from
// outside (the post's wish: "register additional optimizers at runtime").
import type { Tensor } from '../tensor';
import { ConvCandidate } from './candidate';
import { ConvOp, ConvProblem } from './problem';
import { channelsFirst, channelsLast, libtorch } from './candidates/libtorch';
import { im2col } from './candidates/im2col';
import { winogradF2, winogradF4 } from './candidates/winograd';
import { fft } from './candidates/fft';
import { pointwise } from './candidates/pointwise';
import { swap } from './candidates/swap';
import { cudnnBenchmark, cudnnChannelsLast, cudnnHeuristic } from './candidates/cuda';

export const BUILTIN_CANDIDATES: readonly ConvCandidate[] = [
  libtorch, channelsLast, channelsFirst, im2col, winogradF2, winogradF4, fft, pointwise, swap, cudnnBenchmark, cudnnHeuristic, cudnnChannelsLast,
];

const registered = new Map<string, ConvCandidate>();

/** Every candidate, built-in first, in the order they are timed. */
export function convCandidates(): ConvCandidate[] {
  return [...BUILTIN_CANDIDATES, ...registered.values()];
}

export function findCandidate(name: string): ConvCandidate | undefined {
  return convCandidates().find((c) => c.name === name);
}

/** An outside implementation: one forward function, or any of the three operations. */
export type ConvImplementationOps =
  | ((x: Tensor, w: Tensor, p: ConvProblem) => Tensor)
  | {
    forward?: (x: Tensor, w: Tensor, p: ConvProblem) => Tensor;
    gradInput?: (gy: Tensor, w: Tensor, p: ConvProblem, x?: Tensor) => Tensor;
    gradWeight?: (gy: Tensor, x: Tensor, p: ConvProblem, w?: Tensor) => Tensor;
    /** computes transposed problems itself (default: they reach it as the swapped regular problem) */
    handlesTransposed?: boolean;
    description?: string;
  };

/** true or null: applies; false: does not; a string: does not, and why. */
export type ConvApplicability = (op: ConvOp, p: ConvProblem) => boolean | string | null;

/**
 * Adds an implementation for the meta-optimizer to time alongside the built-in ones
 * (`theano.sandbox.cuda.opt.conv_metaopt.register()` in the post). Like every candidate, it is used
 * only where it is applicable, faster than the others, and agrees with libtorch on the timing inputs.
 */
export function registerConvImplementation(name: string, impl: ConvImplementationOps, applicable: ConvApplicability = () => true): ConvCandidate {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new TypeError(`registerConvImplementation: name must be a word of letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  }
  if (BUILTIN_CANDIDATES.some((c) => c.name === name)) throw new TypeError(`registerConvImplementation: '${name}' is a built-in candidate; choose another name`);
  if (typeof impl !== 'function' && (typeof impl !== 'object' || impl === null || !(impl.forward || impl.gradInput || impl.gradWeight))) {
    throw new TypeError(`registerConvImplementation('${name}'): impl must be a forward function (x, w, problem) => Tensor or an object with forward, gradInput and/or gradWeight`);
  }
  if (typeof applicable !== 'function') throw new TypeError(`registerConvImplementation('${name}'): applicable must be a function (op, problem) => boolean | string, got ${typeof applicable}`);
  const ops = typeof impl === 'function' ? { forward: impl } : impl;
  const c: ConvCandidate = {
    name,
    description: (typeof impl === 'object' && impl.description) || 'registered implementation',
    handlesTransposed: typeof impl === 'object' ? impl.handlesTransposed : false,
    applicable(op, p) {
      const r = applicable(op, p);
      return r === true || r === null || r === undefined ? null : r === false ? 'its applicability function says no' : String(r);
    },
    forward: ops.forward,
    gradInput: ops.gradInput,
    gradWeight: ops.gradWeight,
  };
  registered.set(name, c);
  return c;
}

/** Removes a registered implementation; returns whether there was one. */
export function unregisterConvImplementation(name: string): boolean {
  return registered.delete(name);
}

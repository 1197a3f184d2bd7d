// Cyclic slice, roll and pool (Dieleman, van den Oord, Korshunova et al. 2015, "Classifying plankton
// with deep neural networks"; Dieleman, Willett & Dambre 2015, Galaxy Zoo): a convnet sees each image
// in the orientations of a finite group G, stacked along the batch axis; rolls let each orientation's
// layer see the others' features aligned to its own frame; a pool over the views makes the output
// invariant. G is C4 (the four 90° rotations, 4 views) or D4 (rotations and flips, 8 views).
//
// Conventions. Element g = r^k s^f has index k + 4f (k in 0..3, f in 0..1). Its action on an
// image (dims H, W last) is T_g x = rot90^k(flip_W^f(x)) with torch's rot90 over (H, W). T is a
// left action, T_g T_h = T_{gh}, with the product r^a s^b · r^c s^d = r^(a + (-1)^b c) s^(b xor d),
// because a reflection conjugates a rotation to its inverse (s r s = r^-1). The test checks this
// table against the composition of the actual image transforms.
//
// Batch layout: view-major, (V·N, ...) with view g of example n at row g·N + n.
//
// Why the rolls are right for D4 (the 2015 code shifted view indices as if D4 were cyclic, wrong
// because D4 is not abelian). The views of x are f_g = φ(T_g x) for a per-view network φ. The
// views of a transformed input T_h x are φ(T_g T_h x) = f_{gh}: a transformed input permutes the
// views by right multiplication, exactly (rot90 and flip only move values). A layer keeps that
// property if L(f)_g built from views {f_{σ(g,k)}} satisfies σ(g,k)·h = σ(gh,k) for all h, i.e.
// σ(g,k) = k·g (left multiplication, which commutes with right multiplication by associativity).
// Block k of view g is therefore view kg; its maps live in the frame of T_{kg} x = T_k (T_g x),
// so T_{k^-1} takes them into view g's frame, a transform that depends on k only, as needed:
//     roll(f)_g = concat_k T_{k^-1} f_{kg}        (block k = e is f_g itself)
// For C4 this is the familiar rotation of view g+k back by k; for D4 the index kg differs from
// the cyclic shift g+k whenever g or k contains a flip.
import { Tensor, functions as torch, scope } from '../../tensor';
import { Module } from '../module';

export type ViewGroupName = 'cyclic' | 'dihedral';

/** A finite group of square-image symmetries, with its elements numbered 0..order-1 (0 = identity). */
export interface ViewGroup {
  readonly name: ViewGroupName;
  readonly order: number;
  /** Index of the product a·b (apply b, then a). */
  mul(a: number, b: number): number;
  inv(a: number): number;
  /** T_g applied to the last two dims (H, W) of x; H must equal W for rotations by 90° and 270°. */
  apply(x: Tensor, g: number): Tensor;
}

function makeGroup(name: ViewGroupName, flips: boolean): ViewGroup {
  const order = flips ? 8 : 4;
  const mod4 = (v: number) => ((v % 4) + 4) % 4;
  const mul = (a: number, b: number) => {
    const ka = a % 4, fa = a >> 2, kb = b % 4, fb = b >> 2;
    return mod4(ka + (fa ? -kb : kb)) + 4 * (fa ^ fb);
  };
  const inv = (a: number) => {
    for (let b = 0; b < order; b++) if (mul(a, b) === 0) return b;
    throw new Error('unreachable');
  };
  const apply = (x: Tensor, g: number) => {
    const k = g % 4, f = g >> 2, d = x.ndim;
    return scope(() => {
      const flipped = f ? x.flip([d - 1]) : x;
      return k ? flipped.rot90(k, [d - 2, d - 1]) : flipped === x ? x.alias() : flipped;
    });
  };
  return { name, order, mul, inv, apply };
}

/** C4: the rotations by 0°, 90°, 180°, 270°. */
export const CYCLIC: ViewGroup = makeGroup('cyclic', false);
/** D4: the rotations, each also after a horizontal flip. */
export const DIHEDRAL: ViewGroup = makeGroup('dihedral', true);

export interface CyclicOptions {
  /** 'cyclic' (4 views, default) or 'dihedral' (8 views: rotations and flips). */
  group?: ViewGroupName;
}

function group(layer: string, o: CyclicOptions): ViewGroup {
  const g = o.group ?? 'cyclic';
  if (g === 'cyclic') return CYCLIC;
  if (g === 'dihedral') return DIHEDRAL;
  throw new TypeError(`${layer}: option group must be 'cyclic' or 'dihedral', got ${JSON.stringify(g)}`);
}

function checkRank(layer: string, x: Tensor, rank: number, what: string): void {
  if (x.ndim !== rank) throw new TypeError(`${layer}: input must be ${what}, got shape [${x.shape.join(', ')}]`);
}
function checkSquare(layer: string, x: Tensor): void {
  const [h, w] = x.shape.slice(-2);
  if (h !== w) {
    throw new TypeError(`${layer}: input maps must be square (rotating by 90° swaps height and width), got ${h}x${w} in shape [${x.shape.join(', ')}]`);
  }
}
function checkViews(layer: string, x: Tensor, g: ViewGroup): number {
  const b = x.shape[0];
  if (b % g.order) {
    throw new TypeError(`${layer}: batch size ${b} of shape [${x.shape.join(', ')}] must be divisible by the ${g.order} views of the ${g.name} group`);
  }
  return b / g.order;
}

/** (N, C, H, W) -> (V·N, C, H, W): each example in the V orientations of the group, view-major. */
export class CyclicSlice extends Module {
  readonly group: ViewGroup;
  constructor(o: CyclicOptions = {}) {
    super();
    this.group = group('CyclicSlice', o);
  }
  forward(x: Tensor): Tensor {
    checkRank('CyclicSlice', x, 4, '(N, C, H, W)');
    checkSquare('CyclicSlice', x);
    return scope(() => torch.cat(Array.from({ length: this.group.order }, (_, g) => this.group.apply(x, g)), 0));
  }
}

/** Row order for block k: view g's block comes from view k·g. */
function rolledViews(x: Tensor, G: ViewGroup, k: number): Tensor {
  const views = x.chunk(G.order, 0);
  return torch.cat(Array.from({ length: G.order }, (_, g) => views[G.mul(k, g)]), 0);
}

/**
 * Dense roll, (V·N, F) -> (V·N, V·F): view g gets the features of every view, block k holding
 * view k·g (block 0 is its own). See the header for why left multiplication.
 */
export class CyclicRoll extends Module {
  readonly group: ViewGroup;
  constructor(o: CyclicOptions = {}) {
    super();
    this.group = group('CyclicRoll', o);
  }
  forward(x: Tensor): Tensor {
    checkRank('CyclicRoll', x, 2, '(V·N, F) (use CyclicConvRoll for feature maps)');
    checkViews('CyclicRoll', x, this.group);
    return scope(() => torch.cat(Array.from({ length: this.group.order }, (_, k) => rolledViews(x, this.group, k)), 1));
  }
}

/**
 * Feature-map roll, (V·N, C, H, W) -> (V·N, V·C, H, W): block k of view g is view k·g's maps
 * transformed by T_{k^-1} into view g's frame. The maps must be square, and they align exactly
 * only where the layers below commute with the rotations (odd sizes with 3x3 stride-2 valid
 * pooling, as the plankton models; even sizes with 2x2 stride 2).
 */
export class CyclicConvRoll extends Module {
  readonly group: ViewGroup;
  constructor(o: CyclicOptions = {}) {
    super();
    this.group = group('CyclicConvRoll', o);
  }
  forward(x: Tensor): Tensor {
    checkRank('CyclicConvRoll', x, 4, '(V·N, C, H, W)');
    checkViews('CyclicConvRoll', x, this.group);
    checkSquare('CyclicConvRoll', x);
    const G = this.group;
    return scope(() => torch.cat(Array.from({ length: G.order }, (_, k) => G.apply(rolledViews(x, G, k), G.inv(k))), 1));
  }
}

export type CyclicPoolFunction = 'mean' | 'max' | 'rms';

/**
 * (V·N, ...) -> (N, ...): pools each example's V views. The plankton models found root-mean-square
 * pooling (sqrt of the mean square) much better than mean or max.
 */
export class CyclicPool extends Module {
  readonly group: ViewGroup;
  readonly pool: CyclicPoolFunction;
  /** Added to the mean square before the root: keeps rms's gradient finite where all views are 0. */
  readonly eps: number;
  constructor(o: CyclicOptions & { pool?: CyclicPoolFunction; eps?: number } = {}) {
    super();
    this.group = group('CyclicPool', o);
    this.pool = o.pool ?? 'mean';
    if (!['mean', 'max', 'rms'].includes(this.pool)) throw new TypeError(`CyclicPool: option pool must be 'mean', 'max' or 'rms', got ${JSON.stringify(this.pool)}`);
    this.eps = o.eps ?? 1e-8;
    if (!(this.eps >= 0 && Number.isFinite(this.eps))) throw new TypeError(`CyclicPool: option eps must be a finite number >= 0, got ${this.eps}`);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 1) throw new TypeError('CyclicPool: input must have a batch dimension, got a scalar');
    const n = checkViews('CyclicPool', x, this.group);
    return scope(() => {
      const v = x.reshape([this.group.order, n, ...x.shape.slice(1)]); // (V, N, ...)
      return this.pool === 'max' ? v.amax(0) : this.pool === 'mean' ? v.mean(0) : v.square().mean(0).add(this.eps).sqrt();
    });
  }
}

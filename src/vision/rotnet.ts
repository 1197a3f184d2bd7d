// The rotation-invariant convnets of the plankton solution (Dieleman et al. 2015), small enough for
// a CPU: three stages of 3x3 'same' convolution + leaky ReLU (a = 1/3) + 3x3 stride-2 max pooling
// (31 -> 15 -> 7 -> 3), a dense layer, and the softmax layer. The variants share that body:
//   plain        the body alone (augmentation gives it what rotation invariance it gets)
//   cyclic-pool  cyclic slice (4 views) before the body, root-mean-square cyclic pooling before the
//                softmax layer (the post: "root-mean-square pooling gave much better results")
//   cyclic-roll  and a cyclic roll after every pooling stage (each view's next layer sees the other
//                views' maps rotated into its frame: 4x the input channels)
//   dihedral     the roll network over D4 (8 views: rotations and flips)
// Rolls need maps on which pooling commutes with the rotations; the builder checks every stage.
import { Generator, Tensor, scope } from '../tensor';
import {
  Conv2d, CyclicConvRoll, CyclicPool, CyclicPoolFunction, CyclicSlice, Dropout, Flatten, LeakyReLU, Linear, MaxPool2d, Module, Sequential,
  ViewGroupName, init, numParams,
} from '../nn';

export type RotnetArch = 'plain' | 'cyclic-pool' | 'cyclic-roll' | 'dihedral';
export const ROTNET_ARCHS: readonly RotnetArch[] = ['plain', 'cyclic-pool', 'cyclic-roll', 'dihedral'];
/** The `kind` in the config of a rotnet checkpoint. */
export const ROTNET_KIND = 'rotnet';

export interface RotnetConfig {
  arch: RotnetArch;
  /** Channels of the three conv stages: width, 2·width, 2·width. */
  width: number;
  /** Units of the dense layer. */
  hidden: number;
  classes: number;
  /** Side of the square input images (odd sizes 2^k·m - 1 keep 3x3/2 pooling exact under rotation: 31, 63, 95). */
  inputSize: number;
  inChannels: number;
  /** The cyclic pooling function (cyclic archs). */
  pool: CyclicPoolFunction;
  /** Dropout before the softmax layer. */
  dropout: number;
  /** Leaky ReLU slope (the post settled on 1/3). */
  leak: number;
}

export const DEFAULT_ROTNET: RotnetConfig = {
  arch: 'cyclic-roll', width: 16, hidden: 64, classes: 10, inputSize: 31, inChannels: 1, pool: 'rms', dropout: 0.3, leak: 1 / 3,
};

const group = (arch: RotnetArch): ViewGroupName | null => (arch === 'plain' ? null : arch === 'dihedral' ? 'dihedral' : 'cyclic');
const rolls = (arch: RotnetArch): boolean => arch === 'cyclic-roll' || arch === 'dihedral';
/** Orientations each example is processed in. */
export const viewsOf = (arch: RotnetArch): number => (arch === 'plain' ? 1 : arch === 'dihedral' ? 8 : 4);

/**
 * The sizes of the maps after each 3x3/2 pooling stage; throws when a roll would meet maps on which
 * the pooling below does not commute with 90° rotations (an even size for 3x3 stride 2 samples a
 * grid that is not symmetric about the centre, so the rolled views would be misaligned by a pixel).
 */
export function stageSizes(c: Pick<RotnetConfig, 'arch' | 'inputSize'>): number[] {
  const sizes: number[] = [];
  let s = c.inputSize;
  for (let stage = 0; stage < 3; stage++) {
    if (s < 3) throw new RangeError(`rotnet: inputSize ${c.inputSize} is too small: the maps are ${s}x${s} before pooling stage ${stage + 1} (3 stages of 3x3 stride-2 pooling need at least 15)`);
    if (group(c.arch) !== null && s % 2 === 0) {
      throw new RangeError(`rotnet: inputSize ${c.inputSize} gives ${s}x${s} maps at pooling stage ${stage + 1}, where 3x3 stride-2 pooling does not commute with 90° rotations `
        + `(it needs odd sizes), so the ${c.arch} network would not be exactly invariant; use an inputSize of 2^k·m - 1 such as 31, 63 or 95`);
    }
    s = (s - 3) / 2 + 1;
    if (!Number.isInteger(s)) s = Math.floor(s);
    sizes.push(s);
  }
  return sizes;
}

function checkConfig(c: RotnetConfig): void {
  if (!ROTNET_ARCHS.includes(c.arch)) throw new TypeError(`rotnet: arch must be one of ${ROTNET_ARCHS.join(', ')}, got ${JSON.stringify(c.arch)}`);
  for (const k of ['width', 'hidden', 'classes', 'inputSize', 'inChannels'] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 1) throw new RangeError(`rotnet: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new RangeError(`rotnet: dropout must be in [0, 1), got ${c.dropout}`);
  if (!(c.leak >= 0 && c.leak <= 1)) throw new RangeError(`rotnet: leak must be in [0, 1], got ${c.leak}`);
}

/** (N, C, S, S) images in [0, 1] -> (N, classes) logits. */
export class Rotnet extends Module {
  body: Sequential;
  drop: Dropout;
  pool: CyclicPool | null;
  out: Linear;
  readonly config: RotnetConfig;

  constructor(config: Partial<RotnetConfig> = {}, o: { generator?: Generator } = {}) {
    super();
    const c: RotnetConfig = { ...DEFAULT_ROTNET, ...config };
    checkConfig(c);
    const sizes = stageSizes(c);
    this.config = c;
    const g = o.generator, G = group(c.arch), V = viewsOf(c.arch);
    // orthogonal initialisation with the leaky ReLU's gain, as the post (Saxe et al.)
    const W = init.orthogonal({ gain: init.leakyRelu(c.leak) });
    const layers: Module[] = G ? [new CyclicSlice({ group: G })] : [];
    const channels = [c.width, 2 * c.width, 2 * c.width];
    let cin = c.inChannels;
    for (const cout of channels) {
      layers.push(new Conv2d(cin, cout, 3, { padding: 1, W, generator: g }), new LeakyReLU(c.leak), new MaxPool2d(3, { stride: 2 }));
      cin = cout;
      if (rolls(c.arch)) {
        layers.push(new CyclicConvRoll({ group: G! }));
        cin *= V;
      }
    }
    const last = sizes[2];
    layers.push(new Flatten(), new Linear(cin * last * last, c.hidden, { W, generator: g }), new LeakyReLU(c.leak));
    this.body = new Sequential(...layers);
    this.pool = G ? new CyclicPool({ group: G, pool: c.pool }) : null;
    this.drop = new Dropout(c.dropout, { generator: g });
    this.out = new Linear(c.hidden, c.classes, { generator: g });
  }

  /** The invariant features (N, hidden): the dense layer's output pooled over the views. */
  features(x: Tensor): Tensor {
    return scope(() => {
      const f = this.body(x.dtype === 'uint8' ? x.float().div(255) : x); // (V·N, hidden)
      return this.pool ? this.pool(f) : f;
    });
  }

  forward(x: Tensor): Tensor {
    return scope(() => this.out(this.drop(this.features(x))));
  }
}

/** Parameters of the network a config builds (without building it). */
export function rotnetParams(c: Partial<RotnetConfig>): number {
  const m = new Rotnet(c, { generator: new Generator(0) });
  return numParams(m);
}

/**
 * The width at which `arch` has the parameter count closest to `target` (equal-parameter comparisons:
 * a roll network's convolutions see V times the channels, so it gets fewer of its own).
 */
export function widthForParams(arch: RotnetArch, target: number, base: Partial<RotnetConfig> = {}): number {
  if (!(target > 0)) throw new RangeError(`widthForParams: target must be a positive number of parameters, got ${target}`);
  let best = 1, bestErr = Infinity;
  for (let w = 1; w <= 256; w++) {
    const n = countParams({ ...DEFAULT_ROTNET, ...base, arch, width: w });
    const err = Math.abs(n - target);
    if (err < bestErr) { best = w; bestErr = err; }
    if (n > target) break;
  }
  return best;
}

/** The closed-form parameter count of a config (what rotnetParams counts by building it). */
export function countParams(c: RotnetConfig): number {
  const V = rolls(c.arch) ? viewsOf(c.arch) : 1;
  const ch = [c.width, 2 * c.width, 2 * c.width];
  let cin = c.inChannels, n = 0;
  for (const cout of ch) { n += 9 * cin * cout + cout; cin = cout * V; }
  const s = stageSizes(c)[2];
  return n + cin * s * s * c.hidden + c.hidden + c.hidden * c.classes + c.classes;
}

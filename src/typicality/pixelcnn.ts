// A small PixelCNN (van den Oord et al. 2016, "Pixel recurrent neural networks"): an autoregressive
// model of one-channel images, p(x) = Π_i p(x_i | x_<i) in raster order, each factor a categorical
// over `levels` pixel values, so log p(x) is exact and bits/dim is −log2 p(x) / (H·W).
//
// Causality comes from masked convolutions, built with the layer library's expression parameters:
// each masked layer is a Conv2d whose W is `expr((w) => w.mul(mask), w)` over a learnable w and a
// fixed 0/1 mask. Mask A (first layer) hides the centre pixel and everything after it in raster
// order; mask B (later layers) also lets the centre through (the centre's features there only
// depend on earlier pixels already). With one input channel no channel-group masking is needed.
// Like the original PixelCNN it has a blind spot (up and to the right), which costs likelihood but
// not correctness.
import { F, Generator, Tensor, functions as torch, keep, noGrad, scope, tensor } from '../tensor';
import { Conv2d, Module, Parameter, expr, init, makeParam } from '../nn';

export interface PixelCNNConfig {
  /** Pixel values 0..levels-1 (256 for 8-bit images, 2 for binarised). */
  levels: number;
  /** Hidden channels. */
  channels: number;
  /** Residual masked-conv blocks after the first (type A) layer. */
  blocks: number;
  /** Kernel size of the first layer (odd). */
  firstKernel: number;
  /** Kernel size of the residual blocks (odd). */
  kernel: number;
}

export const DEFAULT_PIXELCNN: PixelCNNConfig = { levels: 256, channels: 32, blocks: 5, firstKernel: 7, kernel: 3 };

/** The [k, k] 0/1 mask of a masked convolution: rows above the centre, and the centre row left of (A) or up to (B) the centre. */
export function causalMask(k: number, type: 'A' | 'B'): number[][] {
  if (!(Number.isInteger(k) && k >= 1 && k % 2 === 1)) throw new RangeError(`causalMask: kernel size must be odd, got ${k}`);
  const c = (k - 1) / 2;
  return Array.from({ length: k }, (_, r) => Array.from({ length: k }, (_, col) => (r < c || (r === c && (type === 'B' ? col <= c : col < c)) ? 1 : 0)));
}

/** A Conv2d (stride 1, 'same' padding) whose weight is the expression w ⊙ mask. */
export function maskedConv2d(inChannels: number, outChannels: number, k: number, type: 'A' | 'B', o: { generator?: Generator } = {}): Conv2d {
  const m = causalMask(k, type);
  // the mask is a fixed tensor held by the expression's closure: it is not a parameter (not trained, not checkpointed)
  const mask = keep(noGrad(() => tensor(m.map((row) => row.map(Number)), { dtype: 'float32' }).reshape([1, 1, k, k])));
  const fanIn = inChannels * m.flat().reduce((a, b) => a + b, 0);
  // He-normal over the taps that survive the mask
  const w = makeParam(init.normal(Math.sqrt(2 / Math.max(1, fanIn))), [outChannels, inChannels, k, k], 'maskedConv2d.w', { generator: o.generator }) as Parameter;
  return new Conv2d(inChannels, outChannels, k, { padding: (k - 1) / 2, W: expr((wt) => wt.mul(mask), w), generator: o.generator });
}

/** One residual block: h + conv1x1(relu(maskedConv_B(relu(h)))). */
export class PixelBlock extends Module {
  conv: Conv2d;
  proj: Conv2d;
  constructor(channels: number, k: number, o: { generator?: Generator } = {}) {
    super();
    this.conv = maskedConv2d(channels, channels, k, 'B', o);
    this.proj = new Conv2d(channels, channels, 1, { W: init.heNormal({ gain: 'relu' }), generator: o.generator });
    // start each residual branch small, so the stack begins close to the identity
    noGrad(() => (this.proj.W as Tensor).mul_(0.1));
  }
  forward(h: Tensor): Tensor {
    return scope(() => h.add(this.proj(this.conv(h.relu()).relu())));
  }
}

/**
 * (N, 1, H, W) integer pixel values in 0..levels-1 -> (N, levels, H, W) logits; logits at pixel i
 * depend only on pixels before i in raster order.
 */
export class PixelCNN extends Module {
  readonly config: PixelCNNConfig;
  input: Conv2d;
  blocks: PixelBlock[];
  hidden: Conv2d;
  out: Conv2d;

  constructor(config: Partial<PixelCNNConfig> = {}, o: { generator?: Generator } = {}) {
    super();
    const c = { ...DEFAULT_PIXELCNN, ...config };
    if (!(Number.isInteger(c.levels) && c.levels >= 2)) throw new RangeError(`PixelCNN: levels must be an integer >= 2, got ${c.levels}`);
    this.config = c;
    this.input = maskedConv2d(1, c.channels, c.firstKernel, 'A', o);
    this.blocks = Array.from({ length: c.blocks }, () => new PixelBlock(c.channels, c.kernel, o));
    this.hidden = new Conv2d(c.channels, c.channels, 1, { W: init.heNormal({ gain: 'relu' }), generator: o.generator });
    this.out = new Conv2d(c.channels, c.levels, 1, { generator: o.generator });
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const L = this.config.levels;
      let h = this.input(x.float().mul(2 / (L - 1)).sub(1));
      for (const b of this.blocks) h = b(h);
      return this.out(this.hidden(h.relu()).relu());
    });
  }

  /** log p(x) in nats per image, [N] (float32), for integer pixel values x of shape (N, 1, H, W). */
  logProb(x: Tensor): Tensor {
    return scope(() => {
      const logits = this.forward(x);
      const target = x.reshape([x.shape[0], x.shape[2], x.shape[3]]).to('int64');
      const nll = F.crossEntropy(logits, target, { reduction: 'none' }); // (N, H, W) nats
      return nll.sum([1, 2]).neg();
    });
  }

  /** −log2 p(x) / (H·W) per image, [N]. */
  bitsPerDim(x: Tensor): Tensor {
    return scope(() => this.logProb(x).neg().div(Math.LN2 * x.shape[2] * x.shape[3]));
  }

  /** The training loss: mean bits/dim over the batch (a scalar tensor). */
  loss(x: Tensor): Tensor {
    return scope(() => {
      const logits = this.forward(x);
      const target = x.reshape([x.shape[0], x.shape[2], x.shape[3]]).to('int64');
      return F.crossEntropy(logits, target).div(Math.LN2);
    });
  }

  /**
   * Fills pixels from raster position `from` on (row-major index into H·W), one at a time: greedy
   * (argmax) when temperature is 0, else sampled from softmax(logits / temperature). Pixels before
   * `from` are kept from `init` (default zeros). Returns a new int64 (N, 1, H, W) tensor.
   */
  complete(init: Tensor, o: { from?: number; temperature?: number; generator?: Generator } = {}): Tensor {
    const [N, , H, W] = init.shape;
    const T = o.temperature ?? 0;
    const from = o.from ?? 0;
    const wasTraining = this.training;
    this.eval();
    try {
      return noGrad(() => {
        let x = keep(init.to('int64').clone());
        for (let p = from; p < H * W; p++) {
          const r = Math.floor(p / W), c = p % W;
          const next = scope(() => {
            const logits = this.forward(x).i(':', ':', r, c); // (N, levels)
            const v = T === 0 ? logits.argmax(1)
              : torch.multinomial(logits.div(T).softmax(1), 1, { generator: o.generator ?? null }).reshape([N]);
            const y = x.clone();
            y.iset([':', 0, r, c], v);
            return y;
          });
          x.dispose();
          x = keep(next);
        }
        return x;
      });
    } finally {
      this.train(wasTraining);
    }
  }
}

/** uint8 images (0..255) -> integer levels 0..levels-1 (identity for 256). */
export function quantize(images: Tensor, levels: number): Tensor {
  return scope(() => (levels === 256 ? images.to('int64') : images.to('int64').mul(levels).div(256, { roundingMode: 'floor' })));
}

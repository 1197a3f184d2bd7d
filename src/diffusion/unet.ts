// A small U-Net for denoising 28×28 and 32×32 images (Ronneberger et al. 2015; the DDPM/ADM
// layout of Ho et al. 2020 and Dhariwal & Nichol 2021): residual blocks of GroupNorm + SiLU + conv
// conditioned by adaptive group norm on a noise (+ class) embedding, self-attention at low
// resolution, stride-2 conv downsampling, nearest + conv upsampling, concatenated skips, and a
// zero-initialised output conv. Its call signature is a RawNetwork, so `edmPrecondition(unet)` is
// a Denoiser.
import { F, Generator, Tensor, checkShape, functions as torch, scope, tensor } from '../tensor';
import { Module } from '../nn/module';
import { Conv2d } from '../nn/layers/conv';
import { Linear } from '../nn/layers/linear';
import { GroupNorm, groupsFor } from '../nn/layers/norm';
import { AdaptiveGroupNorm } from '../nn/layers/conditioning';
import { MultiheadAttention } from '../nn/layers/attention';
import { Embedding } from '../nn/layers/embedding';
import { Dropout } from '../nn/layers/dropout';
import { FourierFeatures, SinusoidalEmbedding } from '../nn/layers/noise_embedding';
import { zeros } from '../nn/init';

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  /** Base channel count (e.g. 32); level i has channels·channelMult[i]. */
  channels: number;
  /** Per-level multipliers; one stride-2 downsampling between consecutive levels (default [1, 2, 2]). */
  channelMult?: number[];
  /** Residual blocks per level on the way down (the way up has one more, as in DDPM). Default 2. */
  numResBlocks?: number;
  /** Side lengths at which residual blocks are followed by self-attention (default [imageSize / 4 rounded up]). */
  attentionResolutions?: number[];
  /** Side length of the input images (28 or 32, ...); only decides where attention goes. Default 32. */
  imageSize?: number;
  /** Dropout rate inside residual blocks (default 0). */
  dropout?: number;
  /** Number of classes; the embedding gets an extra learnable null class at index numClasses. */
  numClasses?: number;
  /** 'fourier' (random Fourier features, NCSN++/EDM) or 'sinusoidal' (DDPM) embedding of c_noise. Default 'fourier'. */
  noiseEmbedding?: 'fourier' | 'sinusoidal';
  /** Scale of the Fourier frequencies (default 16). */
  fourierScale?: number;
  /** Attention heads (default 4; 1 where the channel count is not divisible). */
  numHeads?: number;
  /** Maximum number of GroupNorm groups (default 32; the largest divisor of the channel count not above it). */
  numGroups?: number;
  /** Generator for every initialiser (deterministic init). */
  generator?: Generator;
  /** Generator of the dropout masks. */
  dropoutGenerator?: Generator;
}

/** GroupNorm → SiLU → conv → AdaGN(emb) → SiLU → dropout → conv, plus a (1×1 conv) skip. */
export class ResBlock extends Module {
  norm1: GroupNorm;
  conv1: Conv2d;
  norm2: AdaptiveGroupNorm;
  dropout: Dropout;
  conv2: Conv2d;
  skip: Conv2d | null;

  constructor(inC: number, outC: number, embDim: number, o: { dropout: number; maxGroups: number; generator?: Generator; dropoutGenerator?: Generator }) {
    super();
    const g = o.generator;
    this.norm1 = new GroupNorm(groupsFor(inC, o.maxGroups), inC);
    this.conv1 = new Conv2d(inC, outC, 3, { padding: 1, generator: g });
    this.norm2 = new AdaptiveGroupNorm(groupsFor(outC, o.maxGroups), outC, embDim, { generator: g });
    this.dropout = new Dropout(o.dropout, { generator: o.dropoutGenerator });
    this.conv2 = new Conv2d(outC, outC, 3, { padding: 1, generator: g });
    this.skip = inC === outC ? null : new Conv2d(inC, outC, 1, { generator: g });
  }

  /** x (B, inC, H, W), emb (B, embDim) already passed through SiLU -> (B, outC, H, W). */
  forward(x: Tensor, emb: Tensor): Tensor {
    return scope(() => {
      // each intermediate is freed as soon as the next exists (autograd keeps what backward needs),
      // so a no-grad forward holds two activations at a time, as Python's refcounting would
      const step = (t: Tensor, f: (t: Tensor) => Tensor): Tensor => {
        const out = f(t);
        if (out !== t) t.dispose();
        return out;
      };
      let h = step(this.norm1(x), (t) => F.silu(t));
      h = step(h, (t) => this.conv1(t));
      h = step(h, (t) => this.norm2(t, emb));
      h = step(h, (t) => F.silu(t));
      h = step(h, (t) => this.dropout(t));
      h = step(h, (t) => this.conv2(t));
      return step(h, (t) => (this.skip ? this.skip(x) : x).add(t));
    });
  }
}

/** Pre-norm self-attention over the H·W positions, with a residual connection. */
export class AttentionBlock extends Module {
  norm: GroupNorm;
  attn: MultiheadAttention;

  constructor(c: number, o: { numHeads: number; maxGroups: number; generator?: Generator }) {
    super();
    this.norm = new GroupNorm(groupsFor(c, o.maxGroups), c);
    this.attn = new MultiheadAttention(c, c % o.numHeads === 0 ? o.numHeads : 1, { generator: o.generator });
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const [B, C, H, W] = x.shape;
      const seq = this.norm(x).reshape([B, C, H * W]).transpose(1, 2); // (B, HW, C)
      const y = this.attn(seq).transpose(1, 2).reshape([B, C, H, W]);
      return x.add(y);
    });
  }
}

/** Stride-2 3×3 conv: 28 → 14 → 7, 32 → 16 → 8. */
export class Downsample extends Module {
  conv: Conv2d;
  constructor(c: number, generator?: Generator) {
    super();
    this.conv = new Conv2d(c, c, 3, { stride: 2, padding: 1, generator });
  }
  forward(x: Tensor): Tensor {
    return this.conv(x);
  }
}

/** Nearest-neighbour upsampling to a given size, then a 3×3 conv. */
export class Upsample extends Module {
  conv: Conv2d;
  constructor(c: number, generator?: Generator) {
    super();
    this.conv = new Conv2d(c, c, 3, { padding: 1, generator });
  }
  forward(x: Tensor, size: [number, number]): Tensor {
    return scope(() => this.conv(F.interpolate(x, { size, mode: 'nearest' })));
  }
}

/** One level of the network: residual blocks, each optionally followed by attention. */
class Stage extends Module {
  blocks: ResBlock[];
  attns: (AttentionBlock | null)[];
  constructor(blocks: ResBlock[], attns: (AttentionBlock | null)[]) {
    super();
    this.blocks = blocks;
    this.attns = attns;
  }
  forward(): never {
    throw new Error('Stage is driven by UNet');
  }
}

export interface UNetExtra extends Record<string, unknown> {
  /** (B,) int64 class ids; −1 (or a missing/null `labels`) selects the learnable null class. */
  labels?: Tensor | number[] | null;
}

/**
 * U-Net: forward(xIn (B, C_in, H, W), cNoise (B,), extra?: { labels }) -> (B, C_out, H, W).
 * Structure (ADM-style): in-conv; per level numResBlocks ResBlocks (+attention), stride-2 down;
 * middle Res-Attn-Res; per level (reversed) numResBlocks + 1 ResBlocks on [h, skip] (+attention),
 * nearest + conv up; GroupNorm-SiLU-conv out, zero-initialised.
 */
export class UNet extends Module {
  readonly config: Required<Omit<UNetConfig, 'generator' | 'dropoutGenerator' | 'numClasses'>> & { numClasses: number | null };
  readonly embDim: number;
  noiseEmbed: FourierFeatures | SinusoidalEmbedding;
  embed1: Linear;
  embed2: Linear;
  classEmbed: Embedding | null;
  inConv: Conv2d;
  down: Stage[];
  downsample: (Downsample | null)[];
  mid1: ResBlock;
  midAttn: AttentionBlock;
  mid2: ResBlock;
  up: Stage[];
  upsample: (Upsample | null)[];
  outNorm: GroupNorm;
  outConv: Conv2d;

  constructor(cfg: UNetConfig) {
    super();
    const channelMult = cfg.channelMult ?? [1, 2, 2];
    const imageSize = cfg.imageSize ?? 32;
    const config = {
      inChannels: cfg.inChannels,
      outChannels: cfg.outChannels,
      channels: cfg.channels,
      channelMult,
      numResBlocks: cfg.numResBlocks ?? 2,
      attentionResolutions: cfg.attentionResolutions ?? [Math.ceil(imageSize / 4)],
      imageSize,
      dropout: cfg.dropout ?? 0,
      numClasses: cfg.numClasses ?? null,
      noiseEmbedding: cfg.noiseEmbedding ?? 'fourier',
      fourierScale: cfg.fourierScale ?? 16,
      numHeads: cfg.numHeads ?? 4,
      numGroups: cfg.numGroups ?? 32,
    };
    for (const [k, v] of [['inChannels', config.inChannels], ['outChannels', config.outChannels], ['channels', config.channels], ['imageSize', imageSize]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new TypeError(`UNet: ${k} must be a positive integer, got ${v}`);
    }
    if (!channelMult.length || channelMult.some((m) => !Number.isInteger(m) || m <= 0)) throw new TypeError(`UNet: channelMult must be a non-empty list of positive integers, got ${JSON.stringify(channelMult)}`);
    if (!Number.isInteger(config.numResBlocks) || config.numResBlocks < 1) throw new TypeError(`UNet: numResBlocks must be >= 1, got ${config.numResBlocks}`);
    if (config.numClasses !== null && (!Number.isInteger(config.numClasses) || config.numClasses <= 0)) throw new TypeError(`UNet: numClasses must be a positive integer, got ${config.numClasses}`);
    for (const [k, v] of [['numHeads', config.numHeads], ['numGroups', config.numGroups]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new RangeError(`UNet: ${k} must be a positive integer, got ${v}`);
    }
    if (config.noiseEmbedding !== 'fourier' && config.noiseEmbedding !== 'sinusoidal') throw new TypeError(`UNet: noiseEmbedding must be 'fourier' or 'sinusoidal', got ${JSON.stringify(config.noiseEmbedding)}`);
    // the Fourier noise embedding has channels / 2 random frequencies, each giving a cos and a sin feature
    if (config.noiseEmbedding === 'fourier' && config.channels % 2) throw new RangeError(`UNet: channels must be even with noiseEmbedding 'fourier' (a cos and a sin per frequency), got ${config.channels}`);
    if (!(config.fourierScale > 0 && Number.isFinite(config.fourierScale))) throw new RangeError(`UNet: fourierScale must be a positive number, got ${config.fourierScale}`);
    if (!(config.dropout >= 0 && config.dropout < 1)) throw new RangeError(`UNet: dropout must lie in [0, 1), got ${config.dropout}`);
    this.config = config;

    const g = cfg.generator;
    const C = config.channels;
    const embDim = (this.embDim = 4 * C);
    const block = { dropout: config.dropout, maxGroups: config.numGroups, generator: g, dropoutGenerator: cfg.dropoutGenerator };
    const attn = { numHeads: config.numHeads, maxGroups: config.numGroups, generator: g };

    this.noiseEmbed = config.noiseEmbedding === 'fourier'
      ? new FourierFeatures(C, { scale: config.fourierScale, generator: g })
      : new SinusoidalEmbedding(C);
    this.embed1 = new Linear(C, embDim, { generator: g });
    this.embed2 = new Linear(embDim, embDim, { generator: g });
    // numClasses real classes plus the null class (classifier-free guidance, Ho & Salimans 2022)
    this.classEmbed = config.numClasses === null ? null : new Embedding(config.numClasses + 1, embDim, { generator: g });

    this.inConv = new Conv2d(config.inChannels, C, 3, { padding: 1, generator: g });
    const skipChannels: number[] = [C];
    let ch = C;
    let res = imageSize;
    this.down = [];
    this.downsample = [];
    const levels = channelMult.length;
    const resAt: number[] = [];
    for (let i = 0; i < levels; i++) {
      resAt.push(res);
      const out = C * channelMult[i];
      const blocks: ResBlock[] = [], attns: (AttentionBlock | null)[] = [];
      for (let j = 0; j < config.numResBlocks; j++) {
        blocks.push(new ResBlock(ch, out, embDim, block));
        ch = out;
        attns.push(config.attentionResolutions.includes(res) ? new AttentionBlock(ch, attn) : null);
        skipChannels.push(ch);
      }
      this.down.push(new Stage(blocks, attns));
      if (i < levels - 1) {
        this.downsample.push(new Downsample(ch, g));
        skipChannels.push(ch);
        res = Math.ceil(res / 2);
      } else this.downsample.push(null);
    }
    this.mid1 = new ResBlock(ch, ch, embDim, block);
    this.midAttn = new AttentionBlock(ch, attn);
    this.mid2 = new ResBlock(ch, ch, embDim, block);
    this.up = [];
    this.upsample = [];
    for (let i = levels - 1; i >= 0; i--) {
      const out = C * channelMult[i];
      const blocks: ResBlock[] = [], attns: (AttentionBlock | null)[] = [];
      for (let j = 0; j <= config.numResBlocks; j++) {
        blocks.push(new ResBlock(ch + skipChannels.pop()!, out, embDim, block));
        ch = out;
        attns.push(config.attentionResolutions.includes(resAt[i]) ? new AttentionBlock(ch, attn) : null);
      }
      this.up.push(new Stage(blocks, attns));
      this.upsample.push(i > 0 ? new Upsample(ch, g) : null);
    }
    this.outNorm = new GroupNorm(groupsFor(ch, config.numGroups), ch);
    // zero output: at init the preconditioned denoiser is c_skip·x
    this.outConv = new Conv2d(ch, config.outChannels, 3, { padding: 1, W: zeros, b: zeros });
  }

  /** The conditioning vector (B, embDim), before the SiLU the blocks apply. */
  embedding(cNoise: Tensor, labels?: Tensor | number[] | null): Tensor {
    return scope(() => {
      const freqs = this.noiseEmbed.freqs as Tensor;
      const c = cNoise.ndim === 0 ? cNoise.reshape([1]) : cNoise;
      let emb = this.embed2(F.silu(this.embed1(this.noiseEmbed(c.to(freqs.dtype)))));
      if (this.classEmbed) {
        const B = c.shape[0];
        const nul = this.config.numClasses!;
        let ids: Tensor;
        if (labels === undefined || labels === null) ids = torch.full([B], nul, { dtype: 'int64', device: c.device });
        else {
          const l = Array.isArray(labels) ? tensor(labels, { dtype: 'int64', device: c.device }) : labels.to({ dtype: 'int64', device: c.device });
          checkShape('UNet', 'labels', l, [B], 'one class per sample');
          const lo = l.numel() ? (l.min().item() as number) : 0, hi = l.numel() ? (l.max().item() as number) : 0;
          if (lo < -1 || hi > nul) throw new RangeError(`UNet: labels must be classes in 0..${nul - 1}, or -1 or ${nul} for no label, got ${lo < -1 ? lo : hi}`);
          ids = l.maskedFill(l.lt(0), nul); // −1 -> the null class
        }
        emb = emb.add(this.classEmbed(ids));
      }
      return emb;
    });
  }

  forward(xIn: Tensor, cNoise: Tensor, extra?: UNetExtra | Record<string, unknown>): Tensor {
    return scope(() => {
      if (xIn.ndim !== 4 || xIn.shape[1] !== this.config.inChannels) {
        throw new TypeError(`UNet: expected input (B, ${this.config.inChannels}, H, W), got [${xIn.shape.join(', ')}]`);
      }
      const emb = F.silu(this.embedding(cNoise, extra?.labels as UNetExtra['labels']));
      let h = this.inConv(xIn);
      const skips: Tensor[] = [h];
      for (let i = 0; i < this.down.length; i++) {
        const stage = this.down[i];
        for (let j = 0; j < stage.blocks.length; j++) {
          h = stage.blocks[j](h, emb);
          const a = stage.attns[j];
          if (a) h = a(h);
          skips.push(h);
        }
        const d = this.downsample[i];
        if (d) {
          h = d(h);
          skips.push(h);
        }
      }
      h = this.mid2(this.midAttn(this.mid1(h, emb)), emb);
      for (let i = 0; i < this.up.length; i++) {
        const stage = this.up[i];
        for (let j = 0; j < stage.blocks.length; j++) {
          h = stage.blocks[j](torch.cat([h, skips.pop()!], 1), emb);
          const a = stage.attns[j];
          if (a) h = a(h);
        }
        const u = this.upsample[i];
        if (u) {
          const next = skips[skips.length - 1];
          h = u(h, [next.shape[2], next.shape[3]]);
        }
      }
      return this.outConv(F.silu(this.outNorm(h)));
    });
  }
}

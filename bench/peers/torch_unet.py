#!/usr/bin/env python3
"""PyTorch peer for `bench diffusion` (node dist/bench/main.js diffusion): one training step and one sampling step of the
class-conditional U-Net of src/diffusion/unet.ts, written in torch.nn with the same layers in the
same order, the same parameter shapes and the same arithmetic:

  embedding  Fourier features of c_noise (fixed frequencies (1, C/2) ~ N(0, 16^2): cos, sin of
             2*pi*c_noise*f) - Linear(C, 4C) - SiLU - Linear(4C, 4C), plus Embedding(classes + 1,
             4C) of the label (index `classes` is the null class); SiLU before the blocks
  ResBlock   GroupNorm - SiLU - conv3x3 - AdaGN (GroupNorm without affine, then
             x * (1 + gamma) + beta from Linear(4C, 2*C_out)) - SiLU - dropout - conv3x3,
             plus x (or a 1x1 conv of x when the channel count changes)
  attention  GroupNorm - (B, HW, C) - separate q, k, v Linear projections - softmax(q k^T /
             sqrt(d_head)) v over 4 heads - out Linear - back to (B, C, H, W) - plus x
  down       per level num_res_blocks ResBlocks (+ attention at 7x7), stride-2 conv3x3
  middle     ResBlock - attention - ResBlock
  up         per level num_res_blocks + 1 ResBlocks on cat([h, skip]) (+ attention), nearest
             upsampling to the skip's size then conv3x3
  out        GroupNorm - SiLU - conv3x3, zero-initialised

The denoiser is EDM-preconditioned (sigma_data 0.5): D(x, sigma) = c_skip x + c_out F(c_in x,
ln(sigma) / 4, labels). The loss is EDM's (Karras et al. 2022, Eq. 8): ln sigma ~ N(-1.2, 1.2^2),
x = x0 + sigma n, loss = mean_b lambda(sigma_b) mean_i (D(x, sigma)_bi - x0_bi)^2 with
lambda = (sigma^2 + sigma_d^2) / (sigma sigma_d)^2, as diffusionLoss(edmPrecondition(unet), ...)
with its defaults (src/diffusion/objectives.ts).

  training step  train mode; opt.zero_grad(set_to_none=True); loss on a fixed batch of
                 --batch images (B, 1, 28, 28) uniform in [-1, 1] with random labels;
                 loss.backward(); Adam(lr 1e-3) step
  sampling step  eval mode, torch.no_grad(): one D(x, sigma) on --sample-batch images at the
                 fixed --sigma with random labels (one Euler step's network evaluation; no
                 classifier-free guidance doubling)

Prints one line of JSON:

  {"peer":"pytorch","threads":N,"version":"...","train":{"ms":..,"min_ms":..,"cpu_ms":..,"iters":R,
   "first_loss":..,"final_loss":..},"sample":{"ms":..,"min_ms":..,"cpu_ms":..,"iters":R},
   "params":{"trainable":..,"non_trainable":..},...}

Each "ms" is the median wall time of one step over R timed steps after the warmup steps;
"cpu_ms" the median CPU time (time.process_time: user + system, every thread) of one step.

Usage: torch_unet.py --threads N [--reps R] [--warmup W] [--batch B] [--sample-batch S]
                     [--sigma S] [--num-res-blocks K] [--channels C] [--json]
"""

import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import arg_parser, emit, parse_args, set_up  # noqa: E402

SIGMA_DATA = 0.5
P_MEAN, P_STD = -1.2, 1.2


def groups_for(c, mx):
    """Largest divisor of c not above mx (as unet.ts's groupsFor)."""
    for g in range(min(mx, c), 1, -1):
        if c % g == 0:
            return g
    return 1


def glorot(m):
    """Glorot-uniform weights and zero biases: the default initialisers of Refinery's Conv2d and
    Linear (values do not change the timing; kept for the same starting loss)."""
    nn.init.xavier_uniform_(m.weight)
    if m.bias is not None:
        nn.init.zeros_(m.bias)
    return m


def conv(cin, cout, k, stride=1, padding=0):
    return glorot(nn.Conv2d(cin, cout, k, stride=stride, padding=padding))


def linear(fin, fout):
    return glorot(nn.Linear(fin, fout))


class FiLM(nn.Module):
    """x * (1 + gamma(cond)) + beta(cond), [gamma, beta] = Linear(cond) split in two halves."""

    def __init__(self, cond_dim, channels):
        super().__init__()
        self.proj = linear(cond_dim, 2 * channels)

    def forward(self, x, cond):
        b, c = x.shape[0], x.shape[1]
        gamma, beta = self.proj(cond).view(b, 2 * c, *([1] * (x.dim() - 2))).chunk(2, 1)
        return x * (gamma + 1) + beta


class AdaptiveGroupNorm(nn.Module):
    def __init__(self, groups, channels, cond_dim):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, affine=False)
        self.film = FiLM(cond_dim, channels)

    def forward(self, x, cond):
        return self.film(self.norm(x), cond)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, dropout, max_groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups_for(cin, max_groups), cin)
        self.conv1 = conv(cin, cout, 3, padding=1)
        self.norm2 = AdaptiveGroupNorm(groups_for(cout, max_groups), cout, emb_dim)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv(cout, cout, 3, padding=1)
        self.skip = None if cin == cout else conv(cin, cout, 1)

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h, emb))))
        return (x if self.skip is None else self.skip(x)) + h


class MultiheadAttention(nn.Module):
    """Separate q, k, v and out projections (with biases), as Refinery's MultiheadAttention."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q = linear(dim, dim)
        self.k = linear(dim, dim)
        self.v = linear(dim, dim)
        self.out = linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        dh = d // h

        def split(y):
            return y.view(b, t, h, dh).transpose(1, 2)  # (B, H, T, dh)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q.matmul(k.transpose(-2, -1)) * (1.0 / math.sqrt(dh))
        weights = scores.softmax(-1)
        y = weights.matmul(v).transpose(1, 2).reshape(b, t, d)
        return self.out(y)


class AttentionBlock(nn.Module):
    def __init__(self, c, heads, max_groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups_for(c, max_groups), c)
        self.attn = MultiheadAttention(c, heads if c % heads == 0 else 1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        seq = self.norm(x).reshape(b, c, hh * ww).transpose(1, 2)
        y = self.attn(seq).transpose(1, 2).reshape(b, c, hh, ww)
        return x + y


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = conv(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = conv(c, c, 3, padding=1)

    def forward(self, x, size):
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class FourierFeatures(nn.Module):
    def __init__(self, dim, scale=16.0):
        super().__init__()
        self.register_buffer("freqs", torch.randn(1, dim // 2) * scale)  # fixed, not a parameter

    def forward(self, v):
        args = v.unsqueeze(1).matmul(self.freqs) * (2 * math.pi)
        return torch.cat([args.cos(), args.sin()], 1)


class Stage(nn.Module):
    def __init__(self, blocks, attns):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attns = nn.ModuleList([a if a is not None else nn.Identity() for a in attns])
        self.has_attn = [a is not None for a in attns]


class UNet(nn.Module):
    def __init__(self, in_channels=1, out_channels=1, channels=32, channel_mult=(1, 2, 2),
                 num_res_blocks=1, image_size=28, num_classes=10, dropout=0.0, num_heads=4,
                 max_groups=32, attention_resolutions=None):
        super().__init__()
        c = channels
        emb_dim = 4 * c
        attn_res = attention_resolutions or [math.ceil(image_size / 4)]
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.noise_embed = FourierFeatures(c)
        self.embed1 = linear(c, emb_dim)
        self.embed2 = linear(emb_dim, emb_dim)
        self.class_embed = nn.Embedding(num_classes + 1, emb_dim)
        nn.init.normal_(self.class_embed.weight, 0.0, 1.0)
        self.in_conv = conv(in_channels, c, 3, padding=1)

        skip_ch = [c]
        ch, res = c, image_size
        levels = len(channel_mult)
        res_at = []
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i in range(levels):
            res_at.append(res)
            out = c * channel_mult[i]
            blocks, attns = [], []
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(ch, out, emb_dim, dropout, max_groups))
                ch = out
                attns.append(AttentionBlock(ch, num_heads, max_groups) if res in attn_res else None)
                skip_ch.append(ch)
            self.down.append(Stage(blocks, attns))
            if i < levels - 1:
                self.downsample.append(Downsample(ch))
                skip_ch.append(ch)
                res = math.ceil(res / 2)
            else:
                self.downsample.append(nn.Identity())
        self.mid1 = ResBlock(ch, ch, emb_dim, dropout, max_groups)
        self.mid_attn = AttentionBlock(ch, num_heads, max_groups)
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout, max_groups)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in range(levels - 1, -1, -1):
            out = c * channel_mult[i]
            blocks, attns = [], []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResBlock(ch + skip_ch.pop(), out, emb_dim, dropout, max_groups))
                ch = out
                attns.append(AttentionBlock(ch, num_heads, max_groups) if res_at[i] in attn_res else None)
            self.up.append(Stage(blocks, attns))
            self.upsample.append(Upsample(ch) if i > 0 else nn.Identity())
        self.levels = levels
        self.out_norm = nn.GroupNorm(groups_for(ch, max_groups), ch)
        self.out_conv = nn.Conv2d(ch, out_channels, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)  # zero output: D = c_skip x at init
        nn.init.zeros_(self.out_conv.bias)

    def embedding(self, c_noise, labels):
        emb = self.embed2(F.silu(self.embed1(self.noise_embed(c_noise.to(self.noise_embed.freqs.dtype)))))
        ids = labels.masked_fill(labels < 0, self.num_classes)  # -1 -> the null class
        return emb + self.class_embed(ids)

    def forward(self, x_in, c_noise, labels):
        emb = F.silu(self.embedding(c_noise, labels))
        h = self.in_conv(x_in)
        skips = [h]
        for i in range(self.levels):
            stage = self.down[i]
            for j, block in enumerate(stage.blocks):
                h = block(h, emb)
                if stage.has_attn[j]:
                    h = stage.attns[j](h)
                skips.append(h)
            if i < self.levels - 1:
                h = self.downsample[i](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for i in range(self.levels):
            stage = self.up[i]
            for j, block in enumerate(stage.blocks):
                h = block(torch.cat([h, skips.pop()], 1), emb)
                if stage.has_attn[j]:
                    h = stage.attns[j](h)
            if i < self.levels - 1:
                nxt = skips[-1]
                h = self.upsample[i](h, (nxt.shape[2], nxt.shape[3]))
        return self.out_conv(F.silu(self.out_norm(h)))


def denoise(net, x, sigma, labels):
    """EDM preconditioning (sigma_data 0.5), as edmPrecondition / edmCoefficients."""
    sd2 = SIGMA_DATA * SIGMA_DATA
    total = sigma.square() + sd2
    view = (-1,) + (1,) * (x.dim() - 1)
    c_skip = (total.reciprocal() * sd2).view(view)
    c_out = (sigma * SIGMA_DATA * total.rsqrt()).view(view)
    c_in = total.rsqrt().view(view)
    c_noise = sigma.log() * 0.25
    f = net(x * c_in, c_noise, labels)
    return x * c_skip + f * c_out


def diffusion_loss(net, x0, labels):
    """EDM loss with log-normal sigmas and the EDM weighting, as diffusionLoss's defaults."""
    b = x0.shape[0]
    sigma = (torch.randn(b, dtype=torch.float64) * P_STD + P_MEAN).exp().to(x0.dtype)
    noise = torch.randn(x0.shape, dtype=x0.dtype)
    x = x0 + noise * sigma.view(-1, *([1] * (x0.dim() - 1)))
    denoised = denoise(net, x, sigma, labels)
    per_example = (denoised - x0).square().mean(list(range(1, x0.dim())))
    weight = (sigma.square() + SIGMA_DATA * SIGMA_DATA) / (sigma * SIGMA_DATA).square()
    return (weight * per_example).mean()


def timed(fn, warmup, reps):
    """Runs fn warmup times untimed, then reps times timed; returns (wall ms, CPU ms, first, last
    result). CPU time is the process's (every thread), as process.cpuUsage() on the Refinery side."""
    first = last = None
    for i in range(warmup):
        r = fn()
        if i == 0:
            first = r
    times, cpu = [], []
    for _ in range(reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        r = fn()
        times.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
        if first is None:
            first = r
        last = r
    return times, cpu, first, last


def main():
    ap = arg_parser(__doc__, "timed steps of each workload")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (each workload)")
    ap.add_argument("--batch", type=int, default=64, help="training batch")
    ap.add_argument("--sample-batch", type=int, default=128, help="sampling batch")
    ap.add_argument("--sigma", type=float, default=1.0, help="noise level of the sampling step")
    ap.add_argument("--num-res-blocks", type=int, default=1)
    ap.add_argument("--channels", type=int, default=32)
    args = parse_args(ap)
    if min(args.threads, args.reps, args.batch, args.sample_batch, args.num_res_blocks, args.channels) < 1 \
            or args.warmup < 0 or not args.sigma > 0:
        ap.error("--threads, --reps, --batch, --sample-batch, --num-res-blocks and --channels must be "
                 "positive, --warmup >= 0, --sigma > 0")

    set_up(args.threads)
    t_start = time.perf_counter()

    net = UNet(channels=args.channels, num_res_blocks=args.num_res_blocks)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x0 = torch.rand(args.batch, 1, 28, 28) * 2 - 1
    y = torch.randint(0, 10, (args.batch,), dtype=torch.int64)
    xs = torch.randn(args.sample_batch, 1, 28, 28) * args.sigma
    ys = torch.randint(0, 10, (args.sample_batch,), dtype=torch.int64)

    def train_step():
        opt.zero_grad(set_to_none=True)  # as Refinery's zeroGrad
        loss = diffusion_loss(net, x0, y)
        loss.backward()
        opt.step()
        return loss

    def sample_step():
        with torch.no_grad():
            s = torch.full((args.sample_batch,), args.sigma, dtype=xs.dtype)  # as the samplers' denoise
            denoise(net, xs, s, ys)

    net.train()
    train_times, train_cpu, first, last = timed(train_step, args.warmup, args.reps)
    net.eval()
    sample_times, sample_cpu, _, _ = timed(sample_step, args.warmup, args.reps)

    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in net.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for b in net.buffers() if b.is_floating_point())
    emit({
        "peer": "pytorch",
        "threads": torch.get_num_threads(),
        "threads_requested": args.threads,
        "version": torch.__version__,
        "train": {
            "ms": statistics.median(train_times), "min_ms": min(train_times),
            "cpu_ms": statistics.median(train_cpu), "iters": args.reps,
            "batch": args.batch, "first_loss": float(first.item()), "final_loss": float(last.item()),
        },
        "sample": {
            "ms": statistics.median(sample_times), "min_ms": min(sample_times),
            "cpu_ms": statistics.median(sample_cpu), "iters": args.reps,
            "batch": args.sample_batch, "sigma": args.sigma,
        },
        "warmup": args.warmup,
        "params": {"trainable": trainable, "non_trainable": frozen + buffers},
        "config": {"channels": args.channels, "channel_mult": [1, 2, 2], "num_res_blocks": args.num_res_blocks,
                   "image_size": 28, "num_classes": 10},
        "layout": "NCHW",
        "wall_s": time.perf_counter() - t_start,
    })


if __name__ == "__main__":
    main()

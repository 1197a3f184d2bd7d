"""PyTorch twins of Refinery's shipped models, and a torch-only safetensors reader and writer.

A twin has the same layers, parameter names and forward computation as the Refinery model, so
that a file written by `refinery export --format pytorch` loads with

    from refinery_twins import load_file, model_from_metadata
    state, metadata = load_file("fashion-classifier.pt.safetensors")
    model = model_from_metadata(metadata)            # builds the twin from the recorded config
    model.load_state_dict(state, strict=True)
    logits = model.eval()(images)                    # (N, 1, 28, 28) in [0, 1] -> (N, 10)

(`safetensors.torch.load_file(path)` reads the same files where the `safetensors` package is
installed; the metadata is then `safe_open(path, "pt").metadata()`.) The other way,
`save_file(model.state_dict(), path, metadata=refinery_metadata(model))` writes a file that
Refinery's loaders (`refinery eval classifier --checkpoint PATH`, `loadClassifier`, ...) and
`refinery import` read.

Models (kinds as Refinery's checkpoints name them):
    FashionClassifier   "fashion-classifier"  (N, 1, 28, 28) images in [0, 1] -> (N, 10) logits
    NoisyClassifier     "noisy-classifier"    noisy images in [-1, 1] plus noise, sigma -> logits
    UNet / Denoiser     "diffusion"           the U-Net, and D(x, sigma, labels) with EDM
                                              (or eps / x0) preconditioning around it
Only torch is needed (tested with PyTorch 1.13).
"""
import json
import math
import struct

import torch
from torch import nn
import torch.nn.functional as F

__all__ = [
    "FashionClassifier", "NoisyClassifier", "UNet", "Denoiser",
    "load_file", "save_file", "model_from_metadata", "refinery_metadata",
]

# ---------------------------------------------------------------------------
# safetensors with torch only (the format: u64 header length, JSON header, data)

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def load_file(path):
    """(tensors by name, metadata dict) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    start = 8 + n
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        data = bytearray(raw[start + b:start + end])
        dtype = _DTYPES[e["dtype"]]
        t = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(e["shape"])
    return tensors, metadata


def save_file(tensors, path, metadata=None):
    """Writes tensors (CPU, any layout) as safetensors, larger items first as Refinery does."""
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in order:
        t = tensors[name].detach().cpu().contiguous()
        data = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(chunks))


# ---------------------------------------------------------------------------
# Fashion-MNIST classifier (src/vision/classifier.ts)

FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


class FashionClassifier(nn.Module):
    """conv3x3-BN-ReLU-pool2 x2, conv3x3-BN-ReLU, flatten, dropout, linear-ReLU (features), dropout, linear."""

    kind = "fashion-classifier"

    def __init__(self, channels=(32, 64, 64), hidden=128, dropout=0.3, classes=10, mean=FASHION_MEAN, std=FASHION_STD):
        super().__init__()
        c = list(channels)
        self.config = {"channels": c, "hidden": hidden, "dropout": dropout, "classes": classes}
        self.mean, self.std = mean, std

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(*block(1, c[0]), nn.MaxPool2d(2), *block(c[0], c[1]), nn.MaxPool2d(2), *block(c[1], c[2]), nn.Flatten())
        self.drop = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(c[2] * 7 * 7, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, classes)

    def features(self, x):
        """(N, 1, 28, 28) images in [0, 1] (or uint8) -> (N, hidden): the classifier-FID feature space."""
        if x.dtype == torch.uint8:
            x = x.float() / 255
        return self.head(self.drop(self.body((x - self.mean) / self.std)))

    def forward(self, x):
        return self.out(self.drop(self.features(x)))


# ---------------------------------------------------------------------------
# Shared pieces (src/nn/layers)

def _groups_for(c, max_groups):
    """Largest divisor of c not above max_groups."""
    for g in range(min(max_groups, c), 1, -1):
        if c % g == 0:
            return g
    return 1


class FourierFeatures(nn.Module):
    """[cos(2 pi v W), sin(2 pi v W)] with fixed random frequencies W (in_features, dim / 2)."""

    def __init__(self, dim, in_features=1):
        super().__init__()
        self.register_buffer("freqs", torch.zeros(in_features, dim // 2))

    def forward(self, v):
        if v.dim() == 1:
            v = v[:, None]
        args = (v @ self.freqs) * (2 * math.pi)  # (B, dim/2)
        return torch.cat([args.cos(), args.sin()], 1)


class SinusoidalEmbedding(nn.Module):
    """DDPM's sinusoidal embedding of a scalar, frequencies exp(-ln(max_period) k / half)."""

    def __init__(self, dim, max_period=10000):
        super().__init__()
        self.dim = dim
        half = dim // 2
        self.register_buffer("freqs", torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(max_period) / half)))

    def forward(self, t):
        args = t.reshape(-1, 1) * self.freqs
        emb = torch.cat([args.cos(), args.sin()], 1)
        return torch.cat([emb, torch.zeros_like(emb[:, :1])], 1) if self.dim % 2 else emb


class FiLM(nn.Module):
    """x (1 + gamma) + beta, with (gamma, beta) = proj(cond) per channel."""

    def __init__(self, cond_dim, channels):
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)

    def forward(self, x, cond):
        b, c = x.shape[:2]
        gamma, beta = self.proj(cond).view(b, 2 * c, *([1] * (x.dim() - 2))).chunk(2, 1)
        return x * (gamma + 1) + beta


class AdaptiveGroupNorm(nn.Module):
    """GroupNorm without affine parameters, then FiLM from a conditioning vector."""

    def __init__(self, groups, channels, cond_dim, eps=1e-5):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=eps, affine=False)
        self.film = FiLM(cond_dim, channels)

    def forward(self, x, cond):
        return self.film(self.norm(x), cond)


class MultiheadAttention(nn.Module):
    """Batch-first multi-head self-attention with separate q, k, v and out projections."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        b, t, d = x.shape
        h, dh = self.heads, d // self.heads

        def split(y):
            return y.view(b, t, h, dh).transpose(1, 2)  # (B, H, T, dh)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        w = (q @ k.transpose(-2, -1) * (1 / math.sqrt(dh))).softmax(-1)
        return self.out((w @ v).transpose(1, 2).reshape(b, t, d))


# ---------------------------------------------------------------------------
# Noise-conditional classifier (src/diffusion/noisy_classifier.ts)

class NoisyClassifierStage(nn.Module):
    def __init__(self, cin, cout, stride, emb_dim, max_groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.norm = AdaptiveGroupNorm(_groups_for(cout, max_groups), cout, emb_dim)

    def forward(self, x, emb):
        return F.silu(self.norm(self.conv(x), emb))


class NoisyClassifier(nn.Module):
    """p(y | x_sigma): EDM input scaling c_in, c_noise = ln(sigma) / 4 embedded, AdaGN stages, pooled head."""

    kind = "noisy-classifier"
    MIN_SIGMA = 1e-4

    def __init__(self, inChannels=1, classes=10, channels=(16, 64, 128), embDim=64, fourierDim=32, fourierScale=1, numGroups=8, sigmaData=0.5):
        super().__init__()
        self.config = {"inChannels": inChannels, "classes": classes, "channels": list(channels), "embDim": embDim,
                       "fourierDim": fourierDim, "fourierScale": fourierScale, "numGroups": numGroups, "sigmaData": sigmaData}
        self.sigma_data = sigmaData
        self.noise_embed = FourierFeatures(fourierDim)
        self.embed1 = nn.Linear(fourierDim, embDim)
        self.embed2 = nn.Linear(embDim, embDim)
        ch = list(channels)
        self.stages = nn.ModuleList(
            NoisyClassifierStage(inChannels if i == 0 else ch[i - 1], c, 1 if i == 0 else 2, embDim, numGroups) for i, c in enumerate(ch))
        self.head = nn.Linear(ch[-1], classes)

    def forward(self, x, sigma):
        """x (B, C, H, W) noisy images, sigma a number or (B,) -> (B, classes) logits."""
        b = x.shape[0]
        s = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1).expand(b)
        c_in = (s.square() + self.sigma_data ** 2).rsqrt().float().reshape(b, 1, 1, 1)
        c_noise = (s.clamp_min(self.MIN_SIGMA).log() * 0.25).float()
        emb = F.silu(self.embed2(F.silu(self.embed1(self.noise_embed(c_noise)))))
        h = x.float() * c_in
        for stage in self.stages:
            h = stage(h, emb)
        return self.head(h.mean([2, 3]))


# ---------------------------------------------------------------------------
# U-Net and denoiser (src/diffusion/unet.ts, src/diffusion/model.ts)

class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, dropout, max_groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups_for(cin, max_groups), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = AdaptiveGroupNorm(_groups_for(cout, max_groups), cout, emb_dim)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h, emb))))
        return (self.skip(x) if self.skip is not None else x) + h


class AttentionBlock(nn.Module):
    def __init__(self, c, heads, max_groups):
        super().__init__()
        self.norm = nn.GroupNorm(_groups_for(c, max_groups), c)
        self.attn = MultiheadAttention(c, heads if c % heads == 0 else 1)

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.attn(self.norm(x).reshape(b, c, h * w).transpose(1, 2))
        return x + y.transpose(1, 2).reshape(b, c, h, w)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x, size):
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class Stage(nn.Module):
    def __init__(self, blocks, attns):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attns = nn.ModuleList(a if a is not None else nn.Identity() for a in attns)


class UNet(nn.Module):
    """F(x_in, c_noise, labels): ADM-style U-Net with AdaGN conditioning and a null class for guidance."""

    def __init__(self, inChannels, outChannels, channels, channelMult=(1, 2, 2), numResBlocks=2, attentionResolutions=None, imageSize=32,
                 dropout=0.0, numClasses=None, noiseEmbedding="fourier", fourierScale=16, numHeads=4, numGroups=32):
        super().__init__()
        self.config = {k: v for k, v in dict(
            inChannels=inChannels, outChannels=outChannels, channels=channels, channelMult=list(channelMult), numResBlocks=numResBlocks,
            attentionResolutions=attentionResolutions, imageSize=imageSize, dropout=dropout, numClasses=numClasses,
            noiseEmbedding=noiseEmbedding, fourierScale=fourierScale, numHeads=numHeads, numGroups=numGroups).items() if v is not None}
        C = channels
        emb_dim = 4 * C
        attn_res = list(attentionResolutions) if attentionResolutions is not None else [math.ceil(imageSize / 4)]
        self.num_classes = numClasses
        self.noise_embed = FourierFeatures(C) if noiseEmbedding == "fourier" else SinusoidalEmbedding(C)
        self.embed1 = nn.Linear(C, emb_dim)
        self.embed2 = nn.Linear(emb_dim, emb_dim)
        self.class_embed = nn.Embedding(numClasses + 1, emb_dim) if numClasses is not None else None
        self.in_conv = nn.Conv2d(inChannels, C, 3, padding=1)
        skip_ch, ch, res, res_at = [C], C, imageSize, []
        down, downsample = [], []
        for i, mult in enumerate(channelMult):
            res_at.append(res)
            out = C * mult
            blocks, attns = [], []
            for _ in range(numResBlocks):
                blocks.append(ResBlock(ch, out, emb_dim, dropout, numGroups))
                ch = out
                attns.append(AttentionBlock(ch, numHeads, numGroups) if res in attn_res else None)
                skip_ch.append(ch)
            down.append(Stage(blocks, attns))
            if i < len(channelMult) - 1:
                downsample.append(Downsample(ch))
                skip_ch.append(ch)
                res = math.ceil(res / 2)
            else:
                downsample.append(nn.Identity())
        self.down = nn.ModuleList(down)
        self.downsample = nn.ModuleList(downsample)
        self.mid1 = ResBlock(ch, ch, emb_dim, dropout, numGroups)
        self.mid_attn = AttentionBlock(ch, numHeads, numGroups)
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout, numGroups)
        up, upsample = [], []
        for i in reversed(range(len(channelMult))):
            out = C * channelMult[i]
            blocks, attns = [], []
            for _ in range(numResBlocks + 1):
                blocks.append(ResBlock(ch + skip_ch.pop(), out, emb_dim, dropout, numGroups))
                ch = out
                attns.append(AttentionBlock(ch, numHeads, numGroups) if res_at[i] in attn_res else None)
            up.append(Stage(blocks, attns))
            upsample.append(Upsample(ch) if i > 0 else nn.Identity())
        self.up = nn.ModuleList(up)
        self.upsample = nn.ModuleList(upsample)
        self.out_norm = nn.GroupNorm(_groups_for(ch, numGroups), ch)
        self.out_conv = nn.Conv2d(ch, outChannels, 3, padding=1)

    def embedding(self, c_noise, labels=None):
        c = c_noise.reshape(-1).to(self.noise_embed.freqs.dtype)
        emb = self.embed2(F.silu(self.embed1(self.noise_embed(c))))
        if self.class_embed is not None:
            if labels is None:
                ids = torch.full((c.shape[0],), self.num_classes, dtype=torch.int64)
            else:
                ids = torch.as_tensor(labels, dtype=torch.int64)
                ids = ids.masked_fill(ids < 0, self.num_classes)  # -1 -> the null class
            emb = emb + self.class_embed(ids)
        return emb

    def forward(self, x, c_noise, labels=None):
        emb = F.silu(self.embedding(c_noise, labels))
        h = self.in_conv(x)
        skips = [h]
        for stage, down in zip(self.down, self.downsample):
            for block, attn in zip(stage.blocks, stage.attns):
                h = attn(block(h, emb))
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for stage, up in zip(self.up, self.upsample):
            for block, attn in zip(stage.blocks, stage.attns):
                h = attn(block(torch.cat([h, skips.pop()], 1), emb))
            if not isinstance(up, nn.Identity):
                h = up(h, skips[-1].shape[2:])
        return self.out_conv(F.silu(self.out_norm(h)))


class Denoiser(nn.Module):
    """D(x, sigma, labels) = c_skip x + c_out F(c_in x, c_noise, labels) (EDM, Karras et al. 2022, Eq. 7).

    Its tensors are the U-Net's: load and save `denoiser.net.state_dict()`. Images are in [-1, 1];
    labels -1 (or None) select the null class.
    """

    kind = "diffusion"

    def __init__(self, unet, prediction="edm", sigmaData=0.5):
        super().__init__()
        self.net = UNet(**unet)
        self.config = {"unet": self.net.config, "prediction": prediction, "sigmaData": sigmaData}
        self.prediction, self.sigma_data = prediction, sigmaData

    def coefficients(self, s):
        if self.prediction == "edm":
            sd2 = self.sigma_data ** 2
            total = s.square() + sd2
            return total.reciprocal() * sd2, s * self.sigma_data * total.rsqrt(), total.rsqrt(), s.log() * 0.25
        c_in = (s.square() + 1).rsqrt()
        if self.prediction == "eps":
            return torch.ones_like(s), -s, c_in, s.log() * 0.25
        return torch.zeros_like(s), torch.ones_like(s), c_in, s.log() * 0.25  # x0

    def forward(self, x, sigma, labels=None):
        b = x.shape[0]
        s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1).expand(b)
        c_skip, c_out, c_in, c_noise = (c.reshape(b, *([1] * (x.dim() - 1))) if i < 3 else c for i, c in enumerate(self.coefficients(s)))
        return x * c_skip + self.net(x * c_in, c_noise, labels) * c_out


# ---------------------------------------------------------------------------
# Building a twin from a file's metadata, and metadata for a file Refinery reads

def model_from_metadata(metadata):
    """The twin described by a file's metadata (its `config` JSON: kind and model config).

    For "diffusion" this is the U-Net (load the state dict into it; wrap it as
    `Denoiser(config["model"]["unet"], ...)` sharing it, or use `denoiser_from_metadata`)."""
    config = json.loads(metadata["config"])
    kind, model = config.get("kind"), config.get("model", {})
    if kind == FashionClassifier.kind:
        inp = config.get("input", {})
        return FashionClassifier(**model, mean=inp.get("mean", [FASHION_MEAN])[0], std=inp.get("std", [FASHION_STD])[0])
    if kind == NoisyClassifier.kind:
        return NoisyClassifier(**model)
    if kind == Denoiser.kind:
        return UNet(**model["unet"])
    raise ValueError(f"no PyTorch twin for kind {kind!r}")


def denoiser_from_metadata(metadata, state=None):
    """The EDM/eps/x0 denoiser of a diffusion export; loads `state` (strict) into its U-Net when given."""
    config = json.loads(metadata["config"])
    model = config["model"]
    d = Denoiser(model["unet"], model.get("prediction", "edm"), model.get("sigmaData", 0.5))
    if state is not None:
        d.net.load_state_dict(state, strict=True)
    return d


def refinery_metadata(model):
    """Metadata that tells Refinery which model a state dict belongs to (pass it to save_file).

    Save `model.state_dict()` of a classifier, `denoiser.net.state_dict()` of a Denoiser."""
    twin = model
    if isinstance(model, Denoiser):
        config = {"kind": Denoiser.kind, "model": model.config}
    elif isinstance(model, (FashionClassifier, NoisyClassifier)):
        config = {"kind": twin.kind, "model": twin.config}
    else:
        raise TypeError(f"not a Refinery twin: {type(model).__name__}")
    return {"format": "pt", "config": json.dumps(config)}

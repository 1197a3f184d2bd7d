"""The text benchmark's PyTorch peer: the same pre-norm Transformer as src/text/transformer.ts
(token embedding, rotary positions in the rotate-half form, blocks x + attn(LN(x)) and
x + mlp(LN(x)) with bias-free q/k/v/out projections and a GELU MLP with biases, final LayerNorm,
output Linear), written in torch.nn, driven over stdin so that the TypeScript side can interleave
its steps with Refinery's (A B A B):

  stdin  "train" | "sample" | "quit"      one line per request
  stdout one JSON line per request: {"ms": wall time of the step}

The first stdout line describes the model: {"ready": true, "params": N, "version": torch version}.
"""

import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.ln1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.ln2 = nn.LayerNorm(dim)
        hidden = round(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        H, dh = self.heads, D // self.heads
        h = self.ln1(x)
        heads = lambda t: t.view(B, T, H, dh).transpose(1, 2)  # (B, H, T, dh)
        q, k, v = heads(self.q(h)), heads(self.k(h)), heads(self.v(h))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(dh))
        if self.causal:
            future = torch.ones(T, T, dtype=torch.bool).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.out(y)
        return x + self.mlp(self.ln2(x))


def rope(x, cos, sin):
    x1, x2 = x.chunk(2, -1)
    return x * cos + torch.cat([-x2, x1], -1) * sin


class TextTransformer(nn.Module):
    def __init__(self, vocab, max_len, dim, depth, heads, mlp_ratio, causal):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio, causal) for _ in range(depth)])
        self.ln_out = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        dh = dim // heads
        inv = torch.exp(torch.arange(dh // 2, dtype=torch.float64) * (-2 / dh * math.log(10000)))
        ang = torch.arange(max_len, dtype=torch.float64)[:, None] * inv[None, :]
        full = torch.cat([ang, ang], 1)
        self.cos, self.sin = full.cos().float(), full.sin().float()

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok(ids)
        cos, sin = self.cos[:T], self.sin[:T]
        for b in self.blocks:
            x = b(x, cos, sin)
        return self.head(self.ln_out(x))


def main():
    import argparse
    ap = argparse.ArgumentParser()
    for k, d in [("vocab", 4096), ("seq", 128), ("dim", 128), ("depth", 4), ("heads", 4), ("batch", 16), ("sample_batch", 32), ("threads", 1)]:
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=d)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    model = TextTransformer(a.vocab, a.seq, a.dim, a.depth, a.heads, 4, True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
    sample_ids = torch.randint(0, a.vocab, (a.sample_batch, a.seq), generator=g)
    bos = torch.full((a.batch, 1), 2, dtype=torch.long)

    def train():
        model.train()
        opt.zero_grad()
        logits = model(torch.cat([bos, ids[:, :-1]], 1))
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), ids.reshape(-1))
        loss.backward()
        opt.step()

    def sample():
        model.eval()
        with torch.no_grad():
            model(sample_ids)

    n = sum(p.numel() for p in model.parameters())
    sys.stdout.write(json.dumps({"ready": True, "params": n, "version": torch.__version__, "threads": torch.get_num_threads()}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        fn = train if cmd == "train" else sample
        t0 = time.perf_counter()
        fn()
        sys.stdout.write(json.dumps({"ms": (time.perf_counter() - t0) * 1000.0}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

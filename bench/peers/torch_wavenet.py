"""The PyTorch peer of `node dist/bench/main.js audio`: the same WaveNet as src/audio/wavenet.ts
(embedding of the mu-law code, dilated causal convs k=2, gated tanh*sigmoid, 1x1 residual and skip
convs, summed global-conditioning embeddings added to every gate, relu-1x1-relu-1x1 head to 256
logits) written in torch.nn, and the two workloads:

  train:    train mode; zero grads, cross-entropy of codes[:, 1:] from codes[:, :-1] with labels,
            backward, Adam(lr 1e-3) step on a fixed batch [B, T + 1] of random codes
  generate: eval mode, no grad: one step of cached generation (fast-wavenet queues, as r9y9's
            incremental forward): per layer the current input and the one d steps back through the
            conv's two taps as matrix products, then softmax sampling by inverse CDF

Prints one JSON line: median milliseconds of each workload and the parameter count.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_common import arg_parser, emit, median_ms, parse_args, set_up


class Layer(nn.Module):
    def __init__(self, r, g, s, d, cond):
        super().__init__()
        self.d = d
        self.conv = nn.Conv1d(r, g, 2, dilation=d)
        self.res = nn.Conv1d(g // 2, r, 1)
        self.skip = nn.Conv1d(g // 2, s, 1)
        self.cond = nn.Linear(r, g, bias=False) if cond else None

    def gate(self, a, x):
        t, s = a.chunk(2, 1)
        z = torch.tanh(t) * torch.sigmoid(s)
        return (self.res(z) + x) * math.sqrt(0.5), self.skip(z)

    def forward(self, x, gv):
        a = self.conv(F.pad(x, (self.d, 0)))
        if self.cond is not None:
            a = a + self.cond(gv).unsqueeze(2)
        return self.gate(a, x)


class WaveNet(nn.Module):
    def __init__(self, layers, stacks, r, g, s, q=256, classes=(128, 10)):
        super().__init__()
        self.input = nn.Embedding(q, r)
        self.globals = nn.ModuleList([nn.Embedding(n, r) for n in classes])
        self.stack = nn.ModuleList([Layer(r, g, s, 2 ** (i % layers), bool(classes)) for i in range(layers * stacks)])
        self.post1 = nn.Conv1d(s, s, 1)
        self.post2 = nn.Conv1d(s, q, 1)

    def gvec(self, labels):
        return sum(e(y) for e, y in zip(self.globals, labels))

    def forward(self, codes, labels):
        gv = self.gvec(labels)
        x = self.input(codes).transpose(1, 2)
        skips = 0
        for layer in self.stack:
            x, s = layer(x, gv)
            skips = skips + s
        return self.post2(F.relu(self.post1(F.relu(skips))))


class CachedGenerator:
    """fast-wavenet, as src/audio/wavenet.ts's CachedStepper: a ring of the last d inputs per layer; a step is one
    matmul of [past input, input] with the conv's stacked taps, the gate, and the 1x1 convs as matmuls."""

    def __init__(self, m, batch, labels):
        self.m = m
        gv = m.gvec(labels)
        self.taps = [l.conv.weight.permute(2, 1, 0).reshape(-1, l.conv.weight.shape[0]).contiguous() for l in m.stack]
        self.bias = [l.conv.bias + l.cond(gv) for l in m.stack]
        self.res = [(l.res.weight.squeeze(2).t().contiguous(), l.res.bias) for l in m.stack]
        self.skip = [(l.skip.weight.squeeze(2).t().contiguous(), l.skip.bias) for l in m.stack]
        self.rings = [torch.zeros(l.d, batch, m.input.embedding_dim) for l in m.stack]
        self.t = 0

    def step(self, prev, u):
        m, t = self.m, self.t
        x = m.input(prev)
        skips = None
        for i, l in enumerate(m.stack):
            ring = self.rings[i]
            n = ring.shape[0]
            a = torch.addmm(self.bias[i], torch.cat([ring[(t - l.d) % n], x], 1), self.taps[i])
            ring[t % n].copy_(x)
            th, sg = a.chunk(2, 1)
            z = torch.tanh(th) * torch.sigmoid(sg)
            x = (torch.addmm(self.res[i][1], z, self.res[i][0]) + x) * math.sqrt(0.5)
            skips = torch.addmm(self.skip[i][1], z, self.skip[i][0]) if skips is None else torch.addmm(skips, z, self.skip[i][0]) + self.skip[i][1]
        logits = m.post2(F.relu(m.post1(F.relu(skips).unsqueeze(2)))).squeeze(2)
        cdf = logits.softmax(1).cumsum(1)
        self.t += 1
        return torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1).clamp_max(logits.shape[1] - 1)


def main():
    ap = arg_parser(__doc__, "timed repetitions of each workload")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--stacks", type=int, default=2)
    ap.add_argument("--residual", type=int, default=32)
    ap.add_argument("--gate", type=int, default=64)
    ap.add_argument("--skip", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=4096)
    ap.add_argument("--gen-batch", type=int, default=1)
    ap.add_argument("--gen-steps", type=int, default=200, help="generation steps per timed repetition")
    a = parse_args(ap)
    set_up(a.threads)
    m = WaveNet(a.layers, a.stacks, a.residual, a.gate, a.skip)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    codes = torch.randint(0, 256, (a.batch, a.crop + 1))
    labels = [torch.randint(0, 128, (a.batch,)), torch.randint(0, 10, (a.batch,))]

    def train():
        opt.zero_grad()
        loss = F.cross_entropy(m(codes[:, :-1], labels), codes[:, 1:])
        loss.backward()
        opt.step()

    m.train()
    train_ms = median_ms(train, a.warmup, a.reps)
    m.eval()
    glabels = [torch.randint(0, 128, (a.gen_batch,)), torch.randint(0, 10, (a.gen_batch,))]

    def gen():
        with torch.no_grad():
            g = CachedGenerator(m, a.gen_batch, glabels)
            prev = torch.full((a.gen_batch,), 128, dtype=torch.long)
            u = torch.rand(a.gen_steps, a.gen_batch)
            for t in range(a.gen_steps):
                prev = g.step(prev, u[t])

    gen_ms = median_ms(gen, 1, a.reps) / a.gen_steps
    emit({"system": "pytorch", "torch": torch.__version__, "threads": a.threads, "trainMs": train_ms, "generateStepMs": gen_ms,
          "params": sum(p.numel() for p in m.parameters())})


if __name__ == "__main__":
    main()

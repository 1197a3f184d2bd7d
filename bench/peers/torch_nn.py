#!/usr/bin/env python3
"""PyTorch peer for `bench nn` (node dist/bench/main.js nn): one training step of the Fashion-MNIST convnet.

The model is the torch.nn.Sequential equivalent of Refinery's FashionClassifier
(src/vision/classifier.ts):

  normalize (x - 0.2860) / 0.3530
  conv3x3(1->32, no bias)  - BatchNorm2d - ReLU - MaxPool2d(2)
  conv3x3(32->64, no bias) - BatchNorm2d - ReLU - MaxPool2d(2)
  conv3x3(64->64, no bias) - BatchNorm2d - ReLU
  flatten - dropout 0.3 - linear(64*7*7 -> 128) - ReLU - dropout 0.3 - linear(128 -> 10)

One step, in train mode, on a fixed random batch (images uniform in [0, 1],
int64 labels in [0, 10)):

  opt.zero_grad(set_to_none=True); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

with torch.optim.Adam(lr=1e-3) at its defaults (set_to_none=True as Refinery's zeroGrad, which
leaves no gradient; torch >= 2.0 defaults to it).  Prints one line of JSON:

  {"peer":"pytorch","threads":N,"version":"...","ms":..,"min_ms":..,"iters":R,
   "params":{"trainable":..,"non_trainable":..},"first_loss":..,"final_loss":..}

"ms" is the median wall time of one step over R timed steps after the warmup
steps.  "non_trainable" counts the floating-point buffers (BatchNorm running
mean and variance), as Keras' countParams does; the int64 num_batches_tracked
counters are left out.

Usage: torch_nn.py --threads N [--reps R] [--warmup W] [--batch B] [--json]
"""

import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import arg_parser, emit, parse_args, set_up  # noqa: E402

MEAN, STD = 0.2860, 0.3530


class Normalize(nn.Module):
    """(x - mean) / std, as FashionClassifier does at the start of forward."""

    def forward(self, x):
        return (x - MEAN) / STD


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def make_model(channels=(32, 64, 64), hidden=128, dropout=0.3, classes=10):
    c0, c1, c2 = channels
    model = nn.Sequential(
        Normalize(),
        *block(1, c0), nn.MaxPool2d(2),
        *block(c0, c1), nn.MaxPool2d(2),
        *block(c1, c2), nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, classes),
    )
    # He-normal weights for the convolutions and the hidden linear layer, as FashionClassifier
    # (the default init elsewhere); this does not change the timing, only the starting loss.
    for m in model.modules():
        if isinstance(m, nn.Conv2d) or (isinstance(m, nn.Linear) and m.out_features == hidden):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return model


def main():
    ap = arg_parser(__doc__, "timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--batch", type=int, default=128)
    args = parse_args(ap)
    if args.threads < 1 or args.reps < 1 or args.warmup < 0 or args.batch < 1:
        ap.error("--threads, --reps and --batch must be positive, --warmup >= 0")

    set_up(args.threads)

    model = make_model()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(args.batch, 1, 28, 28, dtype=torch.float32)
    y = torch.randint(0, 10, (args.batch,), dtype=torch.int64)

    def step():
        opt.zero_grad(set_to_none=True)  # as Refinery's zeroGrad (and torch >= 2.0's default)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    first_loss = None
    for i in range(args.warmup):
        loss = step()
        if i == 0:
            first_loss = float(loss.item())
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t0) * 1000.0)
        if first_loss is None:
            first_loss = float(loss.item())
    final_loss = float(loss.item())

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    out = {
        "peer": "pytorch",
        "threads": torch.get_num_threads(),
        "threads_requested": args.threads,
        "version": torch.__version__,
        "ms": statistics.median(times),
        "min_ms": min(times),
        "iters": args.reps,
        "warmup": args.warmup,
        "batch": args.batch,
        "params": {"trainable": trainable, "non_trainable": frozen + buffers},
        "first_loss": first_loss,
        "final_loss": final_loss,
        "step": "opt.zero_grad(set_to_none=True); F.cross_entropy(model(x), y).backward(); opt.step()",
        "layout": "NCHW",
    }
    emit(out)


if __name__ == "__main__":
    main()

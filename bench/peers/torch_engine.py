#!/usr/bin/env python3
"""PyTorch peer for the Refinery engine benchmark.

Runs four workloads and prints one line of JSON to stdout:

  {"peer":"pytorch","threads":N,"version":"...","results":{
     "add":{"ms":..,"iters":..}, "matmul":{...}, "conv":{...}, "mlp":{...}}}

"ms" is the median wall time of one iteration over the timed repetitions
(after warmup).  For "add" one iteration is the whole loop of 100,000
additions of two 4-element float32 tensors; "iters" is the number of timed
repetitions for every workload.

Workloads:
  add    : 100,000 x (c = a + b), a, b: float32[4]            (dispatch overhead)
  matmul : float32[512,512] @ float32[512,512]
  conv   : conv2d fwd + bwd (grad input and weight), NCHW [32,64,28,28],
           weight [64,64,3,3], padding 1, no bias
  mlp    : one SGD (lr 0.01) training step of 784-512-512-10 ReLU MLP,
           batch 128, cross-entropy loss

Usage: torch_engine.py --threads N [--reps R] [--json]
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import arg_parser, emit, median_ms, parse_args, set_up  # noqa: E402

ADD_LOOP = 100_000


def bench_add(reps):
    a = torch.rand(4, dtype=torch.float32)
    b = torch.rand(4, dtype=torch.float32)

    def run():
        c = None
        for _ in range(ADD_LOOP):
            c = a + b
        return c

    ms = median_ms(run, warmup=1, reps=reps)
    return {"ms": ms, "iters": reps, "loop": ADD_LOOP,
            "us_per_add": ms * 1000.0 / ADD_LOOP}


def bench_matmul(reps):
    a = torch.randn(512, 512, dtype=torch.float32)
    b = torch.randn(512, 512, dtype=torch.float32)

    def run():
        return torch.matmul(a, b)

    return {"ms": median_ms(run, warmup=5, reps=reps), "iters": reps}


def bench_conv(reps):
    x = torch.randn(32, 64, 28, 28, dtype=torch.float32, requires_grad=True)
    w = (torch.randn(64, 64, 3, 3, dtype=torch.float32) * 0.05).requires_grad_()

    def run():
        y = F.conv2d(x, w, padding=1)
        # d(sum y)/dx and d(sum y)/dw, with an explicit all-ones upstream grad
        gx, gw = torch.autograd.grad(y, (x, w), grad_outputs=torch.ones_like(y))
        return gx, gw

    return {"ms": median_ms(run, warmup=2, reps=reps), "iters": reps,
            "layout": "NCHW"}


def bench_mlp(reps):
    def init(fan_in, fan_out):
        bound = 1.0 / (fan_in ** 0.5)
        w = (torch.rand(fan_out, fan_in) * 2 - 1) * bound
        b = (torch.rand(fan_out) * 2 - 1) * bound
        return w.requires_grad_(), b.requires_grad_()

    w1, b1 = init(784, 512)
    w2, b2 = init(512, 512)
    w3, b3 = init(512, 10)
    params = [w1, b1, w2, b2, w3, b3]
    x = torch.randn(128, 784, dtype=torch.float32)
    y = torch.randint(0, 10, (128,))
    lr = 0.01

    def run():
        h = F.relu(F.linear(x, w1, b1))
        h = F.relu(F.linear(h, w2, b2))
        logits = F.linear(h, w3, b3)
        loss = F.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(g, alpha=lr)
        return loss

    ms = median_ms(run, warmup=3, reps=reps)
    return {"ms": ms, "iters": reps, "final_loss": float(run().item())}


def main():
    ap = arg_parser(__doc__, "timed repetitions for matmul/conv/mlp")
    ap.add_argument("--add-reps", type=int, default=3,
                    help="timed repetitions of the 100k-addition loop")
    args = parse_args(ap)

    set_up(args.threads)

    results = {}
    results["add"] = bench_add(args.add_reps)
    results["matmul"] = bench_matmul(args.reps)
    results["conv"] = bench_conv(args.reps)
    results["mlp"] = bench_mlp(args.reps)

    out = {
        "peer": "pytorch",
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
        "results": results,
    }
    emit(out)


if __name__ == "__main__":
    main()

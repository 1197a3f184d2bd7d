#!/usr/bin/python3
"""PyTorch peer of bench/optim.ts: one optimizer step over a given parameter list, driven over stdin.

  argv   --shapes JSON (the parameter shapes, e.g. the U-Net's) --optimizer adam|adamw|sgd --threads T --device D
  stdout {"ready": true, "version": ..., "params": N} once, then {"ms": ...} per request
  stdin  "step foreach" | "step single" | "quit"   (K steps of torch.optim with foreach=True/False; ms per step)
"""
import argparse
import json
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--shapes', required=True)
    ap.add_argument('--optimizer', default='adam')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--device', default='cpu')
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    shapes = json.loads(a.shapes)
    opts = {}
    for mode in ('foreach', 'single'):
        ps = [torch.randn(s, generator=g).to(dev).requires_grad_() for s in shapes]
        for p in ps:
            p.grad = (torch.randn(p.shape, generator=g) * 1e-3).to(dev)
        kw = dict(lr=1e-4, foreach=(mode == 'foreach'))
        if a.optimizer == 'adam':
            opts[mode] = torch.optim.Adam(ps, **kw)
        elif a.optimizer == 'adamw':
            opts[mode] = torch.optim.AdamW(ps, weight_decay=0.01, **kw)
        else:
            opts[mode] = torch.optim.SGD(ps, momentum=0.9, **kw)
    n = sum(p.numel() for group in opts['single'].param_groups for p in group['params'])
    sys.stdout.write(json.dumps({'ready': True, 'version': torch.__version__, 'params': n}) + '\n')
    sys.stdout.flush()
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == 'quit':
            break
        opt = opts[cmd[1]]
        t0 = time.perf_counter()
        for _ in range(a.steps):
            opt.step()
        if dev.type == 'cuda':
            torch.cuda.synchronize(dev)
        sys.stdout.write(json.dumps({'ms': (time.perf_counter() - t0) * 1000.0 / a.steps}) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()

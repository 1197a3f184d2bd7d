"""Peer of `node dist/bench/main.js conv`: training steps of the diffusion U-Net (torch_unet.py) and
of the reference classifier (torch_nn.py) in Python PyTorch, driven line by line over stdin so that
Refinery's and PyTorch's steps interleave (A B A B) in one run. Each request is one JSON line
{"model": "unet"|"classifier", "channels_last": bool, "threads": n (0: PyTorch's own default), "steps": k, "batch": b}; each
answer one JSON line {"ms": [k step times]}. An empty line or EOF ends it."""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_unet import UNet, diffusion_loss  # noqa: E402
from torch_nn import make_model  # noqa: E402

torch.manual_seed(0)
DEFAULT_THREADS = torch.get_num_threads()
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

_setups = {}


def setup(model, channels_last, batch):
    key = (model, channels_last, batch)
    if key in _setups:
        return _setups[key]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if model == "unet":
        net = UNet(channels=32, num_res_blocks=1).to(memory_format=fmt)
        x0 = (torch.rand(batch, 1, 28, 28) * 2 - 1).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (batch,), dtype=torch.int64)
        loss_fn = lambda: diffusion_loss(net, x0, y)  # noqa: E731
    else:
        net = make_model().to(memory_format=fmt)
        x = torch.rand(batch, 1, 28, 28).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (batch,), dtype=torch.int64)
        loss_fn = lambda: F.cross_entropy(net(x), y)  # noqa: E731
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()

    step()  # warm-up
    _setups[key] = step
    return step


def main():
    sys.stdout.write(json.dumps({"ready": True, "version": torch.__version__}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        try:
            req = json.loads(line)
            torch.set_num_threads(int(req["threads"]) or DEFAULT_THREADS)
            step = setup(req["model"], bool(req["channels_last"]), int(req["batch"]))
            times = []
            for _ in range(int(req["steps"])):
                t0 = time.perf_counter()
                step()
                times.append((time.perf_counter() - t0) * 1000.0)
            out = {"ms": times, "threads": torch.get_num_threads()}
        except Exception as e:  # reported to the caller, which names the failing configuration
            out = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

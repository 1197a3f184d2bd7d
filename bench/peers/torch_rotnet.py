"""The rotnet benchmark's PyTorch peer: ONE TRAINING STEP of the cyclic-roll network of
src/vision/rotnet.ts (Dieleman et al. 2015's cyclic slice, conv rolls, RMS cyclic pooling) written
in torch.nn, timed over --reps steps after --warmup; bench/rotnet.ts runs it between its own rounds.

  model : cyclic slice (4 rotations) . [conv3x3(pad 1)-leaky ReLU(1/3)-maxpool 3x3/2 . cyclic conv roll] x 3
          (channels w, 2w, 2w; 31 -> 15 -> 7 -> 3) . flatten . linear(8w*9 -> hidden)-leaky . RMS cyclic pool .
          dropout 0.3 . linear(hidden -> 10)
  step  : train mode; zero grads, forward, mean cross-entropy, backward, Adam (lr 1e-3)
"""

import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_common import arg_parser, emit, parse_args, set_up


class CyclicSlice(nn.Module):
    def forward(self, x):  # (N, C, H, W) -> (4N, C, H, W), view-major
        return torch.cat([torch.rot90(x, k, [2, 3]) for k in range(4)], 0)


class CyclicConvRoll(nn.Module):
    def forward(self, x):  # (4N, C, H, W) -> (4N, 4C, H, W): block k of view g is view g+k rotated back by k
        v = x.chunk(4, 0)
        return torch.cat([torch.rot90(torch.cat([v[(k + g) % 4] for g in range(4)], 0), (4 - k) % 4, [2, 3])
                          for k in range(4)], 1)


class CyclicRmsPool(nn.Module):
    def forward(self, x):  # (4N, F) -> (N, F)
        return x.reshape(4, x.shape[0] // 4, -1).square().mean(0).add(1e-8).sqrt()


def rotnet(width, hidden, classes=10):
    layers = [CyclicSlice()]
    cin = 1
    for cout in (width, 2 * width, 2 * width):
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(1 / 3), nn.MaxPool2d(3, 2), CyclicConvRoll()]
        cin = 4 * cout
    layers += [nn.Flatten(), nn.Linear(cin * 9, hidden), nn.LeakyReLU(1 / 3), CyclicRmsPool(), nn.Dropout(0.3),
               nn.Linear(hidden, classes)]
    return nn.Sequential(*layers)


def main():
    ap = arg_parser(__doc__, "timed steps")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=64)
    args = parse_args(ap)
    set_up(args.threads)
    model = rotnet(args.width, args.hidden)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(args.batch, 1, 31, 31)
    y = torch.randint(0, 10, (args.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000.0)
    emit({"peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(), "ms": statistics.median(times),
          "times": times, "params": sum(p.numel() for p in model.parameters())})


if __name__ == "__main__":
    main()

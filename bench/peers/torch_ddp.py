"""One rank of the all-reduce bandwidth benchmark with torch.distributed's Gloo process group
(the peer of bench/ddp_worker.ts). Started by bench/ddp.ts with torchrun's variables; rank 0 prints
one JSON line: the median time of an in-place float32 all-reduce (sum) per size."""

import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist


def main():
    sizes = [int(s) for s in sys.argv[1].split(",")]
    reps = int(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://")
    out = {}
    for n in sizes:
        t = torch.ones(n, dtype=torch.float32)
        r = max(3, min(reps, int(reps * 262144 / max(n, 1)) or 3))
        for _ in range(3):
            dist.all_reduce(t)
        times = []
        for _ in range(r):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            times.append((time.perf_counter() - t0) * 1000.0)
        # the slowest rank's time is the collective's time
        worst = torch.tensor([statistics.median(times)], dtype=torch.float64)
        dist.all_reduce(worst, op=dist.ReduceOp.MAX)
        out[str(n)] = worst.item()
    if dist.get_rank() == 0:
        print(json.dumps({"peer": "pytorch", "version": torch.__version__, "ms": out}), flush=True)
    dist.destroy_process_group()


main()

"""What the PyTorch peers (torch_engine.py, torch_nn.py) share: the common flags, thread
set-up, timing, and the JSON line they print."""

import argparse
import json
import statistics
import sys
import time

import torch


def median_ms(fn, warmup, reps):
    """Median wall time (ms) of `reps` calls of fn after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def arg_parser(doc, reps_help):
    """A parser with the script's docstring and --threads, --reps; add the script's own flags,
    then call parse_args."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=15, help=reps_help)
    return ap


def parse_args(ap):
    """Adds --json (last) and parses the command line."""
    ap.add_argument("--json", action="store_true",
                    help="print the JSON line (always done; kept for CLI symmetry)")
    return ap.parse_args()


def set_up(threads):
    """Seed 0, `threads` intra-op threads, one inter-op thread."""
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set / parallel work has started


def emit(out):
    """Prints the result as one JSON line."""
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()

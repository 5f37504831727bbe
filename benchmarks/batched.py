"""Batched training against separate runs, side by side: K same-shape runs (seeds) trained one after another, then as
one batched model (squeeze/train/batched.py), through the real trainer, in rounds that alternate the two.

    python benchmarks/batched.py                       # the default study's 2x32 and 2x64, K=4: ~2 min
    python benchmarks/batched.py --shapes 4x128 --k 8  # other shapes and group sizes

Each run is a default-preset run (ctx 128, batch 16, fp32, 1 thread, `--steps` steps) on a synthetic token store
the script makes; the time is wall clock from the first run's start to the last run's summary.json, evals and
checkpoints included, as `squeeze run` would spend it. Prints the CPU flags and one line per shape with the
separate / batched time ratio (> 1: batching is faster). Results go in benchmarks/RESULTS.md.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from make_synthetic_store import make_store  # benchmarks/ is on sys.path when this script runs

from squeeze import presets
from squeeze.device import perf
from squeeze.train.batched import train_group
from squeeze.train.trainer import train


def configs(store: Path, shape: tuple[int, int], k: int, steps: int, threads: int, device: str):
    out = []
    for seed in range(k):
        c = presets.preset_config("default", "standard")
        c.data.path, c.data.seed, c.train.seed = str(store), seed, seed
        c.model.n_layer, c.model.d_model = shape
        c.model.n_head = max(1, shape[1] // 32)  # head dim 32, as the preset
        c.data.budget_tokens = steps * c.train.batch_size * (c.model.seq_len + 1)
        c.train.epochs, c.train.dtype, c.train.threads = 1, "fp32", threads
        c.train.final_eval_tokens = 8192
        out.append(c)
    return out


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="2x32,2x64", help="LAYERSxWIDTH list (default: the default study's)")
    p.add_argument("--k", type=int, default=4, help="runs per group (default 4)")
    p.add_argument("--steps", type=int, default=60, help="optimizer steps per run (default 60)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of separate and batched (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as each study worker)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    info = perf.cpu_info()
    flags = perf.flags_text(info)
    print(f"CPU: {info['model']}; {flags}; {a.threads} thread(s); torch {torch.__version__}; device {a.device}")
    work = Path(tempfile.mkdtemp(prefix="squeeze-batched-"))
    try:
        make_store(work / "store", 400_000, 1024)  # the default preset vocabulary
        for text in a.shapes.split(","):
            shape = tuple(int(x) for x in text.lower().split("x"))
            cfgs = configs(work / "store", shape, a.k, a.steps, a.threads, a.device)
            sep, bat = [], []
            for r in range(a.rounds):
                for d in work.glob("run*"):
                    shutil.rmtree(d)
                sep.append(timed(lambda: [train(c, work / f"run_s{i}", quiet=True, device=a.device)
                                          for i, c in enumerate(cfgs)]))
                bat.append(timed(lambda: train_group([(c, work / f"run_b{i}", False, False)
                                                      for i, c in enumerate(cfgs)], quiet=True, device=a.device)))
                print(f"  {text} round {r + 1}: separate {sep[-1]:.1f} s, batched {bat[-1]:.1f} s", flush=True)
            ratio = statistics.median(s / b for s, b in zip(sep, bat))
            print(f"{text}, K={a.k}, {a.steps} steps: separate {statistics.median(sep):.1f} s, batched "
                  f"{statistics.median(bat):.1f} s, ratio {ratio:.2f} (separate / batched)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a study spends besides training, side by side: (1) certification rounds through a fresh pool of worker
processes each (spawn, torch's import, a slow first run per worker) against one pool kept for all rounds
(`squeeze.runs.execute.keep_workers`, what `squeeze run` does); (2) a 16-epoch run evaluated at every epoch end
against one evaluated at epochs 1, 2, 4, 8 (`train.epoch_evals doubling`, the default preset's).

    python benchmarks/study_overheads.py                 # 6 rounds of 2 runs, 2 workers: ~2 min on 2 cores
    python benchmarks/study_overheads.py --rounds 10

Runs are default-preset 2 x 64 runs (ctx 128, batch 16, fp32, 1 thread per worker) on a synthetic token store the
script makes; times are wall clock. Prints the CPU flags and one line per comparison with its ratio (> 1: the
study's choice is faster). Results go in benchmarks/RESULTS.md.
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from make_synthetic_store import make_store  # benchmarks/ is on sys.path when this script runs

from squeeze import presets
from squeeze.device import perf
from squeeze.runs.execute import Job, keep_workers, run_jobs
from squeeze.train.backend import TRAINER


def config(store: Path, seed: int, epochs: int, budget: int, epoch_evals: str = "doubling"):
    c = presets.preset_config("default", "standard")
    c.data.path, c.data.seed, c.train.seed = str(store), seed, seed
    c.data.budget_tokens, c.train.epochs, c.train.dtype = budget, epochs, "fp32"
    c.train.epoch_evals = epoch_evals
    return c


def rounds(store: Path, work: Path, n: int, workers: int) -> float:
    """n rounds of `workers` short runs each, every round one run_jobs call (one certification round)."""
    t0 = time.perf_counter()
    for r in range(n):
        jobs = [Job(config(store, 10 * r + i, 4, 5_000), work / f"r{r}_{i}") for i in range(workers)]
        run_jobs(jobs, TRAINER, workers=workers, threads_per_worker=1)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6, help="certification rounds of `--workers` runs (default 6)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2, the study's on 2 cores)")
    a = p.parse_args()
    info = perf.cpu_info()
    flags = perf.flags_text(info)
    print(f"CPU: {info['model']}; {flags}; torch {torch.__version__}")
    work = Path(tempfile.mkdtemp(prefix="squeeze-overheads-"))
    try:
        store = work / "store"
        make_store(store, 400_000, 1024)  # the default preset vocabulary
        fresh = rounds(store, work / "fresh", a.rounds, a.workers)
        with keep_workers():
            kept = rounds(store, work / "kept", a.rounds, a.workers)
        print(f"{a.rounds} rounds of {a.workers} runs (2x64, 4 epochs of 5k tokens): a fresh pool per round "
              f"{fresh:.1f} s, one kept pool {kept:.1f} s, ratio {fresh / kept:.2f} "
              f"({(fresh - kept) / a.rounds:.1f} s saved per round)", flush=True)
        torch.set_num_threads(1)
        times = {"every": [], "doubling": []}
        for r in range(2):  # alternate, so that a drift in the machine's speed hits both
            for mode in times:
                run = work / f"ev_{mode}{r}"
                t0 = time.perf_counter()
                run_jobs([Job(config(store, 0, 16, 10_000, mode), run)], TRAINER, threads_per_worker=1)
                times[mode].append(time.perf_counter() - t0)
        every, doubling = min(times["every"]), min(times["doubling"])
        print(f"2x64, 16 epochs of 10k tokens: epoch-end evals at every epoch {every:.1f} s, at 1, 2, 4, 8 "
              f"{doubling:.1f} s, ratio {every / doubling:.2f} (best of 2 each)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

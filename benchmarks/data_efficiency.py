"""Data efficiency on the built-in corpus at a CPU-sized D0: the standard recipe's data-scaling law, the
regularized recipe tuned with the certificate, its parameter-scaling asymptote, and its multiplier.

Honest baseline (docs/design.md section 2): the standard recipe (AdamW, wd 0.1, cosine) gets the same learning-rate
and epoch grid and the same certificate as the regularized recipe at D0; at the larger budgets it keeps its D0
learning rate per size and has its epochs certified again. Every point is an ordinary run directory under --out;
re-running skips finished runs, so a killed benchmark continues where it stopped.

    python benchmarks/data_efficiency.py [--out DIR] [--workers 2] [--d0 50000]        (~40 min on 2 cores)
"""
import argparse
import sys
import time
from pathlib import Path

from squeeze import recipes
from squeeze.cli import main as main_cli
from squeeze.data.prepare import ensure_store
from squeeze.study.certify import certify
from squeeze.study.grid import Grid
from squeeze.study.sweep import run_sweep

SMALL, MEDIUM, LARGE = (2, 64), (3, 96), (4, 128)  # ~0.17M, 0.43M, 0.92M parameters with a 1024 vocabulary


def base_config(recipe: str, store: Path):
    c = recipes.recipe(recipe)
    c.data.path = str(store)
    c.model.seq_len, c.model.d_model, c.model.n_head = 128, 64, 2  # head dim 32; sweeps keep it per size
    c.train.batch_size, c.train.compile = 16, "off"  # ~100 short runs: compiling each would cost ~20 s
    c.train.eval_tokens = 8192  # epoch-end evals on a slice; the final eval uses all validation tokens
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-data-efficiency", help="study directory (runs are kept and reused)")
    ap.add_argument("--d0", type=int, default=50_000, help="base budget D0 in unique training tokens")
    ap.add_argument("--workers", type=int, default=2, help="parallel 1-thread training processes")
    ap.add_argument("--vocab", type=int, default=1024, help="BPE vocabulary of the benchmark's token store")
    a = ap.parse_args()
    t0, out, d0 = time.time(), Path(a.out), a.d0
    store = ensure_store(None, out, a.vocab)
    budgets = [d0, 2 * d0, 4 * d0, 8 * d0]
    say = lambda m: print(f"[{(time.time() - t0) / 60:5.1f} min] {m}", file=sys.stderr, flush=True)
    kw = dict(workers=a.workers, threads=1, max_runs=400)

    say("1/4 standard recipe at D0: lr x epochs, certified")
    std = base_config("standard", store)
    res = run_sweep(std, Grid(lr=[2e-3, 4e-3, 8e-3], weight_decay=[0.1], epochs=[4, 8, 16],
                              sizes=[SMALL, MEDIUM], budgets=[d0]), out / "standard", certify_axes=("lr", "epochs"),
                    **kw)
    lr_of = {}
    for key in res.grids:
        cert = certify(res.rows, res.grids[key], ("lr", "epochs"))
        lr_of[key[1:]] = cert.best.lr
        say(f"  standard {key[1]}x{key[2]} at D0: {cert.best} -> {cert.best_loss:.4f}; {cert.describe()}")

    say("2/4 standard recipe at 2, 4, 8 x D0: epochs certified at each budget (lr from D0)")
    run_sweep(std, [Grid(lr=[lr], weight_decay=[0.1], epochs=[4, 8, 16], sizes=[size], budgets=budgets[1:])
                    for size, lr in lr_of.items()], out / "standard", certify_axes=("epochs",), **kw)

    say("3/4 regularized recipe at D0: lr x weight decay x epochs, certified")
    reg = base_config("regularized", store)
    lr_m = lr_of[MEDIUM]
    res = run_sweep(reg, Grid(lr=[lr_m], weight_decay=[0.4, 0.8, 1.6], epochs=[8, 16, 32], sizes=[MEDIUM],
                              budgets=[d0]), out / "regularized", certify_axes=("lr", "weight_decay", "epochs"), **kw)
    cert = certify(res.rows, res.grids[(d0, *MEDIUM)], ("lr", "weight_decay", "epochs"))
    best = cert.best
    if best is None:
        sys.exit(f"no finished regularized run at D0 under {out / 'regularized'}: {cert.describe()}")
    say(f"  regularized {MEDIUM} at D0: {best.name} -> {cert.best_loss:.4f}; {cert.describe()}")

    say("4/4 regularized recipe over model sizes at D0 (its parameter-scaling asymptote), and the standard "
        "recipe at the large size too, so that both recipes' best at D0 is taken over the same sizes")
    run_sweep(reg, Grid(lr=[best.lr], weight_decay=[best.weight_decay], epochs=[best.epochs],
                        sizes=[SMALL, LARGE], budgets=[d0]), out / "regularized", **kw)
    run_sweep(std, Grid(lr=[lr_m], weight_decay=[0.1], epochs=[4, 8, 16], sizes=[LARGE], budgets=[d0]),
              out / "standard", certify_axes=("epochs",), **kw)

    # The fits, the multiplier table and the plots: exactly what `squeeze fit` prints and writes.
    if main_cli(["fit", str(out / "standard"), str(out / "regularized"), "--out", str(out),
                 "--base-budget", str(d0)]):
        sys.exit("squeeze fit failed (see above)")
    say(f"done in {(time.time() - t0) / 60:.1f} min; runs under {out}")


if __name__ == "__main__":
    main()

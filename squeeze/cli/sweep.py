"""`squeeze sweep`: a grid of runs (squeeze/study/sweep.py) from comma-list flags, certified on request, and the
table it prints per (budget, size) group with each group's certificate. Exercised by tests/test_sweep.py.
"""
import argparse
from pathlib import Path

from squeeze import recipes
from squeeze.cli.common import parse_list, parse_sizes
from squeeze.cli.study import executor_config
from squeeze.config import Config, apply_overrides
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.study.certify import certify
from squeeze.study.grid import AXES, Grid, group_name
from squeeze.study.sweep import run_sweep

__all__ = ["add_sweep_parser", "cmd_sweep", "grid_from_args", "parse_list", "parse_sizes", "print_report"]


def grid_from_args(args: argparse.Namespace, base: Config) -> Grid:
    """The grid the flags ask for; an axis without a flag keeps the base config's single value."""
    return Grid(lr=parse_list(args.lr, float, "--lr") or [base.train.lr],
                weight_decay=parse_list(args.weight_decay, float, "--weight-decay") or [base.train.weight_decay],
                epochs=parse_list(args.epochs, int, "--epochs") or [base.train.epochs],
                sizes=parse_sizes(args.sizes) or [(base.model.n_layer, base.model.d_model)],
                budgets=parse_list(args.budgets, int, "--budgets") or [base.data.budget_tokens],
                seeds=parse_list(args.seeds, int, "--seeds") or [base.train.seed])


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    s = subparsers.add_parser("sweep", help="train a grid of runs and certify the best per (budget, size)",
                              description="Comma lists give the grid; an axis left out keeps the recipe's value. "
                                          "--section.field=value overrides change the base config.")
    s.add_argument("--data", required=True, help="token store directory (made by `squeeze prepare`)")
    s.add_argument("--out", required=True, help="sweep root: one run directory per point, and results.csv")
    s.add_argument("--recipe", default="standard", help=f"base recipe, one of: {', '.join(recipes.RECIPES)}")
    s.add_argument("--lr", help="learning rates, e.g. 1e-3,2e-3,4e-3")
    s.add_argument("--weight-decay", help="weight decays, e.g. 0.1,0.8")
    s.add_argument("--epochs", help="epochs, e.g. 4,8,16")
    s.add_argument("--sizes", help="model sizes LAYERSxWIDTH, e.g. 4x128,6x192 (head dim kept from the base)")
    s.add_argument("--budgets", help="unique training tokens (data.budget_tokens), e.g. 125000,250000")
    s.add_argument("--seeds", help="init seeds (train.seed), e.g. 0,1; certificates average over them")
    s.add_argument("--workers", type=int, default=1, help="parallel training processes (default 1); torch "
                   "threads per worker default to cores / workers, or --train.threads")
    s.add_argument("--executor", default="local", choices=("local", "ray"), help="local: worker processes on "
                   "this machine (one per GPU, or --runs-per-gpu per GPU, when GPUs are visible); ray: tasks on a "
                   "Ray cluster (pip install 'squeeze[ray]'; --out must be on storage every node sees)")
    s.add_argument("--ray-address", default=None, help="Ray cluster to join, e.g. 10.0.0.1:6379 or auto "
                   "(default: start a Ray instance on this machine)")
    s.add_argument("--runs-per-gpu", type=int, default=1, help="small models: runs sharing one GPU (default 1)")
    s.add_argument("--batch-runs", type=int, default=1, help="train up to N new same-shape runs (seeds, "
                   "ensemble members, lr/wd grid points) in one process as one batched model (default 1 = off: "
                   "measured no faster on the 2-core CPU, benchmarks/RESULTS.md)")
    s.add_argument("--certify", action="store_true", help="train missing neighbours and widen edges until "
                   "every group's best is certified or --max-runs is reached")
    s.add_argument("--certify-axes", default=",".join(AXES), help=f"axes a certificate steps along (default "
                   f"{','.join(AXES)}; e.g. lr,epochs for the standard recipe, whose weight decay is fixed)")
    # 64 default-preset runs (250k tokens x at most 16 epochs, ~18k tokens/s on 2 cores) take at most ~4 hours
    s.add_argument("--max-runs", type=int, default=64, help="cap on the sweep's runs, grid included (default 64)")
    s.add_argument("--best-seeds", type=int, default=1, help="seeds (init and data order) for each group's best point "
                   "and, with --certify, for every neighbour within seed noise of it; certificates decide on seed "
                   "means (default 1)")
    return s




def print_report(rows: list[dict], grids: dict, planned: set[str], axes: tuple[str, ...],
                 best_seeds: int = 1) -> dict:
    """Per (budget, size) group: its runs sorted by val_loss, then its best point and certificate line.
    Returns the certificates by group."""
    certs = {}
    for key, grid in grids.items():
        group = [r for r in rows if r["name"] in planned and (r["budget_tokens"], r["n_layer"], r["d_model"]) == key]
        group.sort(key=lambda r: (r["val_loss"] is None, r["val_loss"] or 0.0, r["name"]))
        budget = f"{key[0]:,} tokens" if key[0] else "all tokens"
        print(f"\nbudget {budget}, {key[1]} layers x d {key[2]} ({len(group)} runs)")
        print(f"  {'lr':>9} {'wd':>7} {'epochs':>6} {'seed':>4} {'val loss':>9} {'bits/byte':>9} {'seconds':>8}")
        for r in group:
            loss, bpb, sec = ("-" if r[k] is None else format(r[k], f) for k, f in
                              (("val_loss", ".4f"), ("val_bpb", ".4f"), ("train_seconds", ".1f")))
            print(f"  {r['lr']:>9g} {r['weight_decay']:>7g} {r['epochs']:>6} {r['seed']:>4} {loss:>9} {bpb:>9} "
                  f"{sec:>8}")
        certs[key] = cert = certify(rows, grid, axes, best_seeds=best_seeds)
        if cert.best is not None:
            seeds = f", mean of {cert.n_seeds} seeds" if cert.n_seeds > 1 else ""
            print(f"  best {cert.best.short_name}: val loss {cert.best_loss:.4f}{seeds}")
        print(f"  {cert.describe()}")
    return certs




def cmd_sweep(args: argparse.Namespace, overrides: list[str]) -> None:
    """`squeeze sweep`: run the grid (skipping finished points), certify, rebuild ROOT/results.csv, print."""
    base = apply_overrides(recipes.recipe(args.recipe), [f"data.path={args.data}", *overrides])
    TokenStore.open(base.data.path)  # a bad --data fails here, once, not once per run
    grid = grid_from_args(args, base)
    axes = tuple(parse_list(args.certify_axes, str, "--certify-axes"))
    if bad := [a for a in axes if a not in AXES]:
        raise SqueezeError(f"--certify-axes: unknown axis {bad[0]!r} (known: {', '.join(AXES)})")
    if args.workers < 1 or args.max_runs < 1:
        raise SqueezeError(f"--workers {args.workers}, --max-runs {args.max_runs}: both must be >= 1")
    if args.best_seeds < 1:
        raise SqueezeError(f"--best-seeds {args.best_seeds}: must be >= 1")
    res = run_sweep(base, grid, args.out, workers=args.workers, threads=base.train.threads or None,
                    certify_axes=axes if args.certify else None, max_runs=args.max_runs,
                    executor=executor_config(args), best_seeds=args.best_seeds)
    certs = print_report(res.rows, res.grids, res.planned, axes, args.best_seeds)
    todo = [group_name(key) for key, c in certs.items() if not c.certified]
    print(f"\n{len(certs) - len(todo)} of {len(certs)} groups certified"
          f"{' (not certified: ' + ', '.join(todo) + ')' if todo else ''}; {len(res.planned)} runs; "
          f"results in {Path(args.out) / 'results.csv'}")
    if res.note:
        print(res.note)
    if res.failure:
        raise SqueezeError(res.failure)

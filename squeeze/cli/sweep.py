"""`squeeze sweep`: a grid of runs (squeeze/study/sweep.py) from comma-list flags, every value checked first,
certified on request, and the table it prints per (budget, size) group with each group's certificate.
Exercised by tests/test_sweep.py.
"""
import argparse
from pathlib import Path

from squeeze import recipes
from squeeze.cli import checks
from squeeze.cli.common import add_executor_flags, executor_config, parse_list, parse_sizes
from squeeze.cli.train import EPOCHS_MAX
from squeeze.config import Config, apply_overrides
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.study.certify import certify
from squeeze.study.grid import AXES, Grid, group_name
from squeeze.study.sweep import grid_jobs, run_sweep

__all__ = ["add_sweep_parser", "check_sweep", "cmd_sweep", "grid_from_args", "parse_list", "parse_sizes",
           "print_report"]


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
    add_executor_flags(s)
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




MAX_RUNS_MAX = 1_000_000  # --max-runs: the cap on a sweep's runs
BEST_SEEDS_MAX = 100  # seeds for each group's best point


def check_sweep(args: argparse.Namespace, overrides: list[str]) -> None:
    """Every flag, the base config and every grid point's config (each built and checked), the token store, and
    the grid against --max-runs, before the sweep root is touched."""
    checks.existing("--data", args.data, "dir")
    checks.output_dir("--out", args.out)
    checks.choice("--recipe", args.recipe, recipes.RECIPES, "recipe")
    checks.workers("--workers", args.workers)
    checks.number("--max-runs", args.max_runs, 1, MAX_RUNS_MAX)
    checks.number("--best-seeds", args.best_seeds, 1, BEST_SEEDS_MAX)
    args.executor_config = executor_config(args)
    args.base = base = apply_overrides(recipes.recipe(args.recipe), [f"data.path={args.data}", *overrides])
    checks.config_paths(base)
    TokenStore.open(base.data.path)  # a bad --data fails here, once, not once per run
    args.grid = grid = grid_from_args(args, base)
    ranges = (("--lr", grid.lr, 0.0, None, True), ("--weight-decay", grid.weight_decay, 0.0, None, False),
              ("--epochs", grid.epochs, 1, EPOCHS_MAX, False), ("--budgets", grid.budgets, 0, checks.COUNT_MAX, False),
              ("--seeds", grid.seeds, 0, checks.SEED_MAX, False))
    for flag, values, lo, hi, lo_open in ranges:
        for v in values:
            checks.number(flag, v, lo, hi, lo_open=lo_open)
    args.axes = tuple(parse_list(args.certify_axes, str, "--certify-axes"))
    if bad := [a for a in args.axes if a not in AXES]:
        raise SqueezeError(f"--certify-axes: unknown axis {bad[0]!r} (known: {', '.join(AXES)})")
    n = len(grid_jobs(base, grid, args.out))  # builds and checks every point's config
    if n > args.max_runs:
        raise SqueezeError(f"the grid has {n} runs, over --max-runs {args.max_runs}: raise it or shrink the grid")
    checks.make_outputs(args.out)


def cmd_sweep(args: argparse.Namespace) -> None:
    """`squeeze sweep`: run the grid (skipping finished points), certify, rebuild ROOT/results.csv, print."""
    res = run_sweep(args.base, args.grid, args.out, workers=args.workers, threads=args.base.train.threads or None,
                    certify_axes=args.axes if args.certify else None, max_runs=args.max_runs,
                    executor=args.executor_config, best_seeds=args.best_seeds)
    certs = print_report(res.rows, res.grids, res.planned, args.axes, args.best_seeds)
    todo = [group_name(key) for key, c in certs.items() if not c.certified]
    print(f"\n{len(certs) - len(todo)} of {len(certs)} groups certified"
          f"{' (not certified: ' + ', '.join(todo) + ')' if todo else ''}; {len(res.planned)} runs; "
          f"results in {Path(args.out) / 'results.csv'}")
    if res.note:
        print(res.note)
    if res.failure:
        raise SqueezeError(res.failure)

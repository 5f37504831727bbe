"""Hyperparameter sweeps: grids of runs, the local-optimality certificate (DESIGN.md section 2), `squeeze sweep`.

A `Grid` crosses learning rates, weight decays, epochs, model sizes, budgets and seeds; each point is a run
directory `ROOT/b250000/L4d128/lr0.002_wd0.8_ep16_s0` made by copy-and-override of one base config. For every
(budget, size) group, `certify` says whether the best point is a local optimum: every one-step neighbour along
lr, weight decay and epochs trained and none better, and it flags a best that sits on the edge of the grid.
`--certify` then trains missing neighbours and widens edges until every group is certified or `--max-runs` is hit.
Results are rebuilt from the run directories alone into ROOT/results.csv.
Run it with `squeeze sweep --data STORE --out ROOT --lr 1e-3,2e-3,4e-3 --epochs 4,8,16 --certify`;
exercised by tests/test_sweep.py.
"""
import argparse
import itertools
import math
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from squeeze import recipes
from squeeze.config import Config, apply_overrides
from squeeze.errors import SqueezeError
from squeeze.io import dir_lock, inside
from squeeze.study.execute import Job, Outcome, execute, failure_message
from squeeze.study.results import collect, write_csv

AXES = ("lr", "weight_decay", "epochs")  # the axes a certificate steps along
GROUP = ("budget_tokens", "n_layer", "d_model")  # a certificate is per (budget, size) group
POINT_KEYS = (*GROUP, *AXES, "seed")  # the same names as the columns of squeeze.study.results


@dataclass
class Grid:
    """The values to cross. Sizes are (n_layer, d_model); the head dim stays the base config's (see point_config)."""
    lr: list[float]
    weight_decay: list[float]
    epochs: list[int]
    sizes: list[tuple[int, int]]
    budgets: list[int]  # data.budget_tokens; 0 = the whole store
    seeds: list[int] = field(default_factory=lambda: [0])  # train.seed (the init seed)

    def __post_init__(self) -> None:
        self.lr, self.weight_decay = [float(x) for x in self.lr], [float(x) for x in self.weight_decay]
        self.sizes = [tuple(s) for s in self.sizes]
        for name in ("lr", "weight_decay", "epochs", "sizes", "budgets", "seeds"):
            values = getattr(self, name)
            if not values:
                raise SqueezeError(f"grid {name}: no values")
            dup = next((v for i, v in enumerate(values) if v in values[:i]), None)
            if dup is not None:
                raise SqueezeError(f"grid {name}: {dup} given twice")

    def values(self, axis: str) -> list:
        return sorted(getattr(self, axis))

    def groups(self) -> list[tuple[int, int, int]]:
        """(budget_tokens, n_layer, d_model) of every group, in grid order."""
        return [(b, n, d) for b in self.budgets for n, d in self.sizes]

    def group(self, key: tuple[int, int, int]) -> "Grid":
        return replace(self, budgets=[key[0]], sizes=[(key[1], key[2])])

    def points(self) -> list[dict]:
        return [dict(zip(POINT_KEYS, (b, n, d, lr, wd, ep, s)))
                for (b, n, d), lr, wd, ep, s in itertools.product(self.groups(), self.lr, self.weight_decay,
                                                                    self.epochs, self.seeds)]


def group_name(key: tuple[int, int, int]) -> str:
    """`b250000/L4d128` for (budget_tokens, n_layer, d_model); budget 0 (the whole store) is `ball`."""
    budget, n_layer, d_model = key
    return f"{f'b{budget}' if budget else 'ball'}/L{n_layer}d{d_model}"


def point_name(point: dict) -> str:
    """`b250000/L4d128/lr0.002_wd0.8_ep16_s0`; the group part and the seed are left out when the point lacks
    them. Floats print with :g (6 significant digits), so 2e-3 and 0.002 name the same directory."""
    leaf = f"lr{point['lr']:g}_wd{point['weight_decay']:g}_ep{point['epochs']}"
    leaf += f"_s{point['seed']}" if "seed" in point else ""
    return f"{group_name(tuple(point[k] for k in GROUP))}/{leaf}" if GROUP[0] in point else leaf


def point_config(base: Config, point: dict) -> Config:
    """The base config with the point's values. Width grows by adding heads at the base's head dim (32 in the
    default preset: n_head = d_model / 32), as GPT-3-style families do, so attention stays comparable across sizes."""
    head_dim = base.model.d_model // base.model.n_head
    if point["d_model"] % head_dim:
        raise SqueezeError(f"--sizes {point['n_layer']}x{point['d_model']}: d_model must be a multiple of the base "
                           f"head dim {head_dim} (model.d_model / model.n_head)")
    return apply_overrides(base, [
        f"model.n_layer={point['n_layer']}", f"model.d_model={point['d_model']}",
        f"model.n_head={point['d_model'] // head_dim}", f"data.budget_tokens={point['budget_tokens']}",
        f"train.lr={point['lr']!r}", f"train.weight_decay={point['weight_decay']!r}",
        f"train.epochs={point['epochs']}", f"train.seed={point['seed']}"])


def grid_jobs(base_cfg: Config, grid: Grid, root: str | Path) -> list[Job]:
    """One Job per grid point, every config built (and so validated) before anything trains."""
    seen: dict[str, dict] = {}
    jobs = []
    for p in grid.points():
        name = point_name(p)
        if name in seen:
            raise SqueezeError(f"grid points {seen[name]} and {p} share the directory {name} "
                               "(values equal to 6 significant digits)")
        seen[name] = p
        jobs.append(Job(point_config(base_cfg, p), inside(root, name)))  # a name never leaves the sweep root
    return jobs


# ---- the certificate: pure functions of result rows ------------------------------------------------------------

def _step(axis: str, values: list, up: bool) -> float | int | None:
    """The next value beyond one edge of a sorted axis, or None where nothing lies beyond it."""
    edge = values[-1] if up else values[0]
    if axis == "epochs":  # doubling, as the usual 4/8/16 grids do; below 1 epoch there is nothing
        new = edge * 2 if up else edge // 2
        return new if 1 <= new != edge else None
    if edge <= 0:  # zero has no geometric neighbour, and weight decay cannot go below it
        return None
    inner = (values[-2] if up else values[1]) if len(values) > 1 else 0
    ratio = max(edge, inner) / min(edge, inner) if inner > 0 else 2.0  # the grid's own ratio, else x2
    return float(f"{edge * ratio if up else edge / ratio:.6g}")  # 6 digits: exactly what point_name prints


def beyond(axis: str, values: list, value) -> list:
    """Values just outside the grid on the side(s) where `value` sits at the edge (both for a one-value axis)."""
    values = sorted(values)
    steps = [_step(axis, values, up) for up, edge in ((False, values[0]), (True, values[-1])) if value == edge]
    return [v for v in steps if v is not None]


@dataclass
class Certificate:
    """Whether `best` is a local optimum of its (budget, size) group on the grid."""
    best: dict | None  # the best hyperparameter point (group keys and axes, no seed)
    best_loss: float | None  # its val_loss, the mean over its finished seeds
    n_seeds: int
    certified: bool
    missing: list[dict] = field(default_factory=list)  # runs (with seed) still to train: neighbours', best's own
    better: list[dict] = field(default_factory=list)  # neighbours whose mean val_loss (key "val_loss") beats best
    at_edge: list[str] = field(default_factory=list)  # axes where best sits on a grid edge that could be widened
    n_neighbours: int = 0

    def describe(self) -> str:
        if self.best is None:
            return "not certified: no finished runs"
        own = [str(p["seed"]) for p in self.missing if _hp(p) == self.best]
        near = list(dict.fromkeys(_short(p) for p in self.missing if _hp(p) != self.best))
        why = [f"best lacks seed{'s' * (len(own) > 1)} {', '.join(own)}"] if own else []
        if near:
            why.append(f"{_count(near, 'neighbour')} missing ({', '.join(near[:3])}{', ...' * (len(near) > 3)})")
        if self.better:
            why.append(f"{_count(self.better, 'neighbour')} better (" + ", ".join(
                f"{_short(p)}: {p['val_loss']:.4f}" for p in self.better) + ")")
        if not self.n_neighbours:
            why.append("no neighbours on the grid (one value per axis)")
        line = ("certified: every one-step neighbour trained and worse" if self.certified
                else "not certified: " + "; ".join(why))
        if self.at_edge:
            axes = " and ".join(", ".join(self.at_edge).rsplit(", ", 1))
            line += (f"; best at the edge of the {axes} grid{'s' * (len(self.at_edge) > 1)}: "
                     f"widen {'them' if len(self.at_edge) > 1 else 'it'}")
        return line


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'s' * (len(items) > 1)}"


def _short(point: dict) -> str:
    """The name within its group: `lr0.002_wd0.8_ep16`."""
    return point_name({k: point[k] for k in AXES})


def _hp(point: dict) -> dict:
    """A hyperparameter point: the run point without its seed (nor extras like val_loss)."""
    return {k: point[k] for k in (*GROUP, *AXES)}


def _mean_losses(rows: list[dict], grid: Grid) -> tuple[dict[str, float], dict[str, tuple[float | None, int]]]:
    """val_loss of every finished run of `grid` by run name, and (mean over its finished seeds, how many) by
    hyperparameter point name. NaN counts as inf: a broken run is worse than any that finished."""
    runs = {point_name(p) for p in grid.points()}
    losses = {}
    for r in rows:
        name = point_name({k: r[k] for k in POINT_KEYS})
        if name in runs and r.get("val_loss") is not None:
            losses[name] = math.inf if math.isnan(float(r["val_loss"])) else float(r["val_loss"])
    means = {}
    for p in grid.points():
        found = [losses[n] for n in (point_name({**_hp(p), "seed": s}) for s in grid.seeds) if n in losses]
        means[point_name(_hp(p))] = (statistics.fmean(found) if found else None), len(found)
    return losses, means


def certify(rows: list[dict], grid: Grid, axes: tuple[str, ...] = AXES, candidate: dict | None = None) -> Certificate:
    """Certify the best finished point of a one-group grid (lowest val_loss, mean over finished seeds), or
    `candidate`, a point of the grid (say, the hyperparameters a recipe reports). Rows outside the grid are
    ignored; a diverged run reported with val_loss = inf counts as trained and worse."""
    if len(grid.budgets) != 1 or len(grid.sizes) != 1:
        raise ValueError("certify one (budget, size) group at a time: pass grid.group(key)")
    if unknown := set(axes) - set(AXES):
        raise ValueError(f"unknown axes {sorted(unknown)}: choose from {AXES}")
    losses, means = _mean_losses(rows, grid)
    loss = {name: m for name, (m, _) in means.items() if m is not None}  # in grid order
    hps = {point_name(_hp(p)): _hp(p) for p in grid.points()}
    if candidate is not None:
        best = _hp(candidate)
        if point_name(best) not in hps:
            raise ValueError(f"candidate {point_name(best)} is not a point of the grid")
    elif not loss:
        return Certificate(None, None, 0, False)
    else:
        best = hps[min(loss, key=loss.get)]  # the lowest mean; the first in grid order on a tie
    best_loss, n_seeds = means[point_name(best)]
    neighbours = []
    for axis in axes:
        values = grid.values(axis)
        i = values.index(best[axis])
        neighbours += [{**best, axis: values[j]} for j in (i - 1, i + 1) if 0 <= j < len(values)]
    missing = [{**hp, "seed": s} for hp in (best, *neighbours) for s in grid.seeds
               if point_name({**hp, "seed": s}) not in losses]
    better = [{**hp, "val_loss": loss[point_name(hp)]} for hp in neighbours
              if best_loss is not None and loss.get(point_name(hp), math.inf) < best_loss]
    at_edge = [axis for axis in axes if beyond(axis, grid.values(axis), best[axis])]
    certified = best_loss is not None and bool(neighbours) and not missing and not better
    return Certificate(best, best_loss, n_seeds, certified, missing, better, at_edge, len(neighbours))


def extend_grid(grid: Grid, certificate: Certificate) -> Grid | None:
    """The grid widened by one step beyond every edge the best sits on, or None when there is nothing to add."""
    if certificate.best is None:
        return None
    changes = {axis: sorted([*getattr(grid, axis), *new]) for axis in certificate.at_edge
               if (new := beyond(axis, grid.values(axis), certificate.best[axis]))}
    return replace(grid, **changes) if changes else None


# ---- the command ---------------------------------------------------------------------------------------------

def parse_list(text: str | None, tp: type, flag: str) -> list:
    """`1e-3,2e-3` -> [0.001, 0.002]; None -> []; a bad item is a one-line SqueezeError naming the flag."""
    if text is None:
        return []
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise SqueezeError(f"{flag} {text!r}: empty item (expected a comma list like 1,2,4)")
        try:
            out.append(tp(item))
        except ValueError:
            raise SqueezeError(f"{flag} {text!r}: {item!r} is not {'an integer' if tp is int else 'a number'}") \
                from None
    return out


def parse_sizes(text: str | None) -> list[tuple[int, int]]:
    """`4x128,6x192` -> [(4, 128), (6, 192)]: n_layer x d_model."""
    sizes = []
    for item in parse_list(text, str, "--sizes"):
        layers, sep, width = item.lower().partition("x")
        if not (sep and layers.isdigit() and width.isdigit()):
            raise SqueezeError(f"--sizes {text!r}: {item!r} is not LAYERSxWIDTH like 4x128")
        sizes.append((int(layers), int(width)))
    return sizes


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
    s.add_argument("--certify", action="store_true", help="train missing neighbours and widen edges until "
                   "every group's best is certified or --max-runs is reached")
    s.add_argument("--certify-axes", default=",".join(AXES), help=f"axes a certificate steps along (default "
                   f"{','.join(AXES)}; e.g. lr,epochs for the standard recipe, whose weight decay is fixed)")
    # 64 default-preset runs (250k tokens x at most 16 epochs, ~18k tokens/s on 2 cores) take at most ~4 hours
    s.add_argument("--max-runs", type=int, default=64, help="cap on the sweep's runs, grid included (default 64)")
    return s


class _Sweep:
    """The runs one `squeeze sweep` command plans (by name), and every outcome so far."""

    def __init__(self, base: Config, root: Path, workers: int, threads: int | None, on_done=None,
                 executor: dict | None = None):
        self.base, self.root, self.workers, self.threads, self.on_done = base, root, workers, threads, on_done
        self.executor = executor or {}  # execute()'s executor, ray_address, runs_per_gpu
        self.planned: set[str] = set()
        self.done: list[tuple[Job, Outcome]] = []

    def run(self, points: list[dict]) -> None:
        jobs = [Job(point_config(self.base, p), inside(self.root, point_name(p))) for p in points]
        self.planned |= {point_name(p) for p in points}
        self.done += zip(jobs, execute(jobs, self.workers, self.threads, on_done=self.on_done, **self.executor))

    def certify_until_done(self, grids: dict, axes: tuple[str, ...], max_runs: int) -> str | None:
        """Train what the certificates lack, one round at a time; a note when --max-runs stopped it early.

        Each round adds only runs never planned before, so a failed run is not retried and the loop ends."""
        while True:
            rows, wanted = collect(self.root), {}
            trained = {r["name"] for r in rows if r["finished"]}
            for key, grid in grids.items():
                cert = certify(rows, grid, axes)
                # Widen past the edge for as long as the new neighbours are already trained (a re-run finds the
                # runs of earlier rounds) and still lose to nothing; stop at the first one that needs training.
                while not cert.missing and (wider := extend_grid(grid, cert)):
                    grids[key] = grid = wider
                    cert = certify(rows, grid, axes)
                    self.planned |= {point_name(p) for p in grid.points()} & trained  # they count to --max-runs
                wanted.update({point_name(p): p for p in cert.missing if point_name(p) not in self.planned})
            if not wanted:
                return None
            room = max_runs - len(self.planned)
            if room <= 0:
                return (f"stopped at --max-runs {max_runs}: {len(wanted)} more run{'s' * (len(wanted) > 1)} "
                        "needed to certify")
            names = list(wanted)[:room]
            print(f"certify: training {len(names)} more run(s): {', '.join(names[:4])}"
                  f"{', ...' if len(names) > 4 else ''}", file=sys.stderr)
            self.run([wanted[n] for n in names])


def print_report(rows: list[dict], grids: dict, planned: set[str], axes: tuple[str, ...]) -> dict:
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
        certs[key] = cert = certify(rows, grid, axes)
        if cert.best is not None:
            seeds = f", mean of {cert.n_seeds} seeds" if cert.n_seeds > 1 else ""
            print(f"  best {_short(cert.best)}: val loss {cert.best_loss:.4f}{seeds}")
        print(f"  {cert.describe()}")
    return certs


@dataclass
class SweepResult:
    rows: list[dict]  # every run under the root, rebuilt from run directories
    planned: set[str]  # the run names this sweep planned (the grid and what certification added)
    grids: dict  # (budget, n_layer, d_model) -> the group's grid, widened where certification asked
    note: str | None  # why certification stopped early, if it did
    failure: str | None  # one line naming the failed runs, if any


def run_sweep(base: Config, grid: Grid | list[Grid], root: str | Path, *, workers: int = 1,
              threads: int | None = None, certify_axes: tuple[str, ...] | None = None,
              max_runs: int = 64, on_done=None, executor: dict | None = None) -> SweepResult:
    """Run `grid` from `base` into `root` (finished points skipped), certify the groups along `certify_axes`
    (None = no certification rounds), and rebuild root/results.csv. The library form of `squeeze sweep`.

    Several grids (say, one per model size, each with its own learning rate) run as one pool of jobs, so every
    worker stays busy while one group's certification still trains its last long run."""
    grids_in = grid if isinstance(grid, list) else [grid]
    n = sum(len(grid_jobs(base, g, root)) for g in grids_in)  # builds and validates every config first
    if n > max_runs:
        raise SqueezeError(f"the grid has {n} runs, over --max-runs {max_runs}: raise it or shrink the grid")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with dir_lock(root):  # two sweeps into one root would race on the same run directories
        sweep = _Sweep(base, root, workers, threads, on_done, executor)
        sweep.run([p for g in grids_in for p in g.points()])
        grids = {key: g.group(key) for g in grids_in for key in g.groups()}
        note = sweep.certify_until_done(grids, certify_axes, max_runs) if certify_axes else None
        rows = collect(root)
        write_csv(rows, root / "results.csv")
    failure = failure_message([j for j, _ in sweep.done], [o for _, o in sweep.done])
    return SweepResult(rows, sweep.planned, grids, note, failure)


def cmd_sweep(args: argparse.Namespace, overrides: list[str]) -> None:
    """`squeeze sweep`: run the grid (skipping finished points), certify, rebuild ROOT/results.csv, print."""
    base = apply_overrides(recipes.recipe(args.recipe), [f"data.path={args.data}", *overrides])
    from squeeze.data.store import TokenStore  # not at the top: keeps `squeeze --help` fast
    TokenStore.open(base.data.path)  # a bad --data fails here, once, not once per run
    grid = grid_from_args(args, base)
    axes = tuple(parse_list(args.certify_axes, str, "--certify-axes"))
    if bad := [a for a in axes if a not in AXES]:
        raise SqueezeError(f"--certify-axes: unknown axis {bad[0]!r} (known: {', '.join(AXES)})")
    if args.workers < 1 or args.max_runs < 1:
        raise SqueezeError(f"--workers {args.workers}, --max-runs {args.max_runs}: both must be >= 1")
    res = run_sweep(base, grid, args.out, workers=args.workers, threads=base.train.threads or None,
                    certify_axes=axes if args.certify else None, max_runs=args.max_runs,
                    executor={"executor": args.executor, "ray_address": args.ray_address,
                              "runs_per_gpu": args.runs_per_gpu})
    certs = print_report(res.rows, res.grids, res.planned, axes)
    todo = [group_name(key) for key, c in certs.items() if not c.certified]
    print(f"\n{len(certs) - len(todo)} of {len(certs)} groups certified"
          f"{' (not certified: ' + ', '.join(todo) + ')' if todo else ''}; {len(res.planned)} runs; "
          f"results in {Path(args.out) / 'results.csv'}")
    if res.note:
        print(res.note)
    if res.failure:
        raise SqueezeError(res.failure)

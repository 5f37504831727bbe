"""The local-optimality certificate (DESIGN.md section 2): pure functions of result rows and a grid.

For one (budget, size) group, `certify` says whether the best point is a local optimum: every one-step neighbour
along lr, weight decay and epochs trained and none better, and it flags a best that sits on the edge of the grid;
`extend_grid` widens those edges. squeeze/study/sweep.py trains what a certificate lacks.
Exercised by tests/test_sweep.py.
"""
import math
import statistics
from dataclasses import dataclass, field, replace

from squeeze.study.grid import AXES, GROUP, POINT_KEYS, Grid, point_name


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
        near = list(dict.fromkeys(short_name(p) for p in self.missing if _hp(p) != self.best))
        why = [f"best lacks seed{'s' * (len(own) > 1)} {', '.join(own)}"] if own else []
        if near:
            why.append(f"{_count(near, 'neighbour')} missing ({', '.join(near[:3])}{', ...' * (len(near) > 3)})")
        if self.better:
            why.append(f"{_count(self.better, 'neighbour')} better (" + ", ".join(
                f"{short_name(p)}: {p['val_loss']:.4f}" for p in self.better) + ")")
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


def short_name(point: dict) -> str:
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

"""The local-optimality certificate (docs/design.md section 2): pure functions of result rows and a grid.

For one (budget, size) group, `certify` says whether the best point is a local optimum: every one-step neighbour
along lr, weight decay and epochs trained and none better, and it flags a best that sits on the edge of the grid;
`extend_grid` widens those edges. squeeze/study/sweep.py trains what a certificate lacks.
Exercised by tests/test_sweep.py.
"""
import math
import statistics
from dataclasses import dataclass, field, replace

from scipy.stats import t

from squeeze.study.grid import AXES, Grid, GridPoint
from squeeze.study.noise import Point, pooled_noise

Scored = tuple[GridPoint, float]  # a hyperparameter point and its seed-mean val_loss


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
    """Whether `best` is a local optimum of its (budget, size) group on the grid, decided on seed means.

    Each trained one-step neighbour is labelled against the best: "better" (a lower seed mean), "flat" (worse by
    less than the seed noise can tell: under t(0.95, dof) x SD x sqrt(1/n_best + 1/n_neighbour), the SD pooled over
    the group's points with >= 2 seeds) or "worse" (beyond noise; "worse" alone when no noise estimate exists yet).
    Certified: the best has all its seeds, every neighbour is trained, none is better and the best is not on an
    edge of the grid that could be widened (status "edge" then)."""
    best: GridPoint | None  # the best hyperparameter point (no seed)
    best_loss: float | None  # its val_loss, the mean over its finished seeds
    n_seeds: int
    certified: bool
    missing: list[GridPoint] = field(default_factory=list)  # runs (with seed) still to train: neighbours', best's
    better: list[Scored] = field(default_factory=list)  # neighbours whose seed-mean val_loss beats the best's
    at_edge: list[str] = field(default_factory=list)  # axes where best sits on a grid edge that could be widened
    n_neighbours: int = 0
    flat: list[Scored] = field(default_factory=list)  # neighbours within noise of the best
    noise: tuple[float, int] | None = None  # (pooled seed SD, degrees of freedom) the labels used, if any

    @property
    def status(self) -> str:
        """certified, edge (the best sits on a grid edge) or not certified."""
        return "certified" if self.certified else "edge" if self.at_edge and self.best is not None \
            else "not certified"

    def describe(self) -> str:
        if self.best is None:
            return "not certified: no finished runs"
        own = [str(p.seed) for p in self.missing if p.hp == self.best]
        near = list(dict.fromkeys(p.short_name for p in self.missing if p.hp != self.best))
        why = [f"best lacks seed{'s' * (len(own) > 1)} {', '.join(own)}"] if own else []
        if near:
            why.append(f"{_count(near, 'neighbour')} missing ({', '.join(near[:3])}{', ...' * (len(near) > 3)})")
        if self.better:
            why.append(f"{_count(self.better, 'neighbour')} better (" + ", ".join(
                f"{p.short_name}: {loss:.4f}" for p, loss in self.better) + ")")
        if not self.n_neighbours:
            why.append("no neighbours on the grid (one value per axis)")
        if self.certified:
            line = "certified: every one-step neighbour trained and none better"
            line += "" if self.noise is None else " (on seed means)"
        elif self.at_edge and not why:
            line = "edge: not certified"
        else:
            line = "not certified: " + "; ".join(why)
        if self.flat:
            line += f"; flat (within noise): {', '.join(p.short_name for p, _ in self.flat)}"
        if self.at_edge:
            axes = " and ".join(", ".join(self.at_edge).rsplit(", ", 1))
            line += (f"; best at the edge of the {axes} grid{'s' * (len(self.at_edge) > 1)}: "
                     f"widen {'them' if len(self.at_edge) > 1 else 'it'}")
        return line


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'s' * (len(items) > 1)}"


def _seed_losses(rows: list[dict], grid: Grid, seeds: list[int]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """val_loss of every finished run of the grid's points at `seeds` by run name, and each hyperparameter point's
    seed losses by point name. NaN counts as inf: a broken run is worse than any that finished."""
    hps = {p.hp.name for p in grid.points()}
    losses, by_point = {}, {name: [] for name in hps}
    for r in rows:
        if r.get("val_loss") is None or r["seed"] not in seeds:
            continue
        point = GridPoint.from_row(r)
        if point.hp.name in hps:
            loss = math.inf if math.isnan(float(r["val_loss"])) else float(r["val_loss"])
            losses[point.name] = loss
            by_point[point.hp.name].append(loss)
    return losses, by_point


def _within_noise(diff: float, n_best: int, n_other: int, noise: tuple[float, int]) -> bool:
    sd, dof = noise
    return diff <= float(t.ppf(0.95, dof)) * sd * math.sqrt(1 / n_best + 1 / n_other)


def certify(rows: list[dict], grid: Grid, axes: tuple[str, ...] = AXES, candidate: GridPoint | None = None,
            best_seeds: int = 1) -> Certificate:
    """Certify the best finished point of a one-group grid (lowest seed-mean val_loss), or `candidate`, a point of
    the grid (say, the hyperparameters a recipe reports). The best needs best_seeds seeds counted from the
    grid's first (0..best_seeds-1 for a grid of seed 0; a study with --seed-offset N starts its grids at N), and
    so does every neighbour within noise of it (adaptive seeds: spent only where they decide something).
    Rows outside the grid are ignored; a diverged run reported with val_loss = inf counts as trained and worse."""
    if len(grid.budgets) != 1 or len(grid.sizes) != 1:
        raise ValueError("certify one (budget, size) group at a time: pass grid.group(key)")
    if unknown := set(axes) - set(AXES):
        raise ValueError(f"unknown axes {sorted(unknown)}: choose from {AXES}")
    full = sorted(set(grid.seeds) | {min(grid.seeds) + i for i in range(best_seeds)})
    losses, by_point = _seed_losses(rows, grid, full)
    loss = {name: statistics.fmean(v) for name, v in by_point.items() if v}
    hps = {p.hp.name: p.hp for p in grid.points()}
    if candidate is not None:
        best = candidate.hp
        if best.name not in hps:
            raise ValueError(f"candidate {best.name} is not a point of the grid")
    elif not loss:
        return Certificate(None, None, 0, False)
    else:
        best = hps[min(loss, key=lambda n: (loss[n], list(hps).index(n)))]  # lowest mean; grid order on a tie
    best_loss, n_seeds = loss.get(best.name), len(by_point[best.name])
    noise = pooled_noise([Point(0, tuple(v)) for v in by_point.values() if len(v) > 1 and all(map(math.isfinite, v))])
    noise = noise if noise[1] > 0 else None
    neighbours = []
    for axis in axes:
        values = grid.values(axis)
        i = values.index(getattr(best, axis))
        neighbours += [replace(best, **{axis: values[j]}) for j in (i - 1, i + 1) if 0 <= j < len(values)]
    better, flat = [], []
    for hp in neighbours:
        m = loss.get(hp.name)
        if m is None or best_loss is None:
            continue
        if m < best_loss:
            better.append((hp, m))
        elif noise and math.isfinite(m) and _within_noise(m - best_loss, n_seeds, len(by_point[hp.name]), noise):
            flat.append((hp, m))
    flat_names = {hp.name for hp, _ in flat}
    missing = [best.seeded(s) for s in full if best.seeded(s).name not in losses]
    missing += [hp.seeded(s) for hp in neighbours for s in (full if hp.name in flat_names else grid.seeds)
                if hp.seeded(s).name not in losses]
    at_edge = [axis for axis in axes if beyond(axis, grid.values(axis), getattr(best, axis))]
    certified = best_loss is not None and bool(neighbours) and not missing and not better and not at_edge
    return Certificate(best, best_loss, n_seeds, certified, missing, better, at_edge, len(neighbours), flat, noise)


def extend_grid(grid: Grid, certificate: Certificate) -> Grid | None:
    """The grid widened by one step beyond every edge the best sits on, or None when there is nothing to add."""
    if certificate.best is None:
        return None
    changes = {axis: sorted([*getattr(grid, axis), *new]) for axis in certificate.at_edge
               if (new := beyond(axis, grid.values(axis), getattr(certificate.best, axis)))}
    return replace(grid, **changes) if changes else None

"""`squeeze fit PATH [PATH ...]`: the scaling-law fits and the data-efficiency table of docs/design.md section 2,
rebuilt from run directories alone. Owns picking the best run at each point of a curve (mean over seeds first, then the
best over every other knob), the data- and parameter-scaling fits with their intervals, the joint law, the
multiplier of every recipe against the standard recipe. Computation only: squeeze/study/fit_output.py writes
fits.json and the plots, squeeze/cli/fit.py prints the text report.

The pure functions take the rows of squeeze.runs.results.collect and touch no file; `load_rows` reads them.
Run it with `squeeze fit runs/ --out report/`; exercised by tests/test_fits.py.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from statistics import fmean
from typing import Callable

from squeeze.errors import SqueezeError
from squeeze.recipes import Recipe
from squeeze.runs.results import collect
from squeeze.scaling.efficiency import DataEfficiency, data_efficiency
from squeeze.scaling.fit import FitWithInterval, fit_with_uncertainty
from squeeze.scaling.joint import (
    ChinchillaWithInterval,
    chinchilla_with_uncertainty,
    fit_chinchilla,
    fit_data_constrained,
)

# Runs from run directories carry `config_key` (squeeze.runs.results): equal keys are seeds of one configuration, and
# only those are averaged. Hand-made rows without it (tests) group by these knobs instead.
CONFIG_KNOBS = ("recipe", "budget", "params", "n_layer", "d_model", "lr", "weight_decay", "epochs", "optimizer")
LEVEL = 0.9  # every interval printed is a 90% percentile interval
N_BOOT = 200  # resamples behind each interval (~10-20 ms each)


def is_finished(row: dict) -> bool:
    loss = row.get("val_loss")
    return bool(row.get("finished")) and loss is not None and math.isfinite(loss)


def budget_of(row: dict) -> float:
    """A run's unique-data budget: data.budget_tokens, or one epoch's tokens when it is 0 (= the whole store)."""
    return float(row.get("budget_tokens") or row["unique_tokens"])


@dataclass(frozen=True)
class Best:
    """One configuration (all knobs but the seed): its mean loss over seeds, each seed's loss, and one of its rows."""

    loss: float
    seed_losses: tuple[float, ...]
    run: dict


def configurations(rows: list[dict], recipe: str) -> list[Best]:
    """The finished runs of `recipe` grouped by configuration (the whole config but the seeds: `config_key`);
    unfinished rows are ignored. Each group's row is its lowest seed's."""
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r.get("seed", 0), r.get("data_seed", 0))):
        if is_finished(r) and r.get("recipe") == recipe:
            groups.setdefault(seed_group(r), []).append(r)
    return [Best(fmean(r["val_loss"] for r in rs), tuple(r["val_loss"] for r in rs), rs[0]) for rs in groups.values()]


def seed_group(row: dict) -> tuple:
    """The key under which a row's seeds are pooled: its config_key, else (hand-made rows) the knobs."""
    if row.get("config_key"):
        return (row["config_key"],)
    return tuple(budget_of(row) if k == "budget" else row.get(k) for k in CONFIG_KNOBS)


def best_runs(rows: list[dict], recipe: str, by: Callable[[dict], object]) -> dict:
    """For each value of by(row), ascending: the configuration of `recipe` with the lowest seed-mean loss."""
    best: dict = {}
    for b in configurations(rows, recipe):
        k = by(b.run)
        if k not in best or b.loss < best[k].loss:
            best[k] = b
    return dict(sorted(best.items()))


@dataclass(frozen=True)
class Curve:
    """A one-variable scaling curve; unpacks as (x, best_losses, fit). x ascending (budgets or parameter counts),
    the best seed-mean loss at each x, the fit of L(x) = A/x^B + C with its intervals; `best` holds the chosen
    configuration at each x."""

    x: list[float]
    best_losses: list[float]
    fit: FitWithInterval
    best: dict[float, Best]

    def __iter__(self):
        return iter((self.x, self.best_losses, self.fit))


def _fit_curve(best: dict[float, Best], n_boot: int, seed: int) -> Curve:
    """Fit every seed of each best configuration (x repeats), so the bootstrap resamples seeds where there are
    several; with one seed per x it resamples points. Equal seed counts give the same fit as the means."""
    x = [k for k, b in best.items() for _ in b.seed_losses]
    y = [loss for b in best.values() for loss in b.seed_losses]
    fit = fit_with_uncertainty(x, y, n_boot=n_boot, seed=seed, level=LEVEL)
    return Curve(list(best), [b.loss for b in best.values()], fit, best)


def data_scaling(rows: list[dict], recipe: str = Recipe.STANDARD, *, n_boot: int = N_BOOT, seed: int = 0) -> Curve:
    """L(D) of `recipe`: at each budget the best seed-mean loss over model size, lr, weight decay and epochs."""
    best = best_runs(rows, recipe, by=budget_of)
    if len(best) < 3:
        found = ", ".join(f"{b:g}" for b in best) or "none"
        raise SqueezeError(f"data scaling of recipe {recipe!r} needs finished runs at >= 3 budgets; found "
                           f"{len(best)} ({found})")
    return _fit_curve(best, n_boot, seed)


def param_scaling(rows: list[dict], recipe: str, budget: float, *, n_boot: int = N_BOOT, seed: int = 0) -> Curve:
    """L(N) of `recipe` at one budget: for each parameter count the best seed-mean loss over the other knobs."""
    at_budget = [r for r in rows if is_finished(r) and budget_of(r) == float(budget)]
    best = best_runs(at_budget, recipe, by=lambda r: float(r["params"]))
    if len(best) < 3:
        raise SqueezeError(f"parameter scaling of recipe {recipe!r} at budget {float(budget):g} needs >= 3 model "
                           f"sizes; found {len(best)}")
    return _fit_curve(best, n_boot, seed)


@dataclass(frozen=True)
class JointFit:
    """The Chinchilla law over N = params and D = tokens seen, one point per (N, D): the best over lr and wd."""

    result: ChinchillaWithInterval
    recipe: str
    points: list[tuple[float, float, float]]  # (N, D, seed-mean loss)
    n_sizes: int
    n_budgets: int
    reason: str  # why E (the asymptote) is not determined; "" when it is


def joint_fit(rows: list[dict], recipe: str = Recipe.STANDARD, *, n_boot: int = N_BOOT, seed: int = 0) -> JointFit:
    """fit_chinchilla with bootstrap intervals, when `recipe` has >= 2 sizes and >= 2 budgets with >= 5 points.
    Repeated epochs count as full tokens here (the data-constrained law is what discounts them). One point per
    (N, tokens seen, unique budget): two budgets that saw equal tokens (D0 x 8 epochs, 2 D0 x 4) stay two points,
    not the better of them."""
    by_nd = best_runs(rows, recipe, by=lambda r: (float(r["params"]), float(r["tokens_seen"]), budget_of(r)))
    best = {(n, d, u): b for (n, d, u), b in by_nd.items()}
    sizes = {n for n, _, _ in best}
    budgets = {budget_of(b.run) for b in best.values()}
    if len(sizes) < 2 or len(budgets) < 2 or len(best) < 5:
        raise SqueezeError(f"the joint law of recipe {recipe!r} needs >= 2 model sizes and >= 2 budgets with >= 5 "
                           f"points; found {len(sizes)} sizes, {len(budgets)} budgets, {len(best)} points")
    points = [(n, d, b.loss) for (n, d, _), b in best.items()]
    result = chinchilla_with_uncertainty(*zip(*points), n_boot=n_boot, seed=seed, level=LEVEL)
    reasons = []
    if len(sizes) == 2:
        reasons.append("2 model sizes: A, alpha and E are not separately determined")
    if len({d for _, d, _ in best}) == 2:
        reasons.append("2 values of tokens seen: B, beta and E are not separately determined")
    if len(best) == 5:
        reasons.append("5 points for 5 constants: exact fit, no check")
    return JointFit(result, recipe, points, len(sizes), len(budgets), "; ".join(reasons))


@dataclass(frozen=True)
class ConstrainedFit:
    """The data-constrained law (Muennighoff et al. 2023): the Chinchilla constants from the single-epoch runs,
    then the decay constants R_D* (value of repeated data) and R_N* (of excess parameters) from every run."""

    base: object  # squeeze.scaling.joint.ChinchillaFit on the single-epoch points
    fit: object  # squeeze.scaling.joint.DataConstrainedFit
    recipe: str
    n_single: int
    n_points: int


def constrained_fit(rows: list[dict], recipe: str = Recipe.STANDARD) -> ConstrainedFit:
    """The two-stage fit of the data-constrained law over (N = params, D = tokens seen, U = unique tokens). Needs
    >= 5 single-epoch points over >= 2 sizes and >= 2 budgets (the base law) and some runs with repeats."""
    mine = [r for r in rows if is_finished(r) and r.get("recipe") == recipe]
    single = best_runs([r for r in mine if r["epochs"] == 1], recipe,
                       by=lambda r: (float(r["params"]), float(r["tokens_seen"])))
    sizes, budgets = {n for n, _ in single}, {d for _, d in single}
    if len(single) < 5 or len(sizes) < 2 or len(budgets) < 2:
        raise SqueezeError(f"the data-constrained law of recipe {recipe!r} needs >= 5 single-epoch runs over >= 2 "
                           f"sizes and >= 2 budgets for its base law; found {len(single)} over {len(sizes)} sizes "
                           f"and {len(budgets)} budgets")
    if not any(r["epochs"] > 1 for r in mine):
        raise SqueezeError(f"the data-constrained law of recipe {recipe!r} needs runs that repeat data (epochs > 1)")
    base = fit_chinchilla(*zip(*[(n, d, b.loss) for (n, d), b in single.items()]))
    every = best_runs(mine, recipe, by=lambda r: (float(r["params"]), float(r["tokens_seen"]), budget_of(r)))
    points = [(n, d, min(u, d), b.loss) for (n, d, u), b in every.items()]
    return ConstrainedFit(base, fit_data_constrained(*zip(*points), base=base), recipe, len(single), len(points))


@dataclass(frozen=True)
class EfficiencyRow:
    """One recipe's best loss at the base budget as a multiple of the standard recipe's data."""

    recipe: str
    budget: float
    best: Best | None  # None: no finished run of this recipe at the budget
    efficiency: DataEfficiency | None  # None with `note` when no multiplier can be computed
    interval: tuple[float, float] | None  # over the standard law's resamples that give a finite multiplier
    n_valid: int  # those resamples; the rest put the loss beyond their asymptote
    n_boot: int
    note: str  # what is missing or unreliable, "" when nothing


def _multiplier(fit, loss: float, budget: float) -> float | None:
    try:
        return data_efficiency(fit, loss, budget).multiplier
    except ValueError:  # a flat resample (A or B = 0) has no D_eff
        return None


def _efficiency_row(rows: list[dict], recipe: str, budget: float, standard: Curve) -> EfficiencyRow:
    n_boot = len(standard.fit.boot_fits)
    best = best_runs([r for r in rows if is_finished(r) and budget_of(r) == budget], recipe, by=budget_of).get(budget)
    if best is None:
        return EfficiencyRow(recipe, budget, None, None, None, 0, n_boot, f"no finished run at budget {budget:g}")
    try:
        eff = data_efficiency(standard.fit.fit, best.loss, budget, measured_budgets=standard.x,
                              measured_losses=standard.best_losses)
    except ValueError as e:
        return EfficiencyRow(recipe, budget, best, None, None, 0, n_boot, str(e))
    fn = lambda f: _multiplier(f, best.loss, budget)  # noqa: E731
    n_valid = standard.fit.n_valid(fn)
    interval = standard.fit.interval(fn) if n_valid else None
    point = standard.fit.fit
    notes = ["unreliable: the standard fit is degenerate"] if point.degenerate else []
    if eff.beyond_asymptote and n_valid:
        notes.append(f"{n_valid} of {n_boot} resamples of the standard law do reach this loss")
    elif 0 < n_valid < n_boot:
        notes.append(f"interval over {n_valid} of {n_boot} resamples: the others never reach this loss")
    return EfficiencyRow(recipe, budget, best, eff, interval, n_valid, n_boot, "; ".join(notes))


def efficiency_table(rows: list[dict], standard_recipe: str = Recipe.STANDARD, base_budget: float | None = None, *,
                     standard: Curve | None = None, n_boot: int = N_BOOT, seed: int = 0) -> list[EfficiencyRow]:
    """Every recipe other than the standard one at base_budget (default: the smallest standard budget, D0): its
    best seed-mean loss and data_efficiency against the standard data-scaling fit (`standard`, fitted here when
    not given), with the interpolation figure from the measured standard points and a bootstrap interval."""
    standard = standard or data_scaling(rows, standard_recipe, n_boot=n_boot, seed=seed)
    budget = standard.x[0] if base_budget is None else float(base_budget)
    recipes = sorted({r["recipe"] for r in rows if is_finished(r)} - {standard_recipe})
    return [_efficiency_row(rows, name, budget, standard) for name in recipes]


def load_rows(paths: list[str]) -> tuple[list[dict], int]:
    """(finished rows, number of unfinished runs) of every run directory at or under the paths, each once."""
    rows, seen = [], set()
    for path in paths:
        found = collect(path)
        if not found:
            raise SqueezeError(f"{path}: no run directories (no config.json at or under it)")
        for r in found:
            key = os.path.realpath(r["path"])
            if key not in seen:
                seen.add(key)
                rows.append(r)
    finished = [r for r in rows if is_finished(r)]
    return finished, len(rows) - len(finished)


def _widest_budget(rows: list[dict], recipe: str) -> tuple[float, int]:
    """The budget where `recipe` has the most model sizes (ties: the smallest budget), and that count."""
    sizes = best_runs(rows, recipe, by=lambda r: (budget_of(r), r["params"]))
    counts = {b: sum(1 for bb, _ in sizes if bb == b) for b, _ in sizes}
    return min(counts.items(), key=lambda t: (-t[1], t[0]))


@dataclass
class FitReport:
    recipe: str  # the standard recipe
    standard: Curve | None
    params: dict[str, tuple[float, Curve]]  # recipe -> (budget, L(N) at that budget), for >= 3 sizes
    joint: JointFit | None
    constrained: ConstrainedFit | None
    table: list[EfficiencyRow]
    skipped: dict[str, str]  # section -> why it was not fitted


def fit_all(rows: list[dict], recipe: str = Recipe.STANDARD, base_budget: float | None = None, *,
            n_boot: int = N_BOOT, joint: bool = True) -> FitReport:
    """Every fit the finished rows allow; a fit they do not allow is skipped with its reason. The joint law is the
    slow one (a grid of L-BFGS starts per resample): `joint=False` leaves it out."""
    rows, skipped = [r for r in rows if is_finished(r)], {}

    def attempt(section, fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except SqueezeError as e:
            skipped[section] = str(e)
            return None

    standard = attempt("data scaling", data_scaling, rows, recipe, n_boot=n_boot)
    widest = {name: _widest_budget(rows, name) for name in sorted({r["recipe"] for r in rows})}
    params = {name: (b, param_scaling(rows, name, b, n_boot=n_boot)) for name, (b, n) in widest.items() if n >= 3}
    if not params:
        most = max((n for _, n in widest.values()), default=0)
        skipped["parameter scaling"] = f"needs >= 3 model sizes at one budget of a recipe; found at most {most}"
    joint = attempt("joint law", joint_fit, rows, recipe, n_boot=n_boot) if joint else None
    constrained = attempt("data-constrained law", constrained_fit, rows, recipe) if joint else None
    table = efficiency_table(rows, recipe, base_budget, standard=standard) if standard else []
    if standard is None:
        skipped["data efficiency"] = f"needs the data-scaling fit of recipe {recipe!r}"
    return FitReport(recipe, standard, params, joint, constrained, table, skipped)

"""The report's limit rows, in the field's own terms (Kim et al. 2025): the regularized recipe as parameters go to
infinity, each ensemble size as members go to infinity, and the ensembles as members and then parameters go to
infinity. squeeze/study/asymptotes.py fits and checks them; here each is placed on the study's standard recipe:
its multiplier on the fitted standard law (an extrapolation, and labelled so) and, where the limit lies inside
the measured standard points, the interpolated multiplier too. A limit whose fit cannot be checked says why.
Exercised by tests/test_run.py (the smoke study's summary.json) and tests/test_limits.py.
"""
from __future__ import annotations

import numpy as np

from squeeze.recipes import Recipe
from squeeze.scaling.fit import percentile_interval
from squeeze.study import fits as fits_mod
from squeeze.study.asymptotes import Limit, parameter_limit, two_stage_limit
from squeeze.study.fits import budget_of
from squeeze.study.noise import LEVEL, Point, read_multiplier

EXTRAPOLATED = "extrapolated: the standard law beyond its measured budgets"
NOT_APPLICABLE = "not applicable: one base"  # a study from a base (squeeze run --init) has one size


def regularized_sizes(rows: list[dict], d0: float) -> dict[float, tuple[float, ...]]:
    """The regularized recipe's best configuration at D0 for each parameter count, with its seed losses."""
    at_d0 = [r for r in rows if budget_of(r) == d0]
    best = fits_mod.best_runs(at_d0, Recipe.REGULARIZED, by=lambda r: float(r["params"]))
    return {n: b.seed_losses for n, b in best.items()}


def study_limits(rows: list[dict], ensembles: list[dict], noise: tuple[float, int], d0: float,
                 one_base: bool = False) -> list[Limit]:
    """Every limit the study's runs allow, each resolved or with its reason: N -> inf for the regularized recipe at
    D0, K -> inf per ensemble size, and K -> inf then N -> inf over the ensemble sizes. A study from a base
    (`one_base`) has one size: its limits over parameters read NOT_APPLICABLE."""
    out = [parameter_limit("regularized recipe, parameters -> infinity", regularized_sizes(rows, d0), noise)]
    curves = {float(e["member_params"]): e["k_curve"] for e in ensembles}
    per_size, both = two_stage_limit("ensembles, members -> infinity, then parameters -> infinity", curves, noise)
    names = {float(e["member_params"]): f"ensemble of {e['size']}, members -> infinity" for e in ensembles}
    out += [_renamed(lim, names[n]) for n, lim in per_size.items()]
    out.append(both)
    if one_base:
        out[0] = Limit(out[0].what, None, None, NOT_APPLICABLE, out[0].n_points)
        out[-1] = Limit(both.what, None, None, NOT_APPLICABLE, both.n_points)
    return out


def _renamed(lim: Limit, what: str) -> Limit:
    return Limit(what, lim.value, lim.interval, lim.reason, lim.n_points, lim.fit, lim.draws)


def placed(lim: Limit, law: fits_mod.Curve, standard: list[Point], noise: tuple[float, int], d0: float) -> dict:
    """A limit as a row of summary.json: its loss and interval, the law's multiplier with the interval over the
    limit's draws paired with the law's resamples (extrapolated), and the interpolated multiplier when the limit
    lies within the measured standard points."""
    row = {"what": lim.what, "loss": lim.value, "interval": lim.interval, "reason": lim.reason,
           "points": lim.n_points, "fit": lim.fit, "text": lim.text(), "law_multiplier": None,
           "law_interval": None, "law_note": EXTRAPOLATED, "multiplier_text": lim.reason}
    if not lim.resolved:
        return row
    fit = law.fit
    value = fits_mod._multiplier(fit.fit, lim.value, d0)
    boots = [fits_mod._multiplier(b, c, d0) for b, c in zip(fit.boot_fits, np.resize(lim.draws, len(fit.boot_fits)))]
    finite = [m for m in boots if m is not None and np.isfinite(m)]
    row.update(law_multiplier=value, law_interval=percentile_interval(finite, LEVEL) if finite else None,
               law_note=EXTRAPOLATED if value is not None else "beyond the standard law's asymptote: no multiplier",
               law_valid=f"{len(finite)} of {len(boots)}")
    sd = float(np.std(lim.draws, ddof=1))
    m = read_multiplier((lim.value,), d0, standard, noise, own_noise=(sd, 10_000))  # the limit's own spread
    row["multiplier_text"] = m.text()
    return row

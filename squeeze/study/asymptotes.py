"""The limits the field reports, in its own terms: the loss as parameters go to infinity (Kim et al. 2025's
regularized-recipe asymptote), as ensemble members go to infinity at one size, and as members and then parameters
go to infinity (their 5.17x). Pure numpy: no I/O.

A limit is the C of L(x) = A/x^B + C fitted to seed means (x: parameters, or members K). It is printed as a number
only when its fit can be checked (`checked_fit`):
- at least MIN_POINTS distinct x, so that 3 parameters leave a residual to test;
- no parameter at its bound (A, C >= 0; B in (0, 10)): squeeze.scaling.fit flags those as degenerate;
- no lack of fit: the residuals of the seed means against the curve are within seed noise, an F test of
  sum n_i r_i^2 / (m - 3) over the pooled seed variance at LACK_OF_FIT_P.
Otherwise the limit reads "not resolved: <reason>". Its 90% interval comes from the study's hierarchical
bootstrap (squeeze/study/noise.py): every draw redraws the seed SD from its chi-square distribution and each
point's mean, and refits; for the two-stage limit each size's K -> inf fit is redone inside the draw. An ensemble
is one measurement, so its whole K curve moves by one seed's noise in a draw (its members are one draw of seeds).
Exercised by tests/test_asymptotes.py (hand-made points, and the coverage of C on simulated studies).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import f as f_dist

from squeeze.scaling.fit import PowerLawFit, fit_power_law, percentile_interval, refit_power_law
from squeeze.study.noise import LEVEL

MIN_POINTS = 4  # distinct sizes (or member counts): 3 parameters and one degree of freedom for the residual
LACK_OF_FIT_P = 0.05  # a fit whose residuals are this unlikely under seed noise alone is not a power law here
N_DRAWS = 400


@dataclass(frozen=True)
class Limit:
    """One limit: C with its interval over seed noise, or the reason it is not resolved."""
    what: str
    value: float | None  # None when not resolved
    interval: tuple[float, float] | None
    reason: str  # "" when resolved, else "not resolved: ..."
    n_points: int
    fit: dict = field(default_factory=dict)  # A, B, C and the lack-of-fit p-value of the point fit
    draws: tuple[float, ...] = ()  # C of every bootstrap draw (for the multiplier's interval)

    @property
    def resolved(self) -> bool:
        return self.value is not None

    def text(self) -> str:
        if not self.resolved:
            return self.reason
        return f"{self.value:.4f} [{self.interval[0]:.4f}, {self.interval[1]:.4f}]"


def lack_of_fit_p(residuals, counts, sd: float, dof: int) -> float:
    """P(F >= observed) for the residuals of seed means against a 3-parameter curve: F = [sum n_i r_i^2 / (m - 3)]
    / sd^2 with (m - 3, dof) degrees of freedom. 1.0 when no degree of freedom is left (m <= 3)."""
    r, n = np.asarray(residuals, dtype=float), np.asarray(counts, dtype=float)
    df1 = len(r) - 3
    if df1 < 1 or not dof > 0:
        return 1.0
    stat = float(np.sum(n * r * r)) / df1 / (sd * sd)
    return float(f_dist.sf(stat, df1, dof))


def checked_fit(x, means, counts, noise: tuple[float, int], unit: str = "sizes") -> tuple[PowerLawFit | None, str]:
    """The fit of the seed means (weighted by their seed counts), or None and why it cannot be read."""
    x, means, counts = (np.asarray(v, dtype=float) for v in (x, means, counts))
    if len(np.unique(x)) < MIN_POINTS:
        return None, f"not resolved: {len(np.unique(x))} {unit} (needs >= {MIN_POINTS} to check the fit's form)"
    if not noise[1] > 0:
        return None, "not resolved: no seed noise estimate to check the fit against"
    fit = fit_power_law(x, means, weights=counts)
    if fit.degenerate:
        return None, f"not resolved: {fit.reason}"
    p = lack_of_fit_p(fit.residuals, counts, *noise)
    if p < LACK_OF_FIT_P:
        return None, (f"not resolved: lack of fit (the residuals are {_rms_ratio(fit, counts, noise[0]):.1f}x the "
                      f"seed noise, p = {p:.3g})")
    return fit, ""


def _rms_ratio(fit: PowerLawFit, counts, sd: float) -> float:
    return float(np.sqrt(np.mean(np.asarray(counts) * fit.residuals ** 2)) / sd)


def _summary(fit: PowerLawFit, counts, noise) -> dict:
    return {"A": fit.A, "B": fit.B, "C": fit.C, "lack_of_fit_p": lack_of_fit_p(fit.residuals, counts, *noise)}


def _sigmas(noise: tuple[float, int], n_draws: int, rng: np.random.Generator) -> np.ndarray:
    sd, dof = noise
    return sd * np.sqrt(dof / rng.chisquare(dof, size=n_draws))


def _refit_c(x, y, counts, start: PowerLawFit) -> float:
    return refit_power_law(x, y, start, weights=counts).C


def _limit(what: str, fit: PowerLawFit, counts, noise, draws: list[float], level: float) -> Limit:
    return Limit(what, fit.C, percentile_interval(draws, level), "", len(counts), _summary(fit, counts, noise),
                 tuple(float(d) for d in draws))


def parameter_limit(what: str, sizes: dict[float, tuple[float, ...]], noise: tuple[float, int], *,
                    n_draws: int = N_DRAWS, seed: int = 0, level: float = LEVEL) -> Limit:
    """L(N) -> C as parameters N go to infinity, from each size's seed losses."""
    x = np.array(sorted(sizes), dtype=float)
    means = np.array([np.mean(sizes[n]) for n in sorted(sizes)])
    counts = np.array([len(sizes[n]) for n in sorted(sizes)], dtype=float)
    fit, reason = checked_fit(x, means, counts, noise)
    if fit is None:
        return Limit(what, None, None, reason, len(x))
    rng = np.random.default_rng(seed)
    draws = [_refit_c(x, rng.normal(means, sigma / np.sqrt(counts)), counts, fit)
             for sigma in _sigmas(noise, n_draws, rng)]
    return _limit(what, fit, counts, noise, draws, level)


def member_limit(what: str, k_curve, noise: tuple[float, int], *, n_draws: int = N_DRAWS, seed: int = 0,
                 level: float = LEVEL, shift_draws: np.ndarray | None = None) -> Limit:
    """L(K) -> C as members K go to infinity, from one ensemble's K curve (the loss of its first k members, mean
    over orders, k = 1..K). Each point counts as one measurement; the curve's draws move it by one seed's noise
    (`shift_draws`, given by the two-stage limit so that its stages share them)."""
    y = np.asarray(k_curve, dtype=float)
    k = np.arange(1, len(y) + 1, dtype=float)
    ones = np.ones_like(y)
    fit, reason = checked_fit(k, y, ones, noise, unit="member counts")
    if fit is None:
        return Limit(what, None, None, reason, len(k))
    if shift_draws is None:
        rng = np.random.default_rng(seed)
        shift_draws = rng.normal(0.0, _sigmas(noise, n_draws, rng))
    return _limit(what, fit, ones, noise, [fit.C + s for s in shift_draws], level)


def two_stage_limit(what: str, curves: dict[float, list[float]], noise: tuple[float, int], *,
                    n_draws: int = N_DRAWS, seed: int = 0, level: float = LEVEL) -> tuple[dict[float, Limit], Limit]:
    """Each size's K -> inf limit (member parameters -> its Limit), then those limits over member parameters
    -> inf: Kim et al.'s ensemble asymptote. The second stage is read only when every size's first stage is."""
    rng = np.random.default_rng(seed)
    sigmas = _sigmas(noise, n_draws, rng)
    shifts = {n: rng.normal(0.0, sigmas) for n in sorted(curves)}  # each ensemble's own draw of seeds
    per_size = {n: member_limit(f"{what} at {n:,.0f} parameters per member", curves[n], noise,
                                shift_draws=shifts[n], level=level) for n in sorted(curves)}
    missing = [f"{n:,.0f}" for n, lim in per_size.items() if not lim.resolved]
    if missing:
        return per_size, Limit(what, None, None, f"not resolved: the K -> inf limit is not resolved at "
                                                 f"{', '.join(missing)} parameters per member", len(per_size))
    x = np.array(sorted(per_size), dtype=float)
    c_n = np.array([per_size[n].value for n in sorted(per_size)])
    ones = np.ones_like(c_n)
    fit, reason = checked_fit(x, c_n, ones, noise)
    if fit is None:
        return per_size, Limit(what, None, None, reason, len(x))
    draws = [_refit_c(x, np.array([per_size[n].draws[i] for n in sorted(per_size)]), ones, fit)
             for i in range(n_draws)]
    return per_size, _limit(what, fit, ones, noise, draws, level)

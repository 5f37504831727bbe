"""Seed noise in every number (docs/design.md section 3): the data-efficiency multiplier read against the measured
standard points, its interval over seed noise, and the words a report uses for it. Pure numpy: no I/O.

A configuration trained with several seeds (init and data order) is a `Point`: its budget and each seed's loss.
Seed noise is pooled over every point with >= 2 seeds (`pooled_noise`: one SD, with sum(n - 1) degrees of freedom),
since configurations of one study share a noise level and 3 seeds alone say little about their own spread.

Intervals come from a hierarchical parametric bootstrap (`draw_means`): each draw first redraws the noise SD from
its sampling distribution (sigma^2 = s^2 dof / chi2(dof)), then every point's seed mean as N(mean, sigma^2 / n).
That is the t-like width a mean of few seeds needs (a plain resample of 3 seeds carries 2/3 of their variance and
ignores that the SD itself is estimated); tests/test_noise.py measures its coverage on simulated studies.

The primary multiplier (`read_multiplier`) interpolates log D linearly between the measured standard points (their
best-so-far envelope, budgets ascending), so a standard point reads exactly 1.00x at its own budget. A loss outside
the measured range has no number, only a bound: "< 0.5x" (worse than the smallest standard budget) or "> 8x".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LEVEL = 0.9  # every interval is a central 90% interval
N_DRAWS = 4000  # ~1 ms per row: interpolation over draws is vectorized


@dataclass(frozen=True)
class Point:
    """One configuration over its seeds: the unique-token budget it is read at and each seed's loss."""
    budget: float
    losses: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.losses))

    @property
    def n(self) -> int:
        return len(self.losses)

    @property
    def sd(self) -> float | None:
        """Sample SD of its seeds (None with one seed)."""
        return float(np.std(self.losses, ddof=1)) if self.n > 1 else None


def pooled_noise(points: list[Point]) -> tuple[float, int]:
    """(pooled seed SD, degrees of freedom) over every point with >= 2 seeds; (nan, 0) when there is none."""
    ss = sum(float(np.sum((np.asarray(p.losses) - p.mean) ** 2)) for p in points if p.n > 1)
    dof = sum(p.n - 1 for p in points if p.n > 1)
    return (math.sqrt(ss / dof), dof) if dof else (math.nan, 0)


def draw_means(means, counts, sd: float, dof: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """[n_draws, P] redrawn point means: sigma from its chi2 sampling distribution, then N(mean, sigma^2 / n)."""
    means, counts = np.asarray(means, dtype=float), np.asarray(counts, dtype=float)
    if not (dof > 0 and math.isfinite(sd)):
        raise ValueError("no seed noise estimate: every point has one seed (train >= 2 seeds somewhere)")
    sigma_R = sd * np.sqrt(dof / rng.chisquare(dof, size=n_draws))
    return means + sigma_R[:, None] * rng.standard_normal((n_draws, len(means))) / np.sqrt(counts)


def envelope(budgets, losses) -> tuple[np.ndarray, np.ndarray]:
    """(budgets ascending, the best loss so far over them): what every multiplier is read on, linear in log D
    between the budgets. `losses` may be [..., J] (one row per draw)."""
    order = np.argsort(np.asarray(budgets, dtype=float), kind="stable")
    return (np.asarray(budgets, dtype=float)[order],
            np.minimum.accumulate(np.asarray(losses, dtype=float)[..., order], axis=-1))


def interp_budgets(loss_R, budgets_J, losses_RJ) -> np.ndarray:
    """Vectorized over draws r: the budget at which the standard envelope (best loss so far over ascending budgets)
    reaches loss_R[r], linear in log budget; 0 where the loss is worse than the smallest budget's, inf where it is
    better than the largest's."""
    b, env = envelope(budgets_J, np.atleast_2d(np.asarray(losses_RJ, dtype=float)))
    log_b = np.log(b)
    loss = np.broadcast_to(np.asarray(loss_R, dtype=float), env.shape[:1])
    reach = env <= loss[:, None]
    i = np.argmax(reach, axis=1)  # first budget whose envelope reaches the loss
    lo_i = np.maximum(i - 1, 0)
    r = np.arange(len(loss))
    e0, e1 = env[r, lo_i], env[r, i]
    t = np.where(e0 > e1, (e0 - loss) / np.where(e0 > e1, e0 - e1, 1.0), 1.0)
    out = np.exp(log_b[lo_i] + np.clip(t, 0.0, 1.0) * (log_b[i] - log_b[lo_i]))
    out = np.where(i == 0, np.exp(log_b[0]), out)
    out = np.where(loss > env[:, 0], 0.0, out)  # worse than the smallest measured budget
    return np.where(~reach.any(axis=1), np.inf, out)  # better than the largest


def bracket(loss: float, budgets, losses) -> list[float]:
    """The measured standard budgets a method's multiplier at `loss` is interpolated between (interp_budgets'
    rule, on the envelope): the two around it inside the measured range, the end one outside it."""
    b, env = envelope(budgets, losses)
    reach = env <= loss
    if not reach.any():
        return [float(b[-1])]
    i = int(np.argmax(reach))
    return [float(b[0])] if i == 0 else [float(b[i - 1]), float(b[i])]


@dataclass(frozen=True)
class Multiplier:
    """A method's data-efficiency multiplier against the measured standard points, with its interval."""
    value: float | None  # None outside the measured range (then `side` says which way)
    side: str  # "" inside the range, "below" (worse than the smallest budget), "above" (beyond the largest)
    lo: float  # interval ends (value of the multiplier); lo_open: the lower end lies below `floor`
    hi: float  # hi_open: the upper end lies above `ceiling`
    lo_open: bool
    hi_open: bool
    floor: float  # the smallest and largest measured standard budgets, as multiples of the method's budget
    ceiling: float
    level: float = LEVEL

    @property
    def label(self) -> str:
        return significance(self.lo, self.hi)

    def text(self) -> str:
        """`1.23x [1.05, 1.41]`, `< 0.5x [< 0.5, 0.62]`, `> 8x [5.1, > 8]`."""
        if self.value is not None:
            head = f"{self.value:.2f}x"
        else:
            head = f"< {self.floor:.3g}x" if self.side == "below" else f"> {self.ceiling:.3g}x"
        lo = f"< {self.floor:.3g}" if self.lo_open else f"> {self.ceiling:.3g}" if math.isinf(self.lo) \
            else f"{self.lo:.2f}"  # an interval wholly beyond the largest budget: "[> 4, > 4]", not "[inf, > 4]"
        hi = f"> {self.ceiling:.3g}" if self.hi_open else f"< {self.floor:.3g}" if self.hi == 0 else f"{self.hi:.2f}"
        return f"{head} [{lo}, {hi}]"


def significance(lo: float, hi: float) -> str:
    """The words for an interval of a multiplier: does it exclude 1.0x?"""
    if lo > 1.0:
        return "significant gain"
    if hi < 1.0:
        return "significant loss"
    return "no measurable gain"


def read_multiplier(losses, budget: float, standard: list[Point], noise: tuple[float, int], *,
                    own_noise: tuple[float, int] | None = None, n_draws: int = N_DRAWS, seed: int = 0,
                    level: float = LEVEL) -> Multiplier:
    """The multiplier of a method whose seeds reached `losses` at `budget` unique tokens, against the standard
    points (one per budget), with its `level` interval over redrawn seed means (the method's and every standard
    point's). A method with one seed (an ensemble: one measurement) counts as one seed of the pooled noise.
    `own_noise`: the method's mean is redrawn with this (SD, dof) instead of the pooled one (a configuration whose
    seeds spread more than the pooled SD, like random subsets, whose subset is part of the seed)."""
    if len({p.budget for p in standard}) != len(standard) or len(standard) < 2:
        raise ValueError("the standard recipe needs one point per budget at >= 2 budgets")
    budgets = np.array([p.budget for p in standard], dtype=float)
    means = np.array([p.mean for p in standard] + [float(np.mean(losses))])
    counts = np.array([p.n for p in standard] + [len(losses)])
    point = interp_budgets(means[-1:], budgets, means[None, :-1])[0] / budget
    rng = np.random.default_rng(seed)
    draws = draw_means(means, counts, *noise, n_draws, rng)
    if own_noise is not None:
        draws[:, -1] = draw_means(means[-1:], counts[-1:], *own_noise, n_draws, rng)[:, 0]
    ratio = interp_budgets(draws[:, -1], budgets, draws[:, :-1]) / budget
    lo, hi = np.quantile(ratio, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    floor, ceiling = budgets.min() / budget, budgets.max() / budget
    side = "below" if point == 0 else "above" if math.isinf(point) else ""
    return Multiplier(None if side else float(point), side, float(lo), float(hi), bool(lo == 0),
                      bool(math.isinf(hi)), float(floor), float(ceiling), level)


def asymptote_text(c: float, lo: float, hi: float, bound: float = 0.0) -> str:
    """An asymptote C with its interval, where an end that sits at the fit's bound (C >= 0) is said to be not
    resolved rather than printed as if measured: `5.8148 [not resolved (at the bound 0), 5.8683]`."""
    at = lambda v: v <= bound + 1e-6 * max(abs(hi), 1.0)  # noqa: E731
    if at(c):
        return f"not resolved (the fit put C at its bound {bound:g})"
    low = f"not resolved (at the bound {bound:g})" if at(lo) else f"{lo:.4f}"
    return f"{c:.4f} [{low}, {hi:.4f}]"


def retention_interval(single_mean: float, n_single: int, student_losses, ensemble_loss: float,
                       noise: tuple[float, int], *, n_draws: int = N_DRAWS, seed: int = 0,
                       level: float = LEVEL) -> tuple[float, float]:
    """The `level` interval of a student's retention (L_single - L_student) / (L_single - L_ensemble) over seed
    noise: the single model is the mean of `n_single` members (seeds), the student the mean of its seeds, and the
    ensemble one measurement (one seed's noise); each redrawn as in `draw_means`, one SD draw shared by the three."""
    rng = np.random.default_rng(seed)
    means = [single_mean, float(np.mean(student_losses)), ensemble_loss]
    draws = draw_means(means, [n_single, len(student_losses), 1], *noise, n_draws, rng)
    single, student, ensemble = draws.T
    ratio = (single - student) / (single - ensemble)
    lo, hi = np.quantile(ratio, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)

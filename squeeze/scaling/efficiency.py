"""The data-efficiency multiplier of docs/design.md section 2: how much more data the standard recipe would need to
reach the loss a method reached at budget D0. Owns D_eff(L), the multiplier against a fitted standard law
L(D) = A/D^B + C, the beyond-asymptote case, and the interpolation-only figure over the measured standard points.
Pure functions: no I/O, no printing.

Exercised by: python -m pytest tests/test_efficiency.py
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_MAX_LOG = 700.0  # exp(709.8) overflows a float64: beyond this D_eff is reported as inf, not an error


def data_for_loss(fit, loss) -> float | None:
    """D_eff(L) = (A / (L - C))^(1/B): the data the fitted law needs to reach loss L, in the fit's units of D.
    (Not laws.effective_data, which is D' of the data-constrained law: the value of repeated tokens.)

    `fit` is anything with A, B, C (a squeeze.scaling.fit.PowerLawFit). None when L <= C: the law never reaches
    that loss, and no number would be honest. A fit with A = 0 or B = 0 (flat, flagged degenerate) has no D_eff.
    """
    A, B, C, loss = float(fit.A), float(fit.B), float(fit.C), float(loss)
    if not (A > 0 and B > 0):
        raise ValueError(f"the standard fit is flat (A={A:g}, B={B:g}): D_eff is undefined; refit with more budgets")
    if not math.isfinite(loss):
        raise ValueError(f"loss must be finite, got {loss}")
    if loss <= C:
        return None
    log_d = (math.log(A) - math.log(loss - C)) / B
    return math.exp(log_d) if log_d < _MAX_LOG else math.inf


@dataclass(frozen=True)
class DataEfficiency:
    """A method's loss at a budget, expressed as a multiple of the standard recipe's data."""

    multiplier: float | None  # D_eff(loss) / D_eff(reference_loss); None when beyond_asymptote
    beyond_asymptote: bool  # loss <= the standard fit's C: no finite amount of data gets the standard recipe there
    loss: float
    budget: float  # the method's data budget, in the fit's units
    reference_loss: float  # L_std(budget), the standard law's prediction at this budget
    asymptote: float  # the standard fit's C
    interp_multiplier: float | None  # from the measured standard points alone; None when outside their range
    interp_note: str  # the interpolation figure in words, e.g. "1.98x" or "> 8x (beyond the largest ...)"

    def describe(self) -> str:
        head = f"loss {self.loss:.4g} at budget {self.budget:g}"
        tail = f"interpolation: {self.interp_note}"
        if self.beyond_asymptote:
            return (f"{head} beats the standard recipe's asymptote C={self.asymptote:.4g}: "
                    f"no finite data multiplier ({tail})")
        return (f"{head}: {self.multiplier:.3g}x the standard recipe's data (the standard law gives "
                f"{self.reference_loss:.4g} at this budget; {tail})")


def interpolated_budget(loss, budgets, losses):
    """Budget at which the measured standard recipe reaches `loss`, by piecewise-linear interpolation of log(budget)
    against loss over the monotone envelope (best loss so far, budgets ascending).

    Returns (budget, "") inside the measured range, else (None, "below") when loss is lower than every measured loss
    or (None, "above") when it is higher than the loss at the smallest budget.
    """
    b = np.asarray(budgets, dtype=float)
    y = np.asarray(losses, dtype=float)
    if b.ndim != 1 or b.shape != y.shape or len(b) < 2:
        raise ValueError("measured budgets and losses must be 1-D, of the same length, with >= 2 points")
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(y)) and np.all(b > 0)):
        raise ValueError("measured budgets must be positive and finite, measured losses finite")
    order = np.argsort(b, kind="stable")
    log_b, env = np.log(b[order]), np.minimum.accumulate(y[order])  # more data never hurts the best-so-far
    if loss < env[-1]:
        return None, "below"
    if loss > env[0]:
        return None, "above"
    i = int(np.argmax(env <= loss))  # the first budget whose envelope reaches the loss
    if i == 0:
        return float(np.exp(log_b[0])), ""
    t = (env[i - 1] - loss) / (env[i - 1] - env[i])  # env[i-1] > loss >= env[i], so the denominator is > 0
    return float(np.exp(log_b[i - 1] + t * (log_b[i] - log_b[i - 1]))), ""


def _interpolation(loss, budget, measured_budgets, measured_losses):
    if measured_budgets is None or measured_losses is None:
        return None, "no measured standard points given"
    needed, side = interpolated_budget(loss, measured_budgets, measured_losses)
    if side == "below":
        return None, f"> {float(np.max(measured_budgets)) / budget:g}x (beyond the largest measured budget)"
    if side == "above":
        return None, f"< {float(np.min(measured_budgets)) / budget:g}x (worse than the smallest measured budget)"
    return needed / budget, f"{needed / budget:.3g}x"


def data_efficiency(standard_fit, loss, budget, *, measured_budgets=None, measured_losses=None) -> DataEfficiency:
    """Data-efficiency multiplier of a method reaching `loss` at `budget` against the standard recipe's law.

    multiplier = D_eff(loss) / D_eff(L_std(budget)) with L_std(budget) = A/budget^B + C the fit's prediction (so the
    denominator is `budget` itself). When loss <= C the multiplier is None and beyond_asymptote is True. The
    interpolation figure uses only the measured standard (budget, loss) points, never the fit.
    """
    loss, budget = float(loss), float(budget)
    if not (math.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be positive and finite, got {budget}")
    reference = float(standard_fit.A / budget**standard_fit.B + standard_fit.C)
    d_loss = data_for_loss(standard_fit, loss)
    multiplier = None if d_loss is None else d_loss / data_for_loss(standard_fit, reference)
    interp, note = _interpolation(loss, budget, measured_budgets, measured_losses)
    return DataEfficiency(multiplier, d_loss is None, loss, budget, reference, float(standard_fit.C), interp, note)

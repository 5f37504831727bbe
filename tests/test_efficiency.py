"""Tests for squeeze/scaling/efficiency.py against hand-computed values (docs/design.md sections 2 and 7)."""

import math

import numpy as np
import pytest

from squeeze.scaling.efficiency import data_efficiency, data_for_loss, interpolated_budget
from squeeze.scaling.fit import PowerLawFit


def law(A, B, C):
    return PowerLawFit(A, B, C, np.zeros(0), 0.0, 0, False, "")


def test_effective_data_hand_value():
    # (A / (L - C))^(1/B) = (2 / 0.5)^2 = 16
    assert data_for_loss(law(2.0, 0.5, 1.0), 1.5) == pytest.approx(16.0)


def test_effective_data_at_or_below_asymptote_is_none():
    assert data_for_loss(law(2.0, 0.5, 1.0), 1.0) is None
    assert data_for_loss(law(2.0, 0.5, 1.0), 0.9) is None


def test_effective_data_flat_fit_raises():
    with pytest.raises(ValueError, match="flat"):
        data_for_loss(law(0.0, 0.5, 1.0), 1.5)


def test_multiplier_hand_value():
    # L_std(4) = 2/4^0.5 + 1 = 2 -> D_eff = (2/1)^2 = 4; D_eff(1.5) = 16; multiplier 16/4 = 4 exactly
    e = data_efficiency(law(2.0, 0.5, 1.0), 1.5, 4.0)
    assert e.reference_loss == pytest.approx(2.0)
    assert e.multiplier == pytest.approx(4.0, rel=1e-12)
    assert not e.beyond_asymptote
    assert e.interp_multiplier is None and "no measured" in e.interp_note
    assert "4x the standard recipe's data" in e.describe()


def test_beyond_asymptote_reports_no_number():
    e = data_efficiency(law(2.0, 0.5, 1.0), 0.95, 4.0, measured_budgets=[1, 2, 4, 8],
                        measured_losses=[3.0, 2.4, 2.0, 1.7])
    assert e.beyond_asymptote and e.multiplier is None
    assert "beats the standard recipe's asymptote C=1" in e.describe()
    assert e.interp_multiplier is None
    assert e.interp_note == "> 2x (beyond the largest measured budget)"  # max budget 8 / budget 4


BUDGETS, LOSSES = [1.0, 2.0, 4.0, 8.0], [4.0, 3.0, 2.5, 2.2]


def test_interpolation_within_range():
    # 2.75 lies halfway between 3.0 (at 2) and 2.5 (at 4) -> log b halfway -> b = 2^1.5 = 2.828427
    e = data_efficiency(law(3.0, 0.5, 1.0), 2.75, 1.0, measured_budgets=BUDGETS, measured_losses=LOSSES)
    assert e.interp_multiplier == pytest.approx(2 ** 1.5)
    assert e.interp_note == "2.83x"


def test_interpolation_beyond_largest_budget():
    e = data_efficiency(law(3.0, 0.5, 1.0), 2.0, 1.0, measured_budgets=BUDGETS, measured_losses=LOSSES)
    assert e.interp_multiplier is None
    assert e.interp_note.startswith("> 8x")


def test_interpolation_below_one():
    # at budget 2: loss 3.5 is halfway between 4.0 (at 1) and 3.0 (at 2) -> b = 2^0.5 -> 2^0.5 / 2 = 0.7071
    e = data_efficiency(law(3.0, 0.5, 1.0), 3.5, 2.0, measured_budgets=BUDGETS, measured_losses=LOSSES)
    assert e.interp_multiplier == pytest.approx(2 ** 0.5 / 2)
    # worse than the smallest measured budget: < 1/2 = 0.5x
    e = data_efficiency(law(3.0, 0.5, 1.0), 4.5, 2.0, measured_budgets=BUDGETS, measured_losses=LOSSES)
    assert e.interp_multiplier is None and e.interp_note.startswith("< 0.5x")


def test_interpolation_uses_monotone_envelope_and_sorts():
    # losses 4, 3, 3.2 (a worse run at 4), 2.5 -> envelope 4, 3, 3, 2.5; 2.75 is halfway from 3 (first reached at
    # budget 2, held to 4) to 2.5 at 8: log b halfway between log 4 and log 8 -> b = 4 * 2^0.5 = 5.656854
    b, side = interpolated_budget(2.75, [8.0, 2.0, 4.0, 1.0], [2.5, 3.0, 3.2, 4.0])
    assert side == "" and b == pytest.approx(4 * 2 ** 0.5)
    assert interpolated_budget(3.0, [1, 2, 4], [4.0, 3.0, 3.2]) == (pytest.approx(2.0), "")


def test_interpolation_validates_input():
    with pytest.raises(ValueError):
        interpolated_budget(3.0, [1.0], [4.0])
    with pytest.raises(ValueError):
        interpolated_budget(3.0, [1.0, -2.0], [4.0, 3.0])


def test_pilot_sixteen_epoch_standard_matches_design():
    # docs/design.md section 7 (the pilot): standard (4 epochs) fit L = 4.421 (D/D0)^-0.158 + 0.479; the 16-epoch
    # standard run reached 4.457 at D0. By hand: L_std(1) = 4.421 + 0.479 = 4.900 -> D_eff = 1.
    # D_eff(4.457) = (4.421 / (4.457 - 0.479))^(1/0.158) = 1.1113625^6.3291139 = exp(0.1055867 * 6.3291139)
    #              = exp(0.6682705) = 1.95086  ("16 epochs alone ~1.95x" there)
    # Interpolation over the measured 4.897, 4.450, 4.018, 3.664 at D0 x 1, 2, 4, 8: 4.457 lies
    # (4.897 - 4.457) / (4.897 - 4.450) = 0.98434 of the way from 1 to 2 in log budget -> 2^0.98434 = 1.97841
    e = data_efficiency(law(4.421, 0.158, 0.479), 4.457, 1.0, measured_budgets=[1, 2, 4, 8],
                        measured_losses=[4.897, 4.450, 4.018, 3.664])
    assert e.reference_loss == pytest.approx(4.900)
    assert e.multiplier == pytest.approx(1.95086, rel=1e-5)
    assert e.interp_multiplier == pytest.approx(1.97841, rel=1e-5)
    assert math.isclose(round(e.multiplier, 2), 1.95)


def test_the_edges_of_d_eff_by_hand():
    assert data_for_loss(law(0.5, 0.5, 0.0), 0.25) == pytest.approx(4.0)  # (0.5 / 0.25)^2: A below 1 is fine
    with pytest.raises(ValueError, match="flat"):
        data_for_loss(law(2.0, 0.0, 1.0), 1.5)
    # log D_eff = (log A - log(L - C)) / B: 705 is past the 700 a float64 keeps clear of overflow, 700 itself too
    assert data_for_loss(law(1.0, 1.0, 0.0), math.exp(-705)) == math.inf
    assert data_for_loss(law(1.0, 1.0, 0.0), math.exp(-700)) == math.inf
    assert data_for_loss(law(1.0, 1.0, 0.0), math.exp(-699)) == pytest.approx(math.exp(699))


def test_interpolation_at_the_measured_ends_and_its_refusals():
    b, y = [1000, 2000, 4000], [5.0, 4.0, 3.0]
    assert interpolated_budget(5.0, b, y) == (pytest.approx(1000.0), "")  # exactly the smallest budget's loss
    assert interpolated_budget(3.0, b, y) == (pytest.approx(4000.0), "")
    assert interpolated_budget(4.5, [1000, 2000], [5.0, 4.0]) == (pytest.approx(math.sqrt(2e6)), "")  # two points do
    for budgets, losses in (([1000], [5.0]), ([0, 1000], [5.0, 4.0]), ([1000, 2000], [5.0, math.nan])):
        with pytest.raises(ValueError):
            interpolated_budget(4.5, budgets, losses)


def test_the_interpolated_note_and_the_budget_checks():
    fit = law(2.0, 0.5, 1.0)
    e = data_efficiency(fit, 4.5, 1000, measured_budgets=[1000, 2000], measured_losses=[5.0, 4.0])
    assert e.interp_multiplier == pytest.approx(math.sqrt(2)) and e.interp_note == "1.41x"
    none = data_efficiency(fit, 1.5, 4.0, measured_budgets=None, measured_losses=[5.0, 4.0])
    assert none.interp_multiplier is None and none.interp_note == "no measured standard points given"
    for budget in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="budget must be positive and finite"):
            data_efficiency(fit, 1.5, budget)
    with pytest.raises(AttributeError):
        e.loss = 1.0  # a frozen record

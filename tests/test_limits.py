"""squeeze/study/limits.py: a limit placed on the standard law, against hand-computed values."""
import numpy as np
import pytest

from squeeze.scaling.fit import fit_with_uncertainty
from squeeze.study.asymptotes import Limit
from squeeze.study.fits import Curve
from squeeze.study.limits import EXTRAPOLATED, placed, regularized_sizes
from squeeze.study.noise import Point

BUDGETS = [5_000.0, 10_000.0, 20_000.0, 40_000.0]


def standard_law() -> tuple[Curve, list[Point]]:
    """The standard recipe exactly on L(D) = 30 D^-0.2 + 1.5, two seeds a budget 0.01 nats apart."""
    y = {d: 30 * d ** -0.2 + 1.5 for d in BUDGETS}
    x = [d for d in BUDGETS for _ in (0, 1)]
    ys = [y[d] + e for d in BUDGETS for e in (-0.005, 0.005)]
    fit = fit_with_uncertainty(x, ys, n_boot=50)
    return Curve(BUDGETS, [y[d] for d in BUDGETS], fit, {}), [Point(d, (y[d] - 0.005, y[d] + 0.005)) for d in BUDGETS]


def test_a_limit_reads_its_extrapolated_multiplier_on_the_standard_law():
    """C = 3.0 at D0 = 10k: D_eff = (30 / (3.0 - 1.5))^(1 / 0.2) = 20^5 = 3.2e6 tokens, 320x D0, far past the
    measured budgets (4 x D0), so the interpolated column reads only a bound."""
    law, points = standard_law()
    lim = Limit("regularized recipe, parameters -> infinity", 3.0, (2.98, 3.02), "", 4, {},
                tuple(np.linspace(2.98, 3.02, 50)))
    row = placed(lim, law, points, (0.007, 20), 10_000.0)
    assert row["law_multiplier"] == pytest.approx(320.0, rel=0.02)
    assert row["law_note"] == EXTRAPOLATED and row["law_interval"][0] < 320 < row["law_interval"][1]
    assert row["multiplier_text"].startswith("> 4x") and row["loss"] == 3.0


def test_a_limit_below_the_standard_asymptote_has_no_multiplier_and_one_not_resolved_keeps_its_reason():
    law, points = standard_law()
    below = placed(Limit("x", 1.4, (1.3, 1.5), "", 4, {}, (1.3, 1.4, 1.5)), law, points, (0.007, 20), 10_000.0)
    assert below["law_multiplier"] is None and "beyond the standard law's asymptote" in below["law_note"]
    missing = placed(Limit("y", None, None, "not resolved: 3 sizes", 3), law, points, (0.007, 20), 10_000.0)
    assert missing["loss"] is None and missing["multiplier_text"] == "not resolved: 3 sizes"


def test_regularized_sizes_take_the_best_configuration_per_size_at_d0():
    rows = [{"recipe": "regularized", "budget_tokens": 10_000, "params": p, "lr": lr, "weight_decay": 3.2,
             "epochs": 8, "seed": s, "val_loss": loss, "finished": True, "n_layer": 2, "d_model": 64}
            for p, lr, s, loss in ((1000, 4e-3, 0, 5.0), (1000, 4e-3, 1, 5.2), (1000, 8e-3, 0, 5.3),
                                   (2000, 4e-3, 0, 4.8), (2000, 4e-3, 1, 4.9))]
    rows.append({**rows[0], "budget_tokens": 20_000, "val_loss": 1.0})  # another budget: not at D0
    assert regularized_sizes(rows, 10_000.0) == {1000.0: (5.0, 5.2), 2000.0: (4.8, 4.9)}

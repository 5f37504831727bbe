"""squeeze/study/noise.py: the interpolated multiplier and its seed-noise interval, against hand-computed values
and on simulated studies.

Simulation settings (fixed; the issue's acceptance): a true standard law L(D) = 0.479 + 4.421 (D/D0)^-0.158 (the
pilot fit of DESIGN.md section 5) measured at 4 budgets D0 x {0.5, 1, 2, 4}; every point (standard and method) has
3 seeds with seed SD 0.05 nats; a method with true multiplier m has mean loss L(m D0). 200 studies per m, each its
own numpy seed."""
import math

import numpy as np
import pytest

from squeeze.study.noise import Point, bracket, draw_means, interp_budgets, pooled_noise, read_multiplier, significance

D0, SD, SEEDS, STUDIES = 10_000.0, 0.05, 3, 200
BUDGETS = (0.5 * D0, D0, 2 * D0, 4 * D0)


def law(d):
    return 0.479 + 4.421 * (d / D0) ** -0.158


def test_interpolation_by_hand():
    # envelope 5.0 @ 1000, 4.0 @ 2000, 3.0 @ 4000: 3.5 lies halfway in log between 2000 and 4000
    b = [1000, 2000, 4000]
    out = interp_budgets([3.5, 4.0, 5.5, 2.9], b, [[5.0, 4.0, 3.0]] * 4)
    assert out[0] == pytest.approx(math.sqrt(2000 * 4000)) and out[1] == pytest.approx(2000)
    assert out[2] == 0.0 and math.isinf(out[3])  # worse than the smallest budget; better than the largest
    # a point worse than a smaller budget's is replaced by the best so far (more data never hurts)
    assert interp_budgets([4.5], b, [[4.0, 4.2, 3.0]])[0] == 0.0
    assert interp_budgets([3.5], b, [[4.0, 4.2, 3.0]])[0] == pytest.approx(2000 ** 0.5 * 4000 ** 0.5)


def test_pooled_noise_by_hand():
    sd, dof = pooled_noise([Point(1, (1.0, 2.0, 3.0)), Point(2, (5.0, 7.0)), Point(3, (9.0,))])
    assert dof == 3 and sd == pytest.approx(math.sqrt((2 + 2) / 3))  # SS 2 and 2 over 2 + 1 dof
    assert math.isnan(pooled_noise([Point(1, (1.0,))])[0])


def test_draws_have_the_t_width():
    """sigma drawn from its chi2 distribution: the redrawn mean's SD is s sqrt(dof / (dof - 2)) / sqrt(n)."""
    d = draw_means([0.0], [4], 0.2, 10, 200_000, np.random.default_rng(0))
    assert d.std() == pytest.approx(0.2 * math.sqrt(10 / 8) / 2, rel=0.02)


def test_the_standard_point_reads_one_and_words_follow_the_interval():
    std = [Point(b, (law(b),) * 2) for b in BUDGETS]
    m = read_multiplier((law(D0),) * 2, D0, std, (0.01, 10))
    assert m.value == pytest.approx(1.0) and m.label == "no measurable gain"
    assert significance(1.05, 1.4) == "significant gain" and significance(0.5, 0.9) == "significant loss"
    worse = read_multiplier((law(D0) + 1.0,) * 3, D0, std, (0.01, 10))
    assert worse.value is None and worse.side == "below" and worse.lo_open and worse.text().startswith("< 0.5x")
    assert worse.label == "significant loss"


def simulate(m: float, rng: np.random.Generator) -> tuple[float, float, str]:
    std = [Point(b, tuple(rng.normal(law(b), SD, SEEDS))) for b in BUDGETS]
    method = rng.normal(law(m * D0), SD, SEEDS)
    noise = pooled_noise([*std, Point(D0, tuple(method))])
    r = read_multiplier(tuple(method), D0, std, noise, n_draws=2000, seed=int(rng.integers(1 << 30)))
    return r.lo, r.hi, r.label


@pytest.mark.parametrize("m", [1.0, 1.3])
def test_simulated_studies_cover_the_truth_and_label_it(m):
    """A nominal 90% interval holds the true multiplier 85-95% of the time (measured: 90.0% at 1.0x, 91.0% at 1.3x):
    too narrow fails below, twice too wide (~100%) above. A method with no effect is called a significant gain at
    most 10% of the time (measured 5.5%; a central 90% interval would do it 5%); a true 1.3x at least 80% (99.5%)."""
    results = [simulate(m, np.random.default_rng([7, s])) for s in range(STUDIES)]
    covered = np.mean([lo <= m <= hi for lo, hi, _ in results])
    significant = np.mean([label == "significant gain" for _, _, label in results])
    assert 0.85 <= covered <= 0.95, covered
    if m == 1.0:
        assert significant <= 0.10, significant  # no effect: "no measurable gain" (or a spurious loss)
    else:
        assert significant >= 0.80, significant


def test_a_row_that_spreads_more_is_read_with_its_own_noise():
    """Random subsets: their seeds spread far more than the pooled SD. Read with their own SD (2 dof), the interval
    widens; and a row worse than every standard point reads '< 0.5x' at both ends."""
    std = [Point(b, (law(b),) * 3) for b in BUDGETS]
    losses = (law(1.3 * D0) - 0.2, law(1.3 * D0), law(1.3 * D0) + 0.2)
    pooled = read_multiplier(losses, D0, std, (0.02, 30))
    own = read_multiplier(losses, D0, std, (0.02, 30), own_noise=(0.2, 2))
    assert own.hi - own.lo > 2 * (pooled.hi - pooled.lo) and own.label == "no measurable gain"
    worst = read_multiplier((law(D0) + 2,) * 3, D0, std, (0.01, 30))
    assert worst.text() == "< 0.5x [< 0.5, < 0.5]"


def test_bracket_names_the_standard_points_a_multiplier_is_read_between():
    budgets, losses = [5, 10, 20, 40], [5.5, 5.1, 4.7, 4.25]
    assert bracket(4.9, budgets, losses) == [10, 20]  # between the D0 and 2 x D0 points
    assert bracket(5.1, budgets, losses) == [5, 10]  # exactly on a point: read off it and the one below
    assert bracket(5.8, budgets, losses) == [5]  # worse than the smallest budget: only its end
    assert bracket(4.0, budgets, losses) == [40]  # better than the largest
    # on the envelope, as interp_budgets reads it: 20 is worse than 10, so 4.8 lies between 20 and 40
    assert bracket(4.8, [40, 5, 20, 10], [4.25, 5.5, 5.2, 5.1]) == [20, 40]

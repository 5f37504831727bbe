"""squeeze/study/asymptotes.py: when a limit is read, what it reads, and how often its interval holds the truth."""
import numpy as np
import pytest
from scipy.stats import t

from squeeze.study.asymptotes import (
    LACK_OF_FIT_P,
    checked_fit,
    lack_of_fit_p,
    member_limit,
    parameter_limit,
    two_stage_limit,
)
from squeeze.study.noise import Point, pooled_noise

SIZES = np.array([4e4, 1.6e5, 6.4e5, 2.56e6])  # 4 sizes, 4x apart


def law(n, A=400.0, B=0.5, C=3.0):
    return A / np.asarray(n, dtype=float) ** B + C


def test_lack_of_fit_p_by_hand():
    # residuals 0.1, -0.1, 0.1, -0.1 with 2 seeds each: sum n r^2 = 0.08 over m - 3 = 1 dof, / sd^2 = 0.01 -> F = 8.
    # F(1, 10) is t(10)^2, so P(F >= 8) = P(|t_10| >= sqrt 8 = 2.828) = 0.0179
    assert lack_of_fit_p([0.1, -0.1, 0.1, -0.1], [2, 2, 2, 2], 0.1, 10) == pytest.approx(2 * t.sf(np.sqrt(8), 10))
    assert lack_of_fit_p([0.1, -0.1, 0.1, -0.1], [2, 2, 2, 2], 0.1, 10) == pytest.approx(0.0179, abs=1e-4)
    assert lack_of_fit_p([0.1, -0.1, 0.1], [2, 2, 2], 0.1, 10) == 1.0  # 3 points, 3 parameters: nothing to test


def test_three_sizes_read_not_resolved():
    sizes = {n: tuple(law(n) + d for d in (-0.01, 0.0, 0.01)) for n in SIZES[:3]}
    lim = parameter_limit("regularized, N -> inf", sizes, (0.01, 20))
    assert not lim.resolved and lim.value is None and lim.interval is None
    assert lim.text() == "not resolved: 3 sizes (needs >= 4 to check the fit's form)"


def test_a_curve_that_is_not_a_power_law_reads_not_resolved():
    """Losses that fall, then rise: the best power law misses them by far more than seed noise."""
    means = [4.0, 3.5, 3.6, 3.3]
    fit, reason = checked_fit(SIZES, means, [3, 3, 3, 3], (0.01, 30))
    assert fit is None and reason.startswith("not resolved: lack of fit") and "p = " in reason


def test_a_flat_curve_reads_not_resolved_at_a_bound():
    fit, reason = checked_fit(SIZES, [4.0, 4.0, 4.0, 4.0], [3, 3, 3, 3], (0.01, 30))
    assert fit is None and "at its bound" in reason


def test_an_exact_power_law_reads_its_asymptote():
    sizes = {n: (law(n) - 0.01, law(n) + 0.01) for n in SIZES}
    lim = parameter_limit("regularized, N -> inf", sizes, (0.01 * np.sqrt(2), 4), n_draws=100)
    assert lim.resolved and lim.value == pytest.approx(3.0, abs=1e-6)
    assert lim.interval[0] < 3.0 < lim.interval[1] and lim.fit["lack_of_fit_p"] > LACK_OF_FIT_P
    assert len(lim.draws) == 100


def test_member_and_two_stage_limits():
    """Ensembles whose K curves follow 0.4/K^0.8 + C_N, with C_N itself a power law in N: the two stages give
    back C_N and its limit; one size fewer than 4 reads not resolved."""
    c_n = law(SIZES, A=200.0, B=0.4, C=3.2)
    curves = {n: list(0.4 / np.arange(1, 5) ** 0.8 + c) for n, c in zip(SIZES, c_n)}
    per, both = two_stage_limit("ensembles, K -> inf then N -> inf", curves, (0.005, 40), n_draws=100)
    assert [per[n].value for n in SIZES] == pytest.approx(list(c_n), abs=1e-5)
    assert both.resolved and both.value == pytest.approx(3.2, abs=1e-4)
    assert both.interval[0] < 3.2 < both.interval[1]
    _, three = two_stage_limit("x", {n: curves[n] for n in SIZES[:3]}, (0.005, 40), n_draws=20)
    assert not three.resolved and three.reason.startswith("not resolved: 3 sizes")
    short = member_limit("3 members", [4.0, 3.8, 3.7], (0.01, 10))
    assert short.reason == "not resolved: 3 member counts (needs >= 4 to check the fit's form)"


def test_the_interval_of_c_covers_the_truth_on_simulated_studies():
    """200 studies drawn from L(N) = 400/N^0.5 + 3 at 4 sizes, 3 seeds each, seed SD 0.03 nats (the noise
    estimated from the studies' own seeds, 8 dof). Among the studies whose limit is read (lack of fit rejects
    ~5% of true power laws by design), the 90% interval holds the true C at least 85% of the time."""
    rng = np.random.default_rng(11)
    covered, resolved, n_studies = 0, 0, 200
    for _ in range(n_studies):
        sizes = {n: tuple(law(n) + rng.normal(0, 0.03, 3)) for n in SIZES}
        noise = pooled_noise([Point(n, ls) for n, ls in sizes.items()])
        lim = parameter_limit("sim", sizes, noise, n_draws=100, seed=int(rng.integers(1 << 30)))
        if lim.resolved:
            resolved += 1
            covered += lim.interval[0] <= 3.0 <= lim.interval[1]
    assert resolved >= 0.9 * n_studies
    assert 0.85 <= covered / resolved <= 0.97, (covered, resolved)

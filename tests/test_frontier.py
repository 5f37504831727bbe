"""squeeze/scaling/frontier.py: the pruning frontier, its two forms, the leave-one-size-out comparison and the
easy-vs-hard regime rule, against hand-computed values and synthetic laws."""
import math

import numpy as np
import pytest

from squeeze.scaling.frontier import (
    Cell,
    PoolRegime,
    compare_forms,
    exponential,
    fit_exponential,
    frontier,
    loso_errors,
    regime,
    sign_change,
    verdict,
)

KEPT = np.geomspace(6250, 400_000, 10).round().astype(int)


def _cells(law, sd, seeds=3, seed=0):
    rng = np.random.default_rng(seed)
    return [Cell("best", int(d), int(d), tuple(float(law(d)) + sd * rng.standard_normal(seeds))) for d in KEPT]


def test_frontier_takes_the_best_seed_mean_at_each_kept_size():
    cells = [Cell("random", 100, 50, (3.0, 5.0)),  # mean 4.0
             Cell("easy", 100, 50, (3.5, 3.7)),  # mean 3.6: the best at 50
             Cell("hard", 100, 50, (3.6, 3.6)),
             Cell("random", 100, 100, (3.2,)),
             Cell("hard", 400, 100, (3.1, 3.3)),  # mean 3.2: ties with the full pool of 100, which came first
             Cell("easy", 400, 200, ())]  # no finished seed: not on the frontier
    pts = frontier(cells)
    assert [(p.kept, p.method, p.pool) for p in pts] == [(50, "easy", 100), (100, "random", 100)]
    assert pts[0].loss == pytest.approx(3.6)
    assert pts[1].loss == pytest.approx(3.2)


def test_exponential_fit_recovers_its_rate():
    law = lambda d: 1.2 * math.exp(-d / 40_000) + 3.1  # noqa: E731
    fit = fit_exponential(KEPT, [law(d) for d in KEPT])
    assert fit.D_s == pytest.approx(40_000, rel=1e-4)
    assert (fit.A, fit.C) == pytest.approx((1.2, 3.1), rel=1e-4)
    assert float(exponential(10_000, fit.A, fit.D_s, fit.C)) == pytest.approx(law(10_000), rel=1e-6)
    noisy = compare_forms(_cells(law, 0.005), n_boot=30)  # 3 seeds, seed SD 0.005 nats
    assert noisy.exp.D_s == pytest.approx(40_000, rel=0.1)
    assert noisy.verdict == "exponential"
    assert noisy.rms_exp < noisy.rms_power


def test_comparison_prefers_the_power_law_on_a_power_law():
    law = lambda d: 30.0 / d ** 0.3 + 2.5  # noqa: E731  (4.67 nats at 6,250 tokens, 3.13 at 400,000)
    out = compare_forms(_cells(law, 0.01), n_boot=30)
    assert out.verdict == "power law"
    assert out.diff_ci[1] < 0 and out.rms_power < out.rms_exp
    assert out.power.B == pytest.approx(0.3, abs=0.1)


def test_loso_errors_are_zero_on_an_exact_law_and_need_four_sizes():
    D = KEPT[:6].astype(float)
    e_pow, e_exp, fits = loso_errors(D, 30.0 / D ** 0.3 + 2.5)
    assert np.abs(e_pow).max() < 1e-3 and len(fits) == 6
    assert np.abs(e_exp).max() > 10 * np.abs(e_pow).max()  # an exponential misses a power law held out
    with pytest.raises(ValueError, match="4 kept sizes"):
        loso_errors(D[:3], D[:3])


def test_verdict_reads_the_interval_of_the_difference():
    assert verdict((0.01, 0.05)) == "exponential"
    assert verdict((-0.05, -0.01)) == "power law"
    assert verdict((-0.01, 0.02)) == "cannot tell apart"


def test_easy_minus_hard_by_hand_and_its_sign_change():
    cells = [Cell("prototypes-easy", 100, 25, (4.0, 4.0)), Cell("prototypes-hard", 100, 25, (4.2, 4.2)),
             Cell("prototypes-easy", 100, 50, (3.5, 3.5)), Cell("prototypes-hard", 100, 50, (3.4, 3.4)),
             Cell("prototypes-easy", 100, 100, (9.0,)),  # the whole pool: no pruning, not counted
             Cell("random", 100, 25, (1.0, 1.0))]
    (row,) = regime(cells, n_boot=50)
    # (4.0 - 4.2 + 3.5 - 3.4) / 2 = -0.05; no seed spread, so the interval is the point
    assert (row.pool, row.fractions) == (100, 2)
    assert row.diff == pytest.approx(-0.05)
    assert row.interval == pytest.approx((-0.05, -0.05))
    assert row.keep == "easy"


def test_regime_with_noise_finds_easy_small_hard_large():
    rng = np.random.default_rng(1)
    cells = []
    for pool, gap in ((25_000, -0.3), (100_000, -0.1), (400_000, 0.2)):  # easy minus hard
        for f in (0.25, 0.5):
            base = 4.0 + rng.standard_normal(3) * 0.02
            cells += [Cell("prototypes-easy", pool, int(f * pool), tuple(base + gap)),
                      Cell("prototypes-hard", pool, int(f * pool), tuple(base + rng.standard_normal(3) * 0.02))]
    rows = regime(cells, n_boot=400)
    assert [r.keep for r in rows] == ["easy", "easy", "hard"]
    change = sign_change(rows)
    assert change["between"] == [100_000, 400_000] and change["from"] == "easy" and change["to"] == "hard"
    assert change["beyond_noise"]
    assert 100_000 < change["pool"] < 400_000


def test_sign_change_interpolates_in_log_pool():
    rows = [PoolRegime(10_000, -0.2, (-0.3, -0.1), 3, "easy"), PoolRegime(40_000, 0.2, (-0.1, 0.5), 3, "either")]
    change = sign_change(rows)
    assert change["pool"] == 20_000  # halfway in log between 10k and 40k
    assert not change["beyond_noise"]
    assert sign_change(rows[:1]) is None


def test_one_seed_cells_get_no_interval_and_no_verdict_beyond_noise():
    law = lambda d: 30.0 / d ** 0.3 + 2.5  # noqa: E731
    out = compare_forms(_cells(law, 0.0, seeds=1), n_boot=30)
    assert out.verdict == "cannot tell apart" and all(math.isnan(v) for v in out.diff_ci)
    (row,) = regime([Cell("prototypes-easy", 100, 50, (3.0,)), Cell("prototypes-hard", 100, 50, (3.5, 3.5))])
    assert row.diff == pytest.approx(-0.5) and row.keep == "either" and math.isnan(row.interval[0])

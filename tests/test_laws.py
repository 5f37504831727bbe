"""Tests for squeeze/scaling/laws.py: hand-computed values and the data-constrained law's published numbers."""

import numpy as np
import pytest

from squeeze.scaling import laws


def test_power_law_hand_values_and_vectorized():
    # 2/4**0.5 + 1 = 2; 2/16**0.5 + 1 = 1.5
    np.testing.assert_allclose(laws.power_law([4.0, 16.0], 2.0, 0.5, 1.0), [2.0, 1.5])
    assert laws.power_law(np.ones((2, 3)), 1.0, 1.0, 0.0).shape == (2, 3)


def test_chinchilla_law_hand_value():
    # E + A/N^alpha + B/D^beta = 1 + 100/100 + 1000/1000 = 3 with alpha = beta = 1, N=100, D=1000
    assert laws.chinchilla_law(100.0, 1000.0, 1.0, 100.0, 1.0, 1000.0, 1.0) == pytest.approx(3.0)


def test_data_constrained_law_matches_published_readme_values():
    # huggingface/datablations README: scaling_law(6.34e9, 242e9, 25e9) = 2.2256440889984477 and
    # scaling_law(8.67e9, 178e9, 25e9) = 2.2269634075087867 ("the first one is better").
    assert laws.data_constrained_law(6.34e9, 242e9, 25e9) == pytest.approx(2.2256440889984477, rel=1e-9)
    assert laws.data_constrained_law(8.67e9, 178e9, 25e9) == pytest.approx(2.2269634075087867, rel=1e-9)
    assert f"{laws.data_constrained_law(6.34e9, 242e9, 25e9):.5f}" == "2.22564"


def test_chinchilla_constants_do_not_give_the_readme_value():
    # Documents the convention: the README number needs Muennighoff's own refit constants, not Chinchilla's.
    c = laws.CHINCHILLA
    v = laws.data_constrained_law(6.34e9, 242e9, 25e9, E=c["E"], A=c["A"], alpha=c["alpha"], B=c["B"],
                                  beta=c["beta"], R_D_star=15.387, R_N_star=5.309)
    assert v == pytest.approx(2.20950, abs=1e-5)


def test_effective_data_limits():
    U = 1e9
    assert laws.effective_data(U, U) == pytest.approx(U)  # one epoch: all fresh
    # R_D = 3 repeats with R* = 15.387756: D' = U (1 + R*(1 - exp(-3/R*))) = 3.7414 U, a bit under 4 U
    expected = U * (1 + 15.387756 * (1 - np.exp(-3 / 15.387756)))
    assert laws.effective_data(4 * U, U) == pytest.approx(expected)
    assert 3.7 * U < expected < 4 * U
    # infinitely many repeats saturate at (1 + R*) U
    assert laws.effective_data(1e9 * U, U) == pytest.approx((1 + 15.387756) * U)
    with pytest.raises(ValueError, match="cannot exceed"):
        laws.effective_data(1.0, 2.0)


def test_effective_params_clips_below_useful_size():
    assert laws.effective_params(5.0, 10.0) == pytest.approx(10.0)  # R_N clipped at 0
    # N = 2 U_N, R* = 1: N' = U_N (1 + (1 - e^-1))
    assert laws.effective_params(2.0, 1.0, 1.0) == pytest.approx(2 - np.exp(-1))


def test_compute_optimal_params_is_the_chinchilla_optimum():
    # Along the compute-optimal frontier, minimizing loss at C = 6 N D over N must land on N_opt(D_opt).
    c = laws.CHINCHILLA
    C = 1e21
    N = np.logspace(8, 11, 20001)
    D = C / (6 * N)
    L = laws.chinchilla_law(N, D, **c)
    i = int(np.argmin(L))
    n_opt = laws.compute_optimal_params(D[i], c["A"], c["alpha"], c["B"], c["beta"])
    assert n_opt == pytest.approx(N[i], rel=1e-3)


def test_data_constrained_reduces_to_chinchilla_without_repeats():
    N, D = 1e8, 1e10  # N below N_opt(D), so U_N = N and R_N = 0
    c = {"E": laws.DC_E, "A": laws.DC_A, "alpha": laws.DC_ALPHA, "B": laws.DC_B, "beta": laws.DC_BETA}
    assert laws.compute_optimal_params(D, c["A"], c["alpha"], c["B"], c["beta"]) > N
    assert laws.data_constrained_law(N, D, D) == pytest.approx(laws.chinchilla_law(N, D, **c))


def test_effective_data_allows_u_equal_to_d_up_to_rounding():
    D = 3.0e6
    assert laws.effective_data(D, D * (1 + 1e-12)) == pytest.approx(D)  # within the rounding allowance
    with pytest.raises(ValueError, match="cannot exceed"):
        laws.effective_data(D, D * (1 + 1.5e-12))

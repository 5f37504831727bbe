"""Scaling-law functional forms: the one-variable power law, the Chinchilla joint law, and the
data-constrained law of Muennighoff et al. (2023). Pure, vectorized numpy; nothing here fits or reads files
(fitting lives in squeeze/scaling/fit.py and joint.py).

Exercised by: python -m pytest tests/test_laws.py

Data-constrained law, convention (reproduces the README of github.com/huggingface/datablations):
    R_D = max(D/U_D - 1, 0)                        repeated epochs of the unique data beyond the first
    D'  = U_D + U_D * R_D* * (1 - exp(-R_D/R_D*))  effective data
    U_N = min(N, N_opt(U_D))                       N_opt = Chinchilla compute-optimal size for U_D tokens,
                                                   from the law's own A, B, alpha, beta (see below)
    R_N = max(N/U_N - 1, 0)                        "excess" parameters
    N'  = U_N + U_N * R_N* * (1 - exp(-R_N/R_N*))  effective parameters
    L   = E + A/N'^alpha + B/D'^beta
The defaults are that README's fitted constants, stored as logs (a, b, e) = (6.255414, 7.3049974, 0.6254804),
i.e. E = 1.8689, A = 520.97, B = 1488.2, alpha = beta = 0.3526596, R_D* = 15.387756, R_N* = 5.309743.
With them data_constrained_law(6.34e9, 242e9, 25e9) = 2.2256440889984477, the README's value. The Chinchilla
paper's constants (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28) with R_D* 15.387, R_N* 5.309 give 2.20950
instead: Muennighoff et al. refit all seven constants on their own runs, so those are the ones that go together.
"""

from __future__ import annotations

import numpy as np

# Muennighoff et al. 2023, datablations README: fitted [a, b, e, alpha, beta, R_D*, R_N*] with A = exp(a) etc.
DC_E = float(np.exp(0.6254804))  # 1.8689 nats: irreducible loss
DC_A = float(np.exp(6.255414))  # 520.97
DC_B = float(np.exp(7.3049974))  # 1488.2
DC_ALPHA = 0.3526596
DC_BETA = 0.3526596  # equal to alpha in their fit
DC_R_D_STAR = 15.387756  # repeated epochs at which repeated data is worth 1 - 1/e of fresh data
DC_R_N_STAR = 5.309743  # the same for excess parameters: parameters decay faster than data

# Hoffmann et al. 2022 (Chinchilla), approach 3 fit; kept for reference and for tests of the joint law.
CHINCHILLA = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


def power_law(x, A, B, C):
    """L(x) = A / x**B + C, elementwise (x > 0). C is the x -> inf asymptote."""
    x = np.asarray(x, dtype=float)
    return A / x**B + C


def chinchilla_law(N, D, E, A, alpha, B, beta):
    """L(N, D) = E + A/N**alpha + B/D**beta (Hoffmann et al. 2022), elementwise over N and D."""
    N = np.asarray(N, dtype=float)
    D = np.asarray(D, dtype=float)
    return E + A / N**alpha + B / D**beta


def compute_optimal_params(D, A, alpha, B, beta):
    """Parameter count that is compute-optimal for D training tokens under chinchilla_law.

    Minimizing A/N^alpha + B/D^beta at fixed compute C = 6ND gives N_opt = G (C/6)^(beta/(alpha+beta)) and
    D_opt = (C/6)^(alpha/(alpha+beta)) / G with G = (alpha A / (beta B))^(1/(alpha+beta)). Eliminating C:
    C/6 = (G D)^((alpha+beta)/alpha), so N_opt(D) = G (G D)^(beta/alpha). (The README's D_to_N.)
    """
    D = np.asarray(D, dtype=float)
    G = ((alpha * A) / (beta * B)) ** (1.0 / (alpha + beta))
    return G * (G * D) ** (beta / alpha)


def _decayed(unique, repeats, R_star):
    """unique + unique * R* * (1 - exp(-R/R*)): each repeat is worth less; the total saturates at (1 + R*)x."""
    return unique + unique * R_star * (1.0 - np.exp(-repeats / R_star))


def effective_data(D, U, R_star=DC_R_D_STAR):
    """Effective tokens D' for D tokens seen drawn from U unique tokens (D >= U). R_D = D/U - 1 epochs repeated."""
    D = np.asarray(D, dtype=float)
    U = np.asarray(U, dtype=float)
    if np.any(U > D * (1 + 1e-12)):
        raise ValueError("effective_data: unique tokens U cannot exceed total tokens D")
    R_D = np.maximum(D / U - 1.0, 0.0)  # clipped at 0 as in the README, against rounding just below 1
    return _decayed(U, R_D, R_star)


def effective_params(N, U_N, R_star=DC_R_N_STAR):
    """Effective parameters N' for N parameters when only U_N of them are 'useful' (U_N <= N).

    R_N = N/U_N - 1 is the excess; it is clipped at 0, so N <= U_N gives N' = U_N.
    """
    N = np.asarray(N, dtype=float)
    U_N = np.asarray(U_N, dtype=float)
    R_N = np.maximum(N / U_N - 1.0, 0.0)
    return _decayed(U_N, R_N, R_star)


def data_constrained_law(N, D, U, *, E=DC_E, A=DC_A, alpha=DC_ALPHA, B=DC_B, beta=DC_BETA,
                         R_D_star=DC_R_D_STAR, R_N_star=DC_R_N_STAR):
    """Loss of N parameters trained on D tokens of which U are unique (Muennighoff et al. 2023).

    U_N = min(N, N_opt(U)) with N_opt from this law's own A, alpha, B, beta (compute_optimal_params); see the
    module docstring for the full convention. With U = D it reduces to chinchilla_law(N, D, ...) whenever
    N <= N_opt(D), and for N above it the extra parameters count with diminishing returns.
    """
    N = np.asarray(N, dtype=float)
    D = np.asarray(D, dtype=float)
    U = np.asarray(U, dtype=float)
    U_N = np.minimum(N, compute_optimal_params(U, A, alpha, B, beta))
    N_eff = effective_params(N, U_N, R_N_star)
    D_eff = effective_data(D, U, R_D_star)
    return E + A / N_eff**alpha + B / D_eff**beta

"""Fits of the joint scaling laws of squeeze/scaling/laws.py over model size N and data D: the Chinchilla law
L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, approach 3: Huber on log L, L-BFGS-B from a grid of
starts, with bootstrap intervals) and the data-constrained law's decay constants R_D*, R_N* (Muennighoff et al.
2023). Pure functions of numpy arrays: no I/O, no printing. One side effect, scoped and restored: the L-BFGS fits
hold the BLAS libraries at 1 thread while they run (see _one_blas_thread for why).

Exercised by: python -m pytest tests/test_joint.py
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from squeeze.scaling.fit import percentile_interval
from squeeze.scaling.laws import chinchilla_law, compute_optimal_params, data_constrained_law


def _one_blas_thread():
    """scipy >= 1.15's L-BFGS-B calls LAPACK on ~20x20 matrices every iteration, and multithreaded OpenBLAS makes
    each call far slower (scipy/scipy#22438): fit_chinchilla took 41-53 s with 2 threads vs 2.5 s with 1 on a 2-core
    machine. Like OPENBLAS_NUM_THREADS=1, but only for the duration and restored after; BLAS only (OpenMP pools,
    e.g. torch's, are left alone)."""
    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class ChinchillaFit:
    """L(N, D) = E + A/N^alpha + B/D^beta; objective = summed Huber loss of log L residuals at the optimum."""

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    objective: float
    n_points: int
    n_starts: int

    def predict(self, N, D):
        return chinchilla_law(N, D, self.E, self.A, self.alpha, self.B, self.beta)


def _huber(r, delta):
    """Summed Huber_delta(r) and psi = dHuber/dr: r^2/2 inside [-delta, delta], delta (|r| - delta/2) outside."""
    psi = np.clip(r, -delta, delta)
    return float(np.sum(psi * r - 0.5 * psi * psi)), psi


def _chinchilla_objective(p, logN, logD, logL, delta):
    """Sum Huber(logsumexp(a - alpha log N, b - beta log D, e) - log L) and its gradient; p = (a, alpha, b, beta, e).
    The log-sum-exp is written out for 3 terms: scipy's general one costs ~5x more, and this runs ~10^4 times."""
    a, alpha, b, beta, e = p
    t0, t1 = a - alpha * logN, b - beta * logD
    m = np.maximum(np.maximum(t0, t1), e)
    x0, x1, x2 = np.exp(t0 - m), np.exp(t1 - m), np.exp(e - m)
    s = x0 + x1 + x2
    value, psi = _huber(m + np.log(s) - logL, delta)
    w0, w1, w2 = x0 * psi / s, x1 * psi / s, x2 * psi / s  # dlse/dterm is the softmax weight
    grad = np.array([w0.sum(), -(w0 @ logN), w1.sum(), -(w1 @ logD), w2.sum()])
    return value, grad


def _joint_arrays(*arrays):
    out = [np.asarray(a, dtype=float).ravel() for a in arrays]
    if len({a.shape for a in out}) != 1:
        raise ValueError("N, D (, U) and L must have the same number of points")
    if not all(np.all(np.isfinite(a)) and np.all(a > 0) for a in out):
        raise ValueError("N, D (, U) and L must be finite and positive")
    return out


# Hoffmann et al.'s grid: e in {-1,-.5,...,1}, a, b in {0,5,...,25}, alpha, beta in {0,.5,...,2} (4,500 starts,
# ~18x the thin grid). "thin" keeps the grid shape and range at every other value (3^5 = 243 starts, 2.4 s here).
CHINCHILLA_GRID = {
    "full": dict(e=np.arange(-1, 1.01, 0.5), a=np.arange(0, 26, 5), alpha=np.arange(0, 2.01, 0.5)),
    "thin": dict(e=np.array([-1.0, 0.0, 1.0]), a=np.array([0.0, 10.0, 20.0]), alpha=np.array([0.0, 1.0, 2.0])),
}


_BOUNDS = [(None, None), (0, None), (None, None), (0, None), (None, None)]  # exponents >= 0


def _best_run(args, starts):
    """L-BFGS-B from every start, BLAS at 1 thread; the lowest objective, never simply the first converged."""
    with _one_blas_thread():
        runs = [minimize(_chinchilla_objective, p0, args=args, jac=True, method="L-BFGS-B", bounds=_BOUNDS,
                         options=dict(ftol=1e-12, gtol=1e-9, maxiter=1000)) for p0 in starts]
    return min(runs, key=lambda r: r.fun)


def _as_fit(run, n_points, n_starts) -> ChinchillaFit:
    a, alpha, b, beta, e = (float(v) for v in run.x)
    return ChinchillaFit(float(np.exp(e)), float(np.exp(a)), alpha, float(np.exp(b)), beta, float(run.fun),
                         n_points, n_starts)


def fit_chinchilla(N, D, L, *, delta=1e-3, grid="thin") -> ChinchillaFit:
    """Fit E = exp(e), A = exp(a), B = exp(b), alpha, beta >= 0 by L-BFGS-B on summed Huber_delta of log residuals
    from every point of the start grid (CHINCHILLA_GRID[grid]); the lowest objective wins."""
    N, D, L = _joint_arrays(N, D, L)
    if len(N) < 5:
        raise ValueError(f"the joint law has 5 parameters and needs >= 5 points, got {len(N)}")
    g = CHINCHILLA_GRID[grid]
    starts = list(itertools.product(g["a"], g["alpha"], g["a"], g["alpha"], g["e"]))
    best = _best_run((np.log(N), np.log(D), np.log(L), delta), starts)
    return _as_fit(best, len(N), len(starts))


@dataclass(frozen=True, eq=False)
class ChinchillaWithInterval:
    """A joint-law point fit and percentile intervals of its constants over refits of resampled points."""

    fit: ChinchillaFit
    E: tuple[float, float]
    A: tuple[float, float]
    alpha: tuple[float, float]
    B: tuple[float, float]
    beta: tuple[float, float]
    level: float
    n_boot: int  # resamples refitted


def _joint_resample(rng, N, D, tries=50):
    """Indices of a resample with >= 5 distinct points, >= 2 distinct N and D (else the law is unidentifiable)."""
    for _ in range(tries):
        idx = rng.integers(0, len(N), len(N))
        if len(np.unique(idx)) >= 5 and len(np.unique(N[idx])) >= 2 and len(np.unique(D[idx])) >= 2:
            return idx
    return None


def chinchilla_with_uncertainty(N, D, L, *, n_boot=100, seed=0, level=0.9, delta=1e-3,
                                grid="thin") -> ChinchillaWithInterval:
    """fit_chinchilla plus percentile intervals over n_boot resamples of the points with replacement,
    deterministic for a seed. Each resample is refitted by one L-BFGS-B run started at the point fit (~10 ms,
    against ~2.5 s for the grid): the interval describes the basin the point fit found."""
    N, D, L = _joint_arrays(N, D, L)
    point = fit_chinchilla(N, D, L, delta=delta, grid=grid)
    p0 = np.log([point.A, point.B, point.E])
    start = np.array([p0[0], point.alpha, p0[1], point.beta, p0[2]])
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(n_boot):
        idx = _joint_resample(rng, N, D)
        if idx is not None:
            run = _best_run((np.log(N[idx]), np.log(D[idx]), np.log(L[idx]), delta), [start])
            fits.append(_as_fit(run, len(idx), 1))
    if not fits:
        raise ValueError("no resample had >= 5 distinct points with >= 2 distinct N and D")
    iv = {k: percentile_interval([getattr(f, k) for f in fits], level) for k in ("E", "A", "alpha", "B", "beta")}
    return ChinchillaWithInterval(point, level=level, n_boot=len(fits), **iv)


@dataclass(frozen=True)
class DataConstrainedFit:
    """The data-constrained law with E, A, alpha, B, beta from `base` and fitted R_D*, R_N*."""

    base: ChinchillaFit
    R_D_star: float
    R_N_star: float
    objective: float
    n_points: int
    note: str  # which decay constant the data cannot determine, "" when both are

    def predict(self, N, D, U):
        b = self.base
        return data_constrained_law(N, D, U, E=b.E, A=b.A, alpha=b.alpha, B=b.B, beta=b.beta,
                                    R_D_star=self.R_D_star, R_N_star=self.R_N_star)


R_STAR_STARTS = (0.5, 2.0, 8.0, 32.0, 128.0)  # spans the published 5.3 (params) and 15.4 (data) both ways


def fit_data_constrained(N, D, U, L, *, base: ChinchillaFit, delta=1e-3) -> DataConstrainedFit:
    """Fit R_D* = exp(r_d), R_N* = exp(r_n) by L-BFGS-B on summed Huber_delta of log residuals, from a 5 x 5 grid
    of starts, the other constants held at base's. U_N uses N_opt(U) from base's A, alpha, B, beta."""
    N, D, U, L = _joint_arrays(N, D, U, L)
    if np.any(U > D):
        raise ValueError("unique tokens U cannot exceed total tokens D")
    logL, fixed = np.log(L), dict(E=base.E, A=base.A, alpha=base.alpha, B=base.B, beta=base.beta)

    def objective(p):  # 2 parameters: finite-difference gradients cost little here
        pred = data_constrained_law(N, D, U, R_D_star=np.exp(p[0]), R_N_star=np.exp(p[1]), **fixed)
        return _huber(np.log(pred) - logL, delta)[0]

    with _one_blas_thread():
        runs = [minimize(objective, np.log(p0), method="L-BFGS-B",
                         bounds=[(-10, 10)] * 2,  # R* in [4.5e-5, 2.2e4] epochs: wider than any data can resolve
                         options=dict(ftol=1e-12, gtol=1e-9, maxiter=1000))
                for p0 in itertools.product(R_STAR_STARTS, R_STAR_STARTS)]
    best = min(runs, key=lambda r: r.fun)
    notes = []
    if not np.any(D > U):
        notes.append("no point repeats data (D > U): R_D* undetermined")
    if not np.any(N > compute_optimal_params(U, base.A, base.alpha, base.B, base.beta)):
        notes.append("no point has N > N_opt(U): R_N* undetermined")
    return DataConstrainedFit(base, float(np.exp(best.x[0])), float(np.exp(best.x[1])), float(best.fun), len(N),
                              "; ".join(notes))

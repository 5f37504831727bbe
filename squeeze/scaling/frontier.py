"""The data-pruning frontier and its form (issue 35; Sorscher et al. 2022, "Beyond neural scaling laws"): pure
functions of per-seed losses, no I/O.

A `Cell` is one (method, pool size, kept fraction) of benchmarks/pruning_frontier.py with its seed losses.
- `frontier`: at each kept token count D, the best cell's seed-mean loss (over methods, and over pools where two
  pools keep the same D: 25% of 100k and all of 25k).
- Two forms of the frontier: the power law L = A/D^B + C (squeeze/scaling/fit.py) and the exponential
  L = A exp(-D/D_s) + C. The paper's claim, "loss can fall exponentially in the kept data" (its theory: error
  ~ exp(-c * pruned examples per parameter) with the best pruning), is the second: at a fixed model, loss minus
  its floor C falls by a factor e every D_s kept tokens, so on log-log axes it bends down where a power law is
  straight.
- `compare_forms`: leave-one-size-out prediction error of each form (fit on every frontier point but one kept
  size, predict it; RMS over the held-out sizes), with 90% intervals over seed noise (each cell's seeds
  resampled, the frontier rebuilt and every fit redone), and a verdict on their difference: "power law",
  "exponential" or "cannot tell apart".
- `regime`: at each pool size, easy minus hard (prototypes keeping the documents near vs far from their
  centroid), the mean over the kept fractions < 1 with a 90% interval over seeds, and the pool where the sign
  changes (the paper: easy wins when data is scarce, hard when it is plentiful).
Exercised by tests/test_frontier.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from squeeze.scaling.fit import fit_power_law, percentile_interval, refit_power_law

LEVEL = 0.9
D_S_GRID = 400  # decay lengths the exponential's profile search scans, geometric over [min D / 30, 30 max D]


@dataclass(frozen=True)
class Cell:
    """One benchmark cell: a method at a pool size (tokens) keeping `kept` tokens, its loss per seed."""
    method: str
    pool: int
    kept: int
    losses: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.losses))


@dataclass(frozen=True)
class FrontierPoint:
    kept: int
    loss: float  # the best cell's seed mean
    method: str
    pool: int


def frontier(cells: list[Cell]) -> list[FrontierPoint]:
    """At each kept token count, the cell with the lowest seed-mean loss (the first given on a tie), by D."""
    best: dict[int, Cell] = {}
    for c in cells:
        if c.losses and (c.kept not in best or c.mean < best[c.kept].mean):
            best[c.kept] = c
    return [FrontierPoint(d, best[d].mean, best[d].method, best[d].pool) for d in sorted(best)]


def exponential(D, A, D_s, C):
    """L(D) = A exp(-D/D_s) + C, elementwise."""
    return A * np.exp(-np.asarray(D, dtype=float) / D_s) + C


@dataclass(frozen=True)
class ExpFit:
    A: float
    D_s: float  # the decay length: loss above its floor falls by e every D_s tokens
    C: float
    rss: float

    def predict(self, D):
        return exponential(D, self.A, self.D_s, self.C)


def _profile(D, y, S):
    """For each decay length in S: the (A, C) >= 0 minimizing sum (A exp(-D/s) + C - y)^2 and its RSS (the free
    2x2 solution where it is feasible, else the better bound case A = 0 or C = 0), in one vectorized pass.
    Returns (rss, A, C) of the best s and that s."""
    U = np.exp(-D[:, None] / S[None, :])  # n x G
    n, sy, syy = len(y), y.sum(), y @ y
    su, suu, suy = U.sum(0), (U * U).sum(0), y @ U
    rss = lambda A, C: syy - 2 * A * suy - 2 * C * sy + A * A * suu + 2 * A * C * su + C * C * n  # noqa: E731
    det = suu * n - su * su
    ok = det > 1e-12 * np.maximum(suu * n, 1e-300)
    safe = np.where(ok, det, 1.0)
    A_f, C_f = (suy * n - su * sy) / safe, (suu * sy - su * suy) / safe
    free = ok & (A_f >= 0) & (C_f >= 0)
    cands = [(np.where(free, A_f, 0.0), np.where(free, C_f, 0.0), free),
             (np.zeros_like(su), np.full_like(su, max(sy / n, 0.0)), np.ones_like(free)),
             (np.maximum(suy / np.maximum(suu, 1e-300), 0.0), np.zeros_like(su), np.ones_like(free))]
    best = None
    for A, C, valid in cands:
        r = np.where(valid, rss(A, C), np.inf)
        j = int(np.argmin(r))
        if best is None or r[j] < best[0]:
            best = (float(r[j]), float(A[j]), float(C[j]), float(S[j]))
    return best


def fit_exponential(D, y) -> ExpFit:
    """Least-squares fit of L = A exp(-D/D_s) + C, A, C >= 0: a profile search over D_s (the law is linear in A
    and C at fixed D_s, so their best values are exact), then a bounded solve from its best point."""
    D, y = np.asarray(D, dtype=float), np.asarray(y, dtype=float)
    if D.ndim != 1 or D.shape != y.shape or len(np.unique(D)) < 3:
        raise ValueError("an exponential fit needs 1-D D and y of one length with >= 3 distinct D")
    lo, hi = D.min() / 30, D.max() * 30
    best = _profile(D, y, np.geomspace(lo, hi, D_S_GRID))
    _, A0, C0, s0 = best
    scale = float(np.max(D))

    def residual(p):  # p = (A, log D_s / scale, C): the log keeps D_s positive and the steps even
        return p[0] * np.exp(-D / (scale * np.exp(p[1]))) + p[2] - y

    def jac(p):
        x = D / (scale * np.exp(p[1]))
        e = np.exp(-x)
        return np.column_stack([e, p[0] * e * x, np.ones_like(e)])

    p0 = np.array([A0, math.log(s0 / scale), C0])
    bounds = ([0, math.log(lo / scale), 0], [np.inf, math.log(hi / scale), np.inf])
    r = least_squares(residual, p0, jac=jac, bounds=bounds, xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
    rss = float(np.sum(r.fun ** 2))
    if rss > best[0]:  # the solver wandered: keep the profile point
        return ExpFit(float(A0), float(s0), float(C0), float(best[0]))
    return ExpFit(float(r.x[0]), float(scale * np.exp(r.x[1])), float(r.x[2]), rss)


def loso_errors(D, y, power_starts=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Leave-one-size-out: for each point i, (power law, exponential) fitted on the others, predicting y[i] minus
    y[i], and the power-law fits. Needs >= 4 distinct D (3 left for a 3-parameter fit). `power_starts`: earlier
    power-law fits per held-out point, refitted from (a bootstrap draw) instead of the full multi-start search."""
    D, y = np.asarray(D, dtype=float), np.asarray(y, dtype=float)
    if len(np.unique(D)) < 4:
        raise ValueError(f"leave-one-size-out needs >= 4 kept sizes, got {len(np.unique(D))}")
    e_pow, e_exp, fits = np.empty(len(D)), np.empty(len(D)), []
    for i in range(len(D)):
        rest = np.arange(len(D)) != i
        pw = (refit_power_law(D[rest], y[rest], power_starts[i]) if power_starts is not None
              else fit_power_law(D[rest], y[rest]))
        fits.append(pw)
        e_pow[i] = float(pw.predict(D[i])) - y[i]
        e_exp[i] = float(fit_exponential(D[rest], y[rest]).predict(D[i])) - y[i]
    return e_pow, e_exp, fits


def _rms(e) -> float:
    return float(np.sqrt(np.mean(np.square(e))))


def resample(cells: list[Cell], rng: np.random.Generator) -> list[Cell]:
    """Each cell's seeds drawn with replacement and spread about their mean by sqrt(k/(k-1)) (k draws of k seeds
    carry (k-1)/k of the seed variance: squeeze/scaling/fit.py does the same); a one-seed cell stays fixed."""
    out = []
    for c in cells:
        v, k = np.asarray(c.losses, dtype=float), len(c.losses)
        if k < 2:
            out.append(c)
            continue
        draw = rng.choice(v, size=k)
        draw = v.mean() + math.sqrt(k / (k - 1)) * (draw - v.mean())
        out.append(Cell(c.method, c.pool, c.kept, tuple(float(x) for x in draw)))
    return out


@dataclass(frozen=True)
class FormComparison:
    power: object  # PowerLawFit on the whole frontier
    exp: ExpFit
    rms_power: float  # leave-one-size-out RMS prediction error, nats
    rms_exp: float
    rms_power_ci: tuple[float, float]
    rms_exp_ci: tuple[float, float]
    diff_ci: tuple[float, float]  # rms_power - rms_exp: > 0 favours the exponential
    verdict: str  # "power law", "exponential" or "cannot tell apart"
    n_boot: int

    @property
    def diff(self) -> float:
        return self.rms_power - self.rms_exp


def verdict(diff_ci: tuple[float, float]) -> str:
    """power law when its held-out error is lower beyond noise (the interval of rms_power - rms_exp below 0),
    exponential when above 0, else cannot tell apart."""
    lo, hi = diff_ci
    return "exponential" if lo > 0 else "power law" if hi < 0 else "cannot tell apart"


def compare_forms(cells: list[Cell], n_boot: int = 200, seed: int = 0, level: float = LEVEL) -> FormComparison:
    """Fit both forms to the frontier, score each by leave-one-size-out error, and bootstrap over seed noise. A cell
    with one seed has no noise to resample: with any such cell no interval is drawn (NaN) and the verdict is
    "cannot tell apart", never a difference "beyond noise" that no noise was measured for."""
    if any(len(c.losses) < 2 for c in cells):
        n_boot = 0
    pts = frontier(cells)
    D, y = np.array([p.kept for p in pts], dtype=float), np.array([p.loss for p in pts])
    e_pow, e_exp, starts = loso_errors(D, y)  # the power-law fits: the bootstrap's starts
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        bp = frontier(resample(cells, rng))
        bp_e_pow, bp_e_exp, _ = loso_errors([p.kept for p in bp], [p.loss for p in bp], starts)
        boot.append((_rms(bp_e_pow), _rms(bp_e_exp)))
    boot = np.array(boot).reshape(-1, 2)
    ci = lambda v: percentile_interval(v, level) if len(v) else (math.nan, math.nan)  # noqa: E731
    diff_ci = ci(boot[:, 0] - boot[:, 1])
    return FormComparison(fit_power_law(D, y), fit_exponential(D, y), _rms(e_pow), _rms(e_exp), ci(boot[:, 0]),
                          ci(boot[:, 1]), diff_ci, verdict(diff_ci) if n_boot else "cannot tell apart", n_boot)


@dataclass(frozen=True)
class PoolRegime:
    pool: int
    diff: float  # easy minus hard, nats, mean over the kept fractions < 1 (< 0: keeping the easy ones is better)
    interval: tuple[float, float]
    fractions: int  # kept fractions it averages over
    keep: str  # "easy" or "hard" (beyond noise), "either" (the interval holds 0)


def _easy_minus_hard(cells: list[Cell], pool: int, easy: str, hard: str) -> tuple[float, int]:
    by = {(c.method, c.kept): c for c in cells if c.pool == pool and c.kept < pool}
    diffs = [by[(easy, k)].mean - by[(hard, k)].mean for m, k in by if m == easy and (hard, k) in by]
    return (float(np.mean(diffs)) if diffs else math.nan), len(diffs)


def regime(cells: list[Cell], easy: str = "prototypes-easy", hard: str = "prototypes-hard", n_boot: int = 2000,
           seed: int = 0, level: float = LEVEL) -> list[PoolRegime]:
    """At each pool size (ascending), easy minus hard with an interval over seeds; pools lacking a pair are left
    out, and a pool with a one-seed cell reads "either" with a NaN interval."""
    rng = np.random.default_rng(seed)
    out = []
    for pool in sorted({c.pool for c in cells}):
        diff, n = _easy_minus_hard(cells, pool, easy, hard)
        if not n:
            continue
        mine = [c for c in cells if c.pool == pool and c.method in (easy, hard) and c.kept < pool]
        if any(len(c.losses) < 2 for c in mine):  # one seed: no noise measured, so no interval and no direction
            out.append(PoolRegime(pool, diff, (math.nan, math.nan), n, "either"))
            continue
        draws = [_easy_minus_hard(resample(mine, rng), pool, easy, hard)[0] for _ in range(n_boot)]
        lo, hi = percentile_interval(draws, level)
        out.append(PoolRegime(pool, diff, (lo, hi), n, "easy" if hi < 0 else "hard" if lo > 0 else "either"))
    return out


def sign_change(rows: list[PoolRegime]) -> dict | None:
    """Where easy minus hard first changes sign between adjacent pools: the pair, the crossing by linear
    interpolation in log pool size, and whether both sides are beyond noise; None if the sign never changes. A pool
    whose difference is exactly 0 has no sign: it is skipped."""
    rows = [r for r in rows if r.diff != 0]
    for a, b in zip(rows, rows[1:]):
        if a.diff * b.diff < 0:
            t = a.diff / (a.diff - b.diff)
            cross = math.exp(math.log(a.pool) + t * (math.log(b.pool) - math.log(a.pool)))
            return {"between": [a.pool, b.pool], "pool": round(cross), "from": "easy" if a.diff < 0 else "hard",
                    "to": "easy" if b.diff < 0 else "hard", "beyond_noise": "either" not in (a.keep, b.keep)}
    return None

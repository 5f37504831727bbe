"""Data selection as pure functions of arrays: spherical k-means, prototype scores, SemDeDup, D4, perplexity
slices and the random baseline -> a boolean keep-mask over candidate documents.

Keep fractions are over TOKENS, not documents: `--keep 0.5` keeps documents, best score first, until they hold
half of the candidate tokens (the last document taken may overshoot by less than one document), so methods and
the random baseline are compared at equal token counts. Every function takes `ntok_N` (tokens per document;
0 = not a candidate, never kept) and returns bool [N].

Methods (docs/design.md section 1): prototypes (Sorscher et al. 2022: score = 1 - cos to the nearest centroid of a
spherical k-means; keep hard = far from the centroid, or easy), semdedup (Abbas et al. 2023: inside a cluster,
drop a document whose cosine to an already kept one exceeds 1 - eps), d4 (Tirumala et al. 2023: SemDeDup, then
prototypes on the re-clustered survivors), perplexity slices (Marion et al. 2023) and random.
Exercised by tests/test_prune.py; `squeeze prune` (squeeze/prune/pipeline.py) runs it end to end.
"""
import numpy as np
import torch

FAISS_HINT = "pip install 'squeeze[prune]' (faiss-cpu) for fast k-means; the torch fallback is used instead"


def _faiss():
    """The one import point of faiss; None when it is not installed."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def normalize(x_ND: np.ndarray) -> np.ndarray:
    x_ND = np.asarray(x_ND, dtype=np.float32)
    return x_ND / np.maximum(np.linalg.norm(x_ND, axis=1, keepdims=True), 1e-12)


def kmeans_torch(x_ND: np.ndarray, k: int, seed: int, iters: int) -> np.ndarray:
    """Spherical k-means in torch: k-means++ seeding on cosine distance, then Lloyd steps with renormalized
    centroids; an emptied cluster restarts at the point farthest from its centroid. Returns centroids [k, D]."""
    x = torch.from_numpy(normalize(x_ND))
    n = x.shape[0]
    gen = torch.Generator().manual_seed(seed)
    first = int(torch.randint(n, (1,), generator=gen))
    cent = [x[first]]
    dist_N = (1 - x @ x[first]).clamp_min(0)
    for _ in range(1, k):  # k-means++: next seed drawn with probability ~ squared distance
        w = dist_N ** 2
        i = int(torch.multinomial(w, 1, generator=gen)) if w.sum() > 0 else int(torch.randint(n, (1,), generator=gen))
        cent.append(x[i])
        dist_N = torch.minimum(dist_N, (1 - x @ x[i]).clamp_min(0))
    c_KD = torch.stack(cent)
    for _ in range(iters):
        sim_NK = x @ c_KD.T
        best_N = sim_NK.argmax(1)
        new_KD = torch.zeros_like(c_KD).index_add_(0, best_N, x)
        counts = torch.bincount(best_N, minlength=k)
        for j in torch.nonzero(counts == 0).flatten().tolist():  # empty cluster: take the worst-served point
            far = int(sim_NK.max(1).values.argmin())
            new_KD[j] = x[far]
            sim_NK[far] = 2.0  # not picked twice
        new_KD = new_KD / new_KD.norm(dim=1, keepdim=True).clamp_min(1e-12)
        if torch.equal(new_KD, c_KD):
            break
        c_KD = new_KD
    return c_KD.numpy()


def kmeans(x_ND: np.ndarray, k: int, seed: int = 0, iters: int = 25, backend: str = "auto") -> np.ndarray:
    """Spherical k-means centroids [k, D] (unit norm) with faiss when installed (backend auto/faiss), else torch.
    k is capped at the number of points."""
    x = np.ascontiguousarray(normalize(x_ND))
    k = max(1, min(k, len(x)))
    faiss = _faiss() if backend in ("auto", "faiss") else None
    if backend == "faiss" and faiss is None:
        raise ImportError(FAISS_HINT)
    if faiss is None:
        return kmeans_torch(x, k, seed, iters)
    # max_points_per_centroid: use every point (faiss subsamples to 256 per centroid by default)
    km = faiss.Kmeans(x.shape[1], k, niter=iters, seed=seed, spherical=True, verbose=False,
                      max_points_per_centroid=max(256, len(x) // k + 1))
    km.train(x)
    return normalize(km.centroids)


def assign(x_ND: np.ndarray, c_KD: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest centroid [N], cosine to it [N]) of unit rows, in blocks to bound memory at 100k x 1000."""
    x = normalize(x_ND)
    best, cos = np.empty(len(x), dtype=np.int64), np.empty(len(x), dtype=np.float32)
    for s in range(0, len(x), 8192):
        sim = x[s:s + 8192] @ c_KD.T
        best[s:s + 8192] = sim.argmax(1)
        cos[s:s + 8192] = sim.max(1)
    return best, cos


def take_until(order: np.ndarray, ntok_N: np.ndarray, target_tokens: float) -> np.ndarray:
    """Keep documents in `order` (non-candidates skipped) until they hold >= target_tokens."""
    order = order[ntok_N[order] > 0]
    cum = np.cumsum(ntok_N[order])
    n = int(np.searchsorted(cum, target_tokens - 1e-9)) + 1 if target_tokens > 0 else 0
    keep = np.zeros(len(ntok_N), dtype=bool)
    keep[order[:n]] = True
    return keep


def random_keep(ntok_N: np.ndarray, frac: float, seed: int = 0, target_tokens: float | None = None) -> np.ndarray:
    """The honest baseline: a seeded random order of the documents, cut at frac of the candidate tokens (or at
    target_tokens, to match another method's kept tokens exactly)."""
    target = frac * ntok_N.sum() if target_tokens is None else target_tokens
    return take_until(np.random.default_rng(seed).permutation(len(ntok_N)), ntok_N, target)


def _balanced_quotas(cluster_tokens: np.ndarray, target: float) -> np.ndarray:
    """Token quota per cluster: equal shares, a cluster smaller than its share keeps all and the rest is shared
    out again (water-filling)."""
    quota, left, open_ = np.zeros(len(cluster_tokens)), float(target), cluster_tokens > 0
    while left > 1e-9 and open_.any():
        share = left / open_.sum()
        small = open_ & (cluster_tokens - quota <= share)
        if not small.any():
            quota[open_] += share
            break
        left -= float((cluster_tokens[small] - quota[small]).sum())
        quota[small] = cluster_tokens[small]
        open_ &= ~small
    return quota


def prototype_keep(score_N: np.ndarray, ntok_N: np.ndarray, frac: float, hard: bool = True,
                   cluster_N: np.ndarray | None = None, balance: bool = False) -> np.ndarray:
    """Keep the hardest (highest score) or easiest documents up to frac of candidate tokens; with balance, each
    cluster gets an equal token quota (clusters smaller than it keep everything). Ties break by index."""
    key = -score_N if hard else score_N
    order = np.lexsort((np.arange(len(key)), key))
    target = frac * ntok_N.sum()
    if not balance:
        return take_until(order, ntok_N, target)
    cand = ntok_N > 0
    k = int(cluster_N.max()) + 1
    quota = _balanced_quotas(np.bincount(cluster_N[cand], weights=ntok_N[cand], minlength=k), target)
    keep = np.zeros(len(score_N), dtype=bool)
    for j in range(k):
        in_j = order[cluster_N[order] == j]
        keep |= take_until(in_j, ntok_N, quota[j]) if quota[j] > 0 else False
    return keep


def semdedup_keep(x_ND: np.ndarray, cluster_N: np.ndarray, eps: float, cand_N: np.ndarray | None = None) -> np.ndarray:
    """Inside each cluster, walk the documents in store order and drop one whose cosine similarity to a document
    already kept exceeds 1 - eps (the first of a near-duplicate group survives)."""
    x = normalize(x_ND)
    cand = np.ones(len(x), dtype=bool) if cand_N is None else cand_N
    keep = np.zeros(len(x), dtype=bool)
    for j in np.unique(cluster_N[cand]):
        idx = np.flatnonzero(cand & (cluster_N == j))
        sim = x[idx] @ x[idx].T
        kept: list[int] = []
        for a in range(len(idx)):
            if not kept or sim[a, kept].max() <= 1 - eps:
                kept.append(a)
        keep[idx[kept]] = True
    return keep


def eps_for_keep(x_ND: np.ndarray, cluster_N: np.ndarray, ntok_N: np.ndarray, frac: float,
                 steps: int = 30) -> tuple[float, np.ndarray]:
    """The eps whose SemDeDup keeps the kept-token count closest to frac of the candidate tokens (bisection:
    a larger eps drops more). Returns (eps, keep)."""
    cand, target = ntok_N > 0, frac * ntok_N.sum()
    lo, hi = 0.0, 2.0  # eps 0 drops only exact copies; eps 2 keeps one document per cluster
    best = (np.inf, 0.0, None)
    for _ in range(steps):
        mid = (lo + hi) / 2
        keep = semdedup_keep(x_ND, cluster_N, mid, cand)
        kept = ntok_N[keep].sum()
        if abs(kept - target) < best[0]:
            best = (abs(kept - target), mid, keep)
        if kept > target:
            lo = mid
        else:
            hi = mid
    return best[1], best[2]


def slice_keep(score_N: np.ndarray, ntok_N: np.ndarray, frac: float, where: str) -> np.ndarray:
    """Perplexity slices over tokens: `low` = lowest scores, `high` = highest, `middle` = the documents whose
    token mass sits in the central frac of the score-sorted stream (Marion et al. 2023 found middle 50% best)."""
    order = np.lexsort((np.arange(len(score_N)), score_N))
    order = order[ntok_N[order] > 0]
    if where == "low":
        return take_until(order, ntok_N, frac * ntok_N.sum())
    if where == "high":
        return take_until(order[::-1], ntok_N, frac * ntok_N.sum())
    if where != "middle":
        raise ValueError(f"slice {where!r}: expected low, middle or high")
    total, cum = ntok_N.sum(), np.cumsum(ntok_N[order])
    centre = cum - ntok_N[order] / 2  # token-mass midpoint of each document
    by_distance = order[np.argsort(np.abs(centre / total - 0.5), kind="stable")]
    return take_until(by_distance, ntok_N, frac * total)


def fit_to_target(keep_N: np.ndarray, priority_N: np.ndarray, ntok_N: np.ndarray,
                  target_tokens: int) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Whole documents keep a selection's token count off its target by up to a document (15,360 kept of a 10,000
    target at 9 candidate documents). This makes it exact: kept documents in priority order (highest first) while
    they fit, then documents the method left out, and the first that does not fit whole is cut to the tokens still
    missing (its first tokens). Returns (keep [N], (document, tokens) of the cut one or None); pure."""
    cand = ntok_N > 0
    order = np.lexsort((np.arange(len(priority_N)), -np.asarray(priority_N, dtype=float)))
    order = np.concatenate([order[keep_N[order] & cand[order]], order[~keep_N[order] & cand[order]]])
    cum = np.cumsum(ntok_N[order])
    whole = int(np.searchsorted(cum, target_tokens, side="right"))  # documents that fit whole
    out = np.zeros(len(keep_N), dtype=bool)
    out[order[:whole]] = True
    missing = int(target_tokens - (cum[whole - 1] if whole else 0))
    if missing >= 2 and whole < len(order):  # a cut of < 2 tokens would predict nothing
        return out, (int(order[whole]), missing)
    return out, None

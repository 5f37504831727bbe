"""Data selection end to end: score the training documents of a budget, select a subset, write the keep-mask, its
summary and its score plot. `squeeze prune` and the study's selection step both call `prune_documents`.

    prune_documents(PruneOptions(data=STORE, method="prototypes", keep=0.5, out="mask.json"))

Writes MASK (see squeeze/data/mask.py), MASK without .json + `.summary.json` (kept documents and tokens, per
cluster counts, eps, timings) and `.scores.png` (score histogram, kept vs dropped). `keep` is a fraction of the
candidate TOKENS (the training documents inside the budget). Validation documents are never read.
Then train on the subset: `squeeze train --data STORE --data.keep_mask=mask.json ...`.
Exercised by tests/test_prune.py.
"""
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from squeeze import config as config_mod
from squeeze.data.mask import budget_doc_tokens, save_mask
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.io import atomic_write, make_dir, write_json
from squeeze.prune import select
from squeeze.prune.embed import cached_embeddings, make_embedder
from squeeze.prune.perplexity import reference_config, reference_scores
from squeeze.prune.rule import keep_direction

METHODS = ("prototypes", "semdedup", "d4", "perplexity", "random")


@dataclass(frozen=True)
class PruneOptions:
    """What `squeeze prune` asks for; the flags of the same names (--keep-hard / --keep-easy set `hard`)."""
    data: str  # token store directory
    method: str  # one of METHODS
    out: str  # keep-mask file to write (JSON)
    keep: float | None = None  # fraction of the candidate tokens to keep, in (0, 1]
    budget_tokens: int = 0  # select inside this budget prefix (0 = whole store)
    clusters: int = 0  # k-means clusters (0 = sqrt(candidate documents))
    hard: bool | None = None  # prototypes/d4: keep documents far from (True) or near (False) their centroid;
    # None: squeeze/prune/rule.py's rule for the candidate tokens (as benchmarks/pruning_frontier.py measured it)
    balance: bool = False  # prototypes/d4: equal token quota per cluster
    eps: float | None = None  # semdedup/d4: drop cos > 1 - eps (else searched for `keep`)
    dedup_keep: float = 0.75  # d4: token fraction SemDeDup keeps before prototypes
    slice: str = "middle"  # perplexity: low, middle or high
    embedder: str = "minilm"  # minilm, or a squeeze run directory (mean hidden states)
    cache: str | None = None  # embedding cache directory (default: STORE/embeddings)
    ref_config: str | None = None  # perplexity: reference model config.json (default: 2x64)
    ref_dir: str | None = None  # perplexity: where reference runs go (default: MASK.ref/)
    workers: int = 1  # perplexity: reference runs in parallel
    seed: int = 0  # k-means, fold and random seed

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SqueezeError(f"--method {self.method}: must be one of {', '.join(METHODS)}")
        if self.keep is not None and not 0 < self.keep <= 1:
            raise SqueezeError(f"--keep {self.keep}: must be in (0, 1]")
        if self.keep is None and not (self.method == "semdedup" and self.eps is not None):
            raise SqueezeError(f"--method {self.method} needs --keep F"
                               + (" or --eps E" if self.method == "semdedup" else ""))
        if self.eps is not None and not 0 <= self.eps <= 2:
            raise SqueezeError(f"--eps {self.eps}: must be in [0, 2]")
        if not 0 < self.dedup_keep <= 1 or self.clusters < 0:
            raise SqueezeError("--dedup-keep must be in (0, 1] and --clusters >= 0")


def _clusters(x, cand, k, seed):
    k = k or max(1, round(np.sqrt(cand.sum())))
    cent = select.kmeans(x[cand], k, seed)
    cluster = np.full(len(x), -1, dtype=np.int64)
    cos = np.zeros(len(x), dtype=np.float32)
    cluster[cand], cos[cand] = select.assign(x[cand], cent)
    return cluster, 1.0 - cos, len(cent)


def select_docs(a: "PruneOptions", store, ntok, say) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(keep [N], score [N] or None, extra summary fields) for the method asked for."""
    cand, info = ntok > 0, {}
    if a.method == "random":
        return select.random_keep(ntok, a.keep, a.seed), None, info
    if a.method == "perplexity":
        ref = config_mod.load(a.ref_config) if a.ref_config else reference_config(a.data, a.budget_tokens)
        ref.data.path, ref.data.budget_tokens = a.data, a.budget_tokens
        work = Path(a.ref_dir) if a.ref_dir else Path(str(a.out) + ".ref")
        score = reference_scores(store, ntok, ref, work, a.seed, workers=a.workers, say=say)
        return select.slice_keep(score, ntok, a.keep, a.slice), score, {"slice": a.slice, "ref_dir": str(work)}
    n_docs = int(np.flatnonzero(cand).max()) + 1
    x = _pad(cached_embeddings(make_embedder(a.embedder), store, n_docs, a.cache, say), len(ntok))
    t0 = time.perf_counter()
    cluster, score, k = _clusters(x, cand, a.clusters, a.seed)
    info.update(clusters=k, kmeans_seconds=round(time.perf_counter() - t0, 3), embedder=a.embedder)
    if a.method == "prototypes":
        keep = select.prototype_keep(score, ntok, a.keep, a.hard, cluster, a.balance)
        return keep, score, {**info, "cluster": cluster, "hard": a.hard, "balance": a.balance}
    if a.eps is not None:
        eps, dedup = a.eps, select.semdedup_keep(x, cluster, a.eps, cand)
    else:
        eps, dedup = select.eps_for_keep(x, cluster, ntok, a.keep if a.method == "semdedup" else a.dedup_keep)
    info["eps"] = eps
    if a.method == "semdedup":
        return dedup, score, {**info, "cluster": cluster}
    # d4: re-cluster the survivors, then prototypes on them up to --keep of the ORIGINAL candidate tokens
    survivors = np.where(dedup, ntok, 0)
    cluster, score, k = _clusters(x, dedup, a.clusters, a.seed)
    frac = min(1.0, a.keep * ntok.sum() / max(survivors.sum(), 1))
    keep = select.prototype_keep(score, survivors, frac, a.hard, cluster, a.balance)
    return keep, np.where(dedup, score, np.nan), {**info, "cluster": cluster, "dedup_kept_tokens":
                                                  int(survivors.sum()), "hard": a.hard, "balance": a.balance}


def priority(a: PruneOptions, score, ntok) -> np.ndarray:
    """The order in which a method values documents (highest first), for cutting its selection to the target:
    prototypes / d4 their score (hard: far from the centroid first), perplexity its slice (middle: the median
    first), random and semdedup (no ranking among survivors) a seeded random order."""
    if score is None or a.method == "semdedup":
        return np.random.default_rng([a.seed, 11]).permutation(len(ntok)).astype(float)
    s = np.nan_to_num(np.asarray(score, dtype=float), nan=-np.inf if a.method != "perplexity" else np.inf)
    if a.method == "perplexity":
        median = float(np.median(s[(ntok > 0) & np.isfinite(s)]))
        return {"low": -s, "high": s, "middle": -np.abs(s - median)}[a.slice]
    return s if a.hard else -s


def _pad(x: np.ndarray, n: int) -> np.ndarray:
    """Embeddings of the first len(x) documents, zero rows for documents past the budget (never candidates)."""
    return np.concatenate([x, np.zeros((n - len(x), x.shape[1]), np.float32)]) if len(x) < n else x


def _plot(path: Path, score, keep, cand, title: str) -> None:
    s = score[cand & np.isfinite(score)]
    fig = Figure(figsize=(6, 3.5))  # no pyplot: no global figure state, no display backend
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bins = np.histogram_bin_edges(s, bins=40)
    ax.hist(score[cand & keep & np.isfinite(score)], bins=bins, alpha=0.7, label="kept")
    ax.hist(score[cand & ~keep & np.isfinite(score)], bins=bins, alpha=0.7, label="dropped")
    ax.set_xlabel(title)
    ax.set_ylabel("documents")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


def prune_documents(a: PruneOptions, say: Callable[[str], None] = lambda m: None) -> dict:
    """Select, then write the keep-mask, its summary and its score plot; returns the summary (with `out`)."""
    t0 = time.perf_counter()
    store = TokenStore.open(a.data)
    ntok = budget_doc_tokens(store, a.budget_tokens)
    rule = None
    if a.hard is None:  # easy or hard by the recorded rule for this many candidate tokens
        rule = keep_direction(int(ntok.sum()))
        a = replace(a, hard=rule.hard)
        if a.method in ("prototypes", "d4"):
            say(f"keeping the {rule.keep} documents: {rule.reason}")
    keep, score, info = select_docs(a, store, ntok, say)
    if rule is not None and a.method in ("prototypes", "d4"):
        info["keep_rule"] = rule.as_dict()
    keep &= ntok > 0
    partial, target = None, None
    if a.keep is not None:  # exactly the target tokens, like for like across methods (the last document cut)
        target = int(round(a.keep * ntok.sum()))
        keep, partial = select.fit_to_target(keep, priority(a, score, ntok), ntok, target)
    cluster = info.pop("cluster", None)
    out = Path(a.out)
    make_dir(out.parent)
    stem = out.with_suffix("") if out.suffix == ".json" else out
    summary = {"method": a.method, "keep": a.keep, "seed": a.seed, "budget_tokens": a.budget_tokens,
               "fraction_of": "tokens", "candidate_docs": int((ntok > 0).sum()), "candidate_tokens": int(ntok.sum()),
               "kept_docs": int(keep.sum()), "kept_tokens": int(ntok[keep].sum()) + (partial[1] if partial else 0),
               "target_tokens": target, "partial": list(partial) if partial else None, **info}
    if cluster is not None:
        k = int(cluster.max()) + 1
        summary["per_cluster"] = [{"cluster": j, "docs": int((cluster == j).sum()), "kept_docs": int(
            (keep & (cluster == j)).sum()), "kept_tokens": int(ntok[keep & (cluster == j)].sum())} for j in range(k)]
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    # the mask last: a study takes an existing mask for a finished selection, so a kill before it leaves no mask
    # and the re-run writes all three again (benchmarks/kill_trials.py)
    if score is not None:
        what = "mean loss (nats/token)" if a.method == "perplexity" else "1 - cos to nearest centroid"
        _plot(Path(f"{stem}.scores.png"), score, keep, ntok > 0, what)
    write_json(f"{stem}.summary.json", summary)
    save_mask(out, store, keep, partial, method=a.method, budget_tokens=a.budget_tokens, keep_fraction=a.keep,
              kept_tokens=summary["kept_tokens"], target_tokens=target, seed=a.seed)
    return {**summary, "out": str(out), "summary_path": f"{stem}.summary.json"}

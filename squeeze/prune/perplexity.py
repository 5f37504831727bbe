"""Perplexity scores from small reference models trained on the training budget itself (cross-fitted).

The candidate documents are split into `folds` seeded halves (or thirds...); reference model f is an ordinary
trainer run (squeeze.train.trainer.train via squeeze.runs.execute, so runs are resumable and skipped when
finished) on every fold but f, through a keep-mask, and scores fold f. Every document is thus scored by a model
that never saw it, and only training documents of the budget are used: validation stays untouched.
Score = mean next-token loss (nats) of the document's tokens inside the budget.
Exercised by tests/test_prune.py and `squeeze prune --method perplexity`.
"""
from pathlib import Path

import numpy as np
import torch

from squeeze import recipes
from squeeze.config import Config
from squeeze.data.mask import save_mask
from squeeze.evaluation.loss import evaluate
from squeeze.io import make_dir
from squeeze.runs.execute import Job, run_jobs
from squeeze.train.backend import TRAINER
from squeeze.train.checkpoint import load_run


def reference_config(store_path: str, budget_tokens: int) -> Config:
    """The default reference model: small and cheap (Ankner et al. 2024: small reference models work), the
    standard recipe at 2 layers x d 64, ctx 128, 4 epochs, lr 4e-3 (the certified standard lr at 50k tokens in
    benchmarks/RESULTS.md)."""
    c = recipes.recipe("standard")
    c.data.path, c.data.budget_tokens = str(store_path), budget_tokens
    c.model.n_layer, c.model.d_model, c.model.n_head, c.model.seq_len = 2, 64, 2, 128
    c.train.lr, c.train.epochs, c.train.batch_size, c.train.eval_tokens = 4e-3, 4, 16, 8192
    return c


def fold_of(ntok_N: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """int [N]: each candidate document's fold (-1 for non-candidates), a seeded balanced split by documents."""
    cand = np.flatnonzero(ntok_N > 0)
    fold = np.full(len(ntok_N), -1, dtype=np.int64)
    fold[np.random.default_rng([seed, 7]).permutation(cand)] = np.arange(len(cand)) % folds
    return fold


@torch.no_grad()
def doc_losses(model, store, docs: np.ndarray, ntok_N: np.ndarray, seq_len: int) -> np.ndarray:
    """Mean next-token loss of each document's first ntok tokens (nan for a document of < 2 tokens)."""
    out = np.full(len(docs), np.nan)
    for i, d in enumerate(docs):
        n = int(ntok_N[d])
        if n >= 2:
            s = int(store.train_offsets[d])
            out[i] = evaluate(model, store.train[s:s + n], store.token_bytes, seq_len, 16)["loss"]
    return out


def reference_scores(store, ntok_N: np.ndarray, ref_cfg: Config, work_dir: Path, seed: int = 0, folds: int = 2,
                     workers: int = 1, say=lambda *a: None) -> np.ndarray:
    """float [N] mean loss of every candidate document under a reference model that did not train on it."""
    if folds < 2:
        raise ValueError("folds must be >= 2 (a document must not score itself)")
    make_dir(work_dir)
    fold = fold_of(ntok_N, folds, seed)
    jobs = []
    for f in range(folds):
        mask_path = work_dir / f"fold{f}_train.mask.json"
        save_mask(mask_path, store, (fold >= 0) & (fold != f), method="perplexity-reference", fold=f)
        cfg = ref_cfg.copy()
        cfg.data.keep_mask = str(mask_path)
        # its own label: a fold's run must never count as a recipe's point in a study
        cfg.recipe = recipes.Recipe.PERPLEXITY_REFERENCE
        jobs.append(Job(cfg, work_dir / f"ref{f}", needs_weights=True))  # read below, even if it finished earlier
    say(f"perplexity: training {folds} reference models in {work_dir}")
    run_jobs(jobs, TRAINER, workers=workers, threads_per_worker=1 if workers > 1 else None)
    score = np.full(len(ntok_N), np.nan)
    for f, job in enumerate(jobs):
        cfg, model, _ = load_run(job.run_dir)
        docs = np.flatnonzero(fold == f)
        score[docs] = doc_losses(model, store, docs, ntok_N, cfg.model.seq_len)
    if np.isnan(score[ntok_N > 0]).any():  # one-token documents: score them as typical
        score[(ntok_N > 0) & np.isnan(score)] = np.nanmedian(score[ntok_N > 0])
    return score

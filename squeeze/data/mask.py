"""Keep-masks on disk, and the training stream they leave: the only place a selection meets the trainer.

A keep-mask is a plain JSON file (never a pickle) with one flag per TRAINING document of one token store, in the
store's fixed order; validation documents are never in it. It names the store it was made for (a fingerprint of
the tokenizer and of the training token arrays) and the document count, so a mask for another store is refused
with a one-line error instead of silently selecting the wrong documents.

    {"format": "squeeze-keep-mask", "version": 1, "store_fingerprint": "...", "n_train_docs": 1866,
     "method": "prototypes", "keep": "0110..."}             # "1" = keep, one character per document

With `data.keep_mask` set the trainer trains on the kept documents inside the budget prefix, concatenated in
store order (a budget cut through a document keeps that document's prefix, as without a mask), so epochs and
tokens per epoch count the kept tokens only. Exercised by tests/test_prune.py and `squeeze train
--data.keep_mask=MASK`.
"""
import hashlib
import os
from pathlib import Path

import numpy as np

from squeeze.errors import SqueezeError
from squeeze.io import read_json, write_json

FORMAT, VERSION = "squeeze-keep-mask", 1
FITNESS_SEED = 0  # one fixed draw per (store, budget, size): every member of an ensemble holds out the same slice


def store_fingerprint(store) -> str:
    """Identity of a store's training documents: tokenizer plus the checksums of its training arrays."""
    sums = store.meta.get("checksums", {})
    key = "\0".join([store.fingerprint, sums.get("train.bin", ""), sums.get("train_offsets.npy", ""),
                     str(store.meta["n_train_docs"])])
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def budget_doc_tokens(store, budget_tokens: int = 0) -> np.ndarray:
    """int64 [n_train_docs]: tokens of each training document inside the budget prefix (0 outside it; the
    document the budget cuts through counts its kept prefix). budget 0 = the whole store."""
    offsets = np.asarray(store.train_offsets, dtype=np.int64)
    end = budget_tokens or int(offsets[-1])
    if not 0 < end <= offsets[-1]:
        raise SqueezeError(f"{store.root}: budget of {budget_tokens} tokens, but the store holds {offsets[-1]} "
                           "training tokens")
    return np.clip(np.minimum(offsets[1:], end) - offsets[:-1], 0, None)


def whole_documents(ntok_N: np.ndarray, length_N: np.ndarray) -> np.ndarray:
    """bool [N]: the documents with all their `length_N` tokens inside the budget (`ntok_N`, budget_doc_tokens):
    never the one the budget cuts."""
    return (ntok_N > 0) & (ntok_N == length_N)


def fitness_slice(store, budget_tokens: int, fitness_tokens: int, seed: int = FITNESS_SEED) -> np.ndarray:
    """bool [n_train_docs]: the fitness slice of a budget, whole training documents inside it (never the one the
    budget cuts, never a validation document) drawn in a seeded order until their tokens reach `fitness_tokens`.
    The trainer never trains on them, but they count in the budget: a run with a slice sees fewer tokens."""
    offsets = np.asarray(store.train_offsets, dtype=np.int64)
    ntok = budget_doc_tokens(store, budget_tokens)
    return fitness_documents(ntok, np.diff(offsets), fitness_tokens, seed, name=str(store.root))


def fitness_documents(ntok_N: np.ndarray, length_N: np.ndarray, fitness_tokens: int, seed: int = FITNESS_SEED,
                      name: str = "") -> np.ndarray:
    """The pure part of `fitness_slice`: documents with all `length_N` tokens inside the budget (`ntok_N`), in a
    seeded random order, the first ones whose tokens reach `fitness_tokens` (the last may overshoot)."""
    whole = np.flatnonzero(whole_documents(ntok_N, length_N))
    order = np.random.default_rng([seed, 17]).permutation(whole)
    reach = np.cumsum(ntok_N[order])
    n = int(np.searchsorted(reach, fitness_tokens)) + 1  # the first n documents reach the slice's size
    if n > len(reach) or ntok_N.sum() - reach[n - 1] < 2:
        raise SqueezeError(f"{name}: data.fitness_tokens={fitness_tokens} needs that many tokens in whole documents "
                           "of the budget and must leave tokens to train on; lower it or raise data.budget_tokens")
    held = np.zeros(len(ntok_N), dtype=bool)
    held[order[:n]] = True
    return held


def save_mask(path: str | os.PathLike, store, keep: np.ndarray, partial: tuple[int, int] | None = None,
              **info) -> None:
    """Write a keep-mask; `partial` = (document, tokens): also keep that document's first `tokens` tokens."""
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (store.meta["n_train_docs"],):
        raise ValueError(f"mask of shape {keep.shape} for {store.meta['n_train_docs']} training documents")
    extra = {"partial": [int(partial[0]), int(partial[1])]} if partial else {}
    write_json(path, {"format": FORMAT, "version": VERSION, "store_fingerprint": store_fingerprint(store),
                      "n_train_docs": int(len(keep)), "kept_docs": int(keep.sum()), **info, **extra,
                      "keep": "".join("1" if k else "0" for k in keep)})


def load_mask(path: str | os.PathLike, store) -> np.ndarray:
    """bool [n_train_docs] from a mask file made for `store`; anything else is a one-line SqueezeError."""
    return load_selection(path, store)[0]


def load_selection(path: str | os.PathLike, store) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(keep flags, the partly kept (document, tokens) or None) from a mask file made for `store`."""
    path = Path(path)
    if not path.is_file():
        raise SqueezeError(f"{path}: no such keep-mask file")
    try:
        d = read_json(path)
    except SqueezeError:
        raise SqueezeError(f"{path}: not a keep-mask (not valid JSON); make one with `squeeze prune`") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != VERSION:
        raise SqueezeError(f"{path}: not a version-{VERSION} squeeze keep-mask; make one with `squeeze prune`")
    n = store.meta["n_train_docs"]
    if d.get("store_fingerprint") != store_fingerprint(store) or d.get("n_train_docs") != n:
        raise SqueezeError(f"{path}: made for another token store ({d.get('n_train_docs')} documents, fingerprint "
                           f"{d.get('store_fingerprint')}), not {store.root} ({n} documents, "
                           f"{store_fingerprint(store)})")
    flags = d.get("keep")
    if not isinstance(flags, str) or len(flags) != n or set(flags) - {"0", "1"}:
        raise SqueezeError(f"{path}: field 'keep' must be a string of {n} characters 0/1")
    keep = np.frombuffer(flags.encode("ascii"), dtype=np.uint8) == ord("1")
    partial = d.get("partial")
    if partial is None:
        return keep, None
    if not (isinstance(partial, list) and len(partial) == 2 and all(isinstance(v, int) for v in partial)
            and 0 <= partial[0] < n and not keep[partial[0]] and partial[1] >= 2):
        raise SqueezeError(f"{path}: field 'partial' must be [document, tokens] of a document not kept whole")
    return keep, (partial[0], partial[1])


def kept_stream(store, keep: np.ndarray, budget_tokens: int = 0, name: str = "",
                partial: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, offsets) of the kept documents inside the budget prefix, concatenated in store order; the `partial`
    document (if any) contributes its first tokens only.

    The copy costs kept tokens x 2-4 bytes of memory (~8 MB per 4M tokens): the loader then needs no notion of
    a mask, and batches stay a pure function of (epoch, step), so resume stays exact."""
    ntok = budget_doc_tokens(store, budget_tokens)
    keep = np.array(keep, dtype=bool)
    if partial is not None:
        keep[partial[0]] = True
        ntok = ntok.copy()
        ntok[partial[0]] = min(int(ntok[partial[0]]), partial[1])
    docs = np.flatnonzero(keep & (ntok > 0))
    if ntok[docs].sum() < 2:
        raise SqueezeError(f"{name or 'keep-mask'}: keeps {int(ntok[docs].sum())} tokens inside the budget; "
                           "need at least 2")
    starts = np.asarray(store.train_offsets, dtype=np.int64)[docs]
    tokens = np.concatenate([np.asarray(store.train[s:s + n]) for s, n in zip(starts, ntok[docs])])
    offsets = np.concatenate([[0], np.cumsum(ntok[docs])]).astype(np.int64)
    return tokens, offsets

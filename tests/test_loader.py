"""Epoch loader: each sequence once per epoch, seeded reshuffles, disjoint rank shards, document shuffling."""
from collections import Counter

import numpy as np
import pytest
import torch

from squeeze.data.loader import EpochLoader
from squeeze.errors import SqueezeError

SEQ = 8


def stream(n=203, seed=0):
    return np.random.default_rng(seed).integers(0, 500, size=n).astype(np.uint16)


def windows(tokens, seq_len=SEQ):
    n = (len(tokens) - 1) // seq_len
    return [tuple(int(t) for t in tokens[i * seq_len:i * seq_len + seq_len + 1]) for i in range(n)]


def epoch_rows(loader, epoch):
    """Every (x, y) row of an epoch as a window tuple of seq_len+1 tokens, in order."""
    rows = []
    for step in range(loader.steps_per_epoch):
        x, y = loader.batch(epoch, step)
        assert x.dtype == torch.int64 and x.shape == y.shape and x.shape[1] == loader.seq_len
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
        rows += [tuple(xr.tolist()) + (yr[-1].item(),) for xr, yr in zip(x, y)]
    return rows


def test_sizes():
    loader = EpochLoader(stream(203), SEQ, batch_size=4, seed=0)
    assert loader.n_sequences == 25 and loader.tokens_per_epoch == 200
    assert loader.steps_per_epoch == 7  # 6 full batches of 4 and one of 1, never dropped
    assert [len(loader.rows(0, s)) for s in range(7)] == [4] * 6 + [1]


def test_one_epoch_visits_every_sequence_once():
    tokens = stream()
    loader = EpochLoader(tokens, SEQ, batch_size=4, seed=0)
    rows = epoch_rows(loader, 0)
    assert Counter(rows) == Counter(windows(tokens)) and len(rows) == 25


def test_epochs_differ_and_seeds_repeat():
    tokens = stream()
    a, b = EpochLoader(tokens, SEQ, 4, seed=0), EpochLoader(tokens, SEQ, 4, seed=0)
    assert epoch_rows(a, 0) == epoch_rows(b, 0)
    assert epoch_rows(a, 0) != epoch_rows(a, 1)
    assert epoch_rows(a, 0) != epoch_rows(EpochLoader(tokens, SEQ, 4, seed=1), 0)
    # a pure function of (epoch, step): asking out of order changes nothing
    x1, _ = a.batch(1, 3)
    a.batch(0, 0)
    assert torch.equal(a.batch(1, 3)[0], x1)


@pytest.mark.parametrize("batch_size", [3, 4])
def test_two_ranks_split_the_epoch(batch_size):
    tokens = stream()
    one = EpochLoader(tokens, SEQ, 2 * batch_size, seed=0)
    ranks = [EpochLoader(tokens, SEQ, batch_size, seed=0, rank=r, world=2) for r in range(2)]
    assert ranks[0].steps_per_epoch == ranks[1].steps_per_epoch == one.steps_per_epoch
    for step in range(one.steps_per_epoch):  # global batch s is the same set of rows as on one rank
        both = torch.cat([ranks[0].batch(2, step)[0], ranks[1].batch(2, step)[0]])
        assert torch.equal(both, one.batch(2, step)[0])
    r0, r1 = epoch_rows(ranks[0], 2), epoch_rows(ranks[1], 2)
    assert not set(r0) & set(r1) and Counter(r0 + r1) == Counter(windows(tokens))


def test_short_last_batch_split_evenly_some_ranks_empty():
    loader = [EpochLoader(stream(203), SEQ, 4, seed=0, rank=r, world=4) for r in range(4)]
    last = loader[0].steps_per_epoch - 1  # 25 windows = one batch of 16, then 9 rows over 4 ranks
    assert [len(l.rows(0, last)) for l in loader] == [3, 2, 2, 2]
    tiny = [EpochLoader(stream(17), SEQ, 4, seed=0, rank=r, world=4) for r in range(4)]  # 2 windows
    assert [tuple(l.batch(0, 0)[0].shape) for l in tiny] == [(1, SEQ), (1, SEQ), (0, SEQ), (0, SEQ)]


def test_doc_shuffle_keeps_every_token_once():
    tokens = stream(300)
    offsets = np.array([0, 5, 40, 41, 100, 180, 250, 300])
    loader = EpochLoader(tokens, SEQ, 4, seed=0, doc_offsets=offsets, doc_shuffle=True)
    seen = set()
    for epoch in range(3):
        rows = epoch_rows(loader, epoch)
        assert len(rows) == loader.n_sequences == 37
        # inputs of every row plus the last target = the epoch's stream minus its < seq_len tail
        flat = Counter(t for r in rows for t in r[:-1]) + Counter([rows_last_target(loader, epoch)])
        missing = Counter(tokens.tolist()) - flat
        assert sum(missing.values()) == len(tokens) - 1 - loader.tokens_per_epoch
        assert not flat - Counter(tokens.tolist())
        seen.add(tuple(rows))
    assert len(seen) == 3  # window boundaries and orders change each epoch


def rows_last_target(loader, epoch):
    """The target after the last window of the epoch's shuffled stream (the window with the highest index)."""
    for step in range(loader.steps_per_epoch):
        idx = loader.rows(epoch, step)
        if loader.n_sequences - 1 in idx:
            k = int(np.nonzero(idx == loader.n_sequences - 1)[0][0])
            return int(loader.batch(epoch, step)[1][k, -1])
    raise AssertionError


def test_doc_shuffle_moves_documents_whole():
    # documents made of distinct runs: after shuffling, each row is consecutive pieces of documents
    offsets = np.array([0, 10, 30, 33, 64])
    tokens = np.arange(64, dtype=np.uint16)
    loader = EpochLoader(tokens, 4, 2, seed=3, doc_offsets=offsets, doc_shuffle=True)
    _, (new_starts, src_starts) = loader._plan(0)
    perm = [list(offsets[:-1]).index(s) for s in src_starts]
    expected = np.concatenate([tokens[offsets[d]:offsets[d + 1]] for d in perm])
    got = {}
    for step in range(loader.steps_per_epoch):
        x, y = loader.batch(0, step)
        for i, r in enumerate(loader.rows(0, step)):
            got[int(r)] = x[i].tolist() + [int(y[i, -1])]
    for r, row in got.items():
        assert row == expected[r * 4:r * 4 + 5].tolist()


def test_doc_shuffle_accepts_offsets_of_a_longer_store():
    offsets = np.array([0, 50, 120, 400])  # a budget prefix of 150 tokens cuts the third document
    loader = EpochLoader(stream(150), SEQ, 4, seed=0, doc_offsets=offsets, doc_shuffle=True)
    assert loader.doc_lengths.tolist() == [50, 70, 30]


def test_too_short():
    with pytest.raises(SqueezeError, match=r"^train.bin: training data has 8 tokens, fewer than one sequence of "
                                           r"seq_len\+1 = 9$"):
        EpochLoader(stream(8), SEQ, 4, seed=0, name="train.bin")
    assert EpochLoader(stream(9), SEQ, 4, seed=0).n_sequences == 1

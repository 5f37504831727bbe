"""Epoch-aware sampler: every training sequence exactly once per epoch, reshuffled each epoch, split across ranks.

The stream of N tokens is cut into n_seq = (N - 1) // seq_len windows of seq_len + 1 tokens with stride seq_len
(inputs w[:-1], targets w[1:]); the < seq_len tokens left at the end are not predicted that epoch. Epoch e visits
the windows in the order default_rng([seed, e]).permutation(n_seq), whatever the number of ranks, so a run on 1 or
8 ranks sees the same global batches. Global batch s is the chunk [s·B·W, (s+1)·B·W) of that order (B = per-rank
batch, W = world size); rank r takes its r-th part. The last chunk of an epoch may be short: it is neither dropped
nor padded but split as evenly as possible, the first ranks taking one row more, so a rank may get fewer rows than
B, even 0 rows (a [0, seq_len] tensor): the trainer must weight each rank's loss by its row count.

With doc_shuffle, epoch e first concatenates the documents in the order default_rng([seed, e, 1]).permutation, so
the window boundaries move every epoch, then permutes the windows as above. The shuffled stream is never built: a
token position is mapped back to its source through the permuted document lengths (searchsorted), so memory stays
O(n_docs) whatever the corpus size.

`batch(epoch, step)` is a pure function of its arguments: resuming needs only (epoch, step).
Exercised by tests/test_loader.py and by the trainer.
"""
import math

import numpy as np
import torch

from squeeze.errors import SqueezeError


class EpochLoader:
    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int,
                 doc_offsets: np.ndarray | None = None, doc_shuffle: bool = False, rank: int = 0, world: int = 1,
                 name: str | None = None):
        if tokens.ndim != 1:
            raise ValueError(f"tokens must be 1-D, got shape {tokens.shape}")
        if seq_len < 1 or batch_size < 1 or not 0 <= rank < world:
            raise ValueError(f"bad loader shape: seq_len={seq_len} batch_size={batch_size} rank={rank} "
                             f"world={world}")
        self.tokens, self.seq_len, self.batch_size = tokens, seq_len, batch_size
        self.seed, self.rank, self.world = seed, rank, world
        self.n_sequences = (len(tokens) - 1) // seq_len
        if self.n_sequences < 1:
            where = f"{name}: " if name else ""
            raise SqueezeError(f"{where}training data has {len(tokens)} tokens, fewer than one sequence of "
                               f"seq_len+1 = {seq_len + 1}")
        self.doc_shuffle = doc_shuffle
        if doc_shuffle:
            if doc_offsets is None:
                raise ValueError("doc_shuffle needs doc_offsets")
            self.doc_starts, self.doc_lengths = _prefix_documents(np.asarray(doc_offsets), len(tokens))
        self.global_batch = batch_size * world
        self.steps_per_epoch = math.ceil(self.n_sequences / self.global_batch)
        self.tokens_per_epoch = self.n_sequences * seq_len  # targets predicted per epoch
        self._epoch = None  # (epoch, window order, source map) of the last epoch asked for

    def _plan(self, epoch: int):
        """The epoch's window order and, with doc_shuffle, (shuffled-stream starts, source starts) per document."""
        if self._epoch is None or self._epoch[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n_sequences)
            source = None
            if self.doc_shuffle:
                perm = np.random.default_rng([self.seed, epoch, 1]).permutation(len(self.doc_lengths))
                lengths = self.doc_lengths[perm]
                new_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
                source = (new_starts, self.doc_starts[perm])
            self._epoch = (epoch, order, source)
        return self._epoch[1], self._epoch[2]

    def rows(self, epoch: int, step: int) -> np.ndarray:
        """Indices of the windows this rank gets at (epoch, step)."""
        if epoch < 0 or not 0 <= step < self.steps_per_epoch:
            raise IndexError(f"step {step} of epoch {epoch} outside 0..{self.steps_per_epoch - 1}")
        order, _ = self._plan(epoch)
        chunk = order[step * self.global_batch:(step + 1) * self.global_batch]
        # Full chunks split into equal parts of batch_size; the short last chunk as evenly as possible.
        return np.array_split(chunk, self.world)[self.rank]

    def batch(self, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y): LongTensors [rows, seq_len], rows = batch_size except maybe at an epoch's last step."""
        _, source = self._plan(epoch)
        windows = self.rows(epoch, step)
        pos_BT = windows[:, None] * self.seq_len + np.arange(self.seq_len + 1)[None, :]
        if source is not None:  # position in the shuffled stream -> position in `tokens`
            new_starts, src_starts = source
            doc_BT = np.searchsorted(new_starts, pos_BT, side="right") - 1
            pos_BT = src_starts[doc_BT] + (pos_BT - new_starts[doc_BT])
        w_BT = torch.from_numpy(np.asarray(self.tokens[pos_BT]).astype(np.int64))
        return w_BT[:, :-1], w_BT[:, 1:]


def _prefix_documents(offsets: np.ndarray, n_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of the documents of a token prefix of n_tokens: offsets from the full store are cut at
    n_tokens (the last document may be partial) and empty documents dropped."""
    offsets = offsets.astype(np.int64)
    if len(offsets) < 2 or offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] < n_tokens:
        raise ValueError("doc_offsets must start at 0, never decrease, and cover all tokens")
    ends = np.minimum(offsets[1:], n_tokens)
    starts = offsets[:-1]
    keep = ends > starts
    return starts[keep], ends[keep] - starts[keep]

"""Validation loss and bits per byte over held-out tokens, in one pass with memory independent of their number.

Every validation token but the first is predicted exactly once: windows of seq_len+1 tokens with stride seq_len,
the last one shorter. bits per byte = total nats / (ln 2 · total UTF-8 bytes of the predicted tokens), the number
to compare across tokenizers (docs/design.md section 2). Exercised by tests/test_evaluate.py and `squeeze eval`.
"""
import math
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from squeeze.device.precision import autocast, resolve_dtype


def eval_windows(tokens: np.ndarray, seq_len: int, batch_size: int,
                 max_tokens: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x [b, t], y [b, t]) covering tokens[1:n] as targets once each; n = max_tokens + 1 when capped."""
    n = len(tokens) if not max_tokens else min(len(tokens), max_tokens + 1)
    starts = list(range(0, n - 1, seq_len))
    full = [s for s in starts if s + seq_len + 1 <= n]
    for i in range(0, len(full), batch_size):
        rows = np.stack([tokens[s:s + seq_len + 1] for s in full[i:i + batch_size]]).astype(np.int64)
        yield torch.from_numpy(rows[:, :-1]), torch.from_numpy(rows[:, 1:])
    if len(full) < len(starts):  # the shorter tail window
        tail = np.asarray(tokens[starts[-1]:n], dtype=np.int64)[None]
        yield torch.from_numpy(tail[:, :-1]), torch.from_numpy(tail[:, 1:])


def bits_per_byte(total_nats: float, total_bytes: int) -> float:
    return total_nats / (math.log(2) * total_bytes)


@torch.no_grad()
def evaluate(logits_fn: Callable[[torch.Tensor], torch.Tensor], tokens: np.ndarray, token_bytes: np.ndarray,
             seq_len: int, batch_size: int = 16, max_tokens: int = 0, device: str = "cpu",
             dtype: str = "auto") -> dict[str, float]:
    """Mean next-token loss (nats) and bits per byte of `logits_fn` (ids [B,T] -> logits [B,T,V]) on `tokens`."""
    dtype = resolve_dtype(dtype, device)
    bytes_V = torch.as_tensor(np.asarray(token_bytes, dtype=np.int64))
    nats, count, nbytes = 0.0, 0, 0
    for x_BT, y_BT in eval_windows(tokens, seq_len, batch_size, max_tokens):
        with autocast(device, dtype):
            logits_BTV = logits_fn(x_BT.to(device))
        nats += F.cross_entropy(logits_BTV.float().flatten(0, 1), y_BT.to(device).flatten(),
                                reduction="sum").item()
        count += y_BT.numel()
        nbytes += int(bytes_V[y_BT].sum())
    if count == 0:
        raise ValueError("no validation tokens to evaluate")
    return {"loss": nats / count, "bpb": bits_per_byte(nats, nbytes), "tokens": count, "bytes": nbytes}

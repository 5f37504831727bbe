"""Validation loss and bits per byte over held-out tokens, in one pass with memory independent of their number.

Every validation token but the first is predicted exactly once: windows of seq_len+1 tokens with stride seq_len,
the last one shorter. bits per byte = total nats / (ln 2 · total UTF-8 bytes of the predicted tokens), the number
to compare across tokenizers (docs/design.md section 2). Exercised by tests/test_evaluate.py and `squeeze eval`.
"""
import hashlib
import math
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from squeeze.device.precision import autocast, resolve_dtype


def eval_span(tokens: np.ndarray, max_tokens: int = 0) -> int:
    """n: an evaluation reads tokens[:n] and predicts tokens[1:n]; n = max_tokens + 1 when capped."""
    return len(tokens) if not max_tokens else min(len(tokens), max_tokens + 1)


def span_digest(tokens: np.ndarray, max_tokens: int = 0) -> str:
    """sha256 of the tokens an evaluation reads (as int64): what a run's saved per-token losses were scored on."""
    return hashlib.sha256(np.asarray(tokens[:eval_span(tokens, max_tokens)], dtype=np.int64).tobytes()).hexdigest()


def computed_on(device: str | torch.device, dtype: str) -> str:
    """How an evaluation runs, as saved beside per-token losses: device type and resolved dtype ("cpu/fp32")."""
    return f"{torch.device(device).type}/{resolve_dtype(dtype, device)}"


def eval_windows(tokens: np.ndarray, seq_len: int, batch_size: int,
                 max_tokens: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x [b, t], y [b, t]) covering tokens[1:n] as targets once each (n: eval_span)."""
    n = eval_span(tokens, max_tokens)
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
             dtype: str = "auto", token_losses: bool = False) -> dict:
    """Mean next-token loss (nats) and bits per byte of `logits_fn` (ids [B,T] -> logits [B,T,V]) on `tokens`;
    with `token_losses`, also each target's loss, float32 [N] in eval_windows order, under "token_losses". The loss
    is cross-entropy's own two steps, log_softmax then nll_loss, so the per-token values cost one gather."""
    dtype = resolve_dtype(dtype, device)
    bytes_V = torch.as_tensor(np.asarray(token_bytes, dtype=np.int64))
    nats, count, nbytes, per_token = 0.0, 0, 0, []
    for x_BT, y_BT in eval_windows(tokens, seq_len, batch_size, max_tokens):
        with autocast(device, dtype):
            logits_BTV = logits_fn(x_BT.to(device))
        logp_NV, y_N = logits_BTV.float().flatten(0, 1).log_softmax(1), y_BT.to(device).flatten()
        nats += F.nll_loss(logp_NV, y_N, reduction="sum").item()
        if token_losses:
            per_token.append(-logp_NV.gather(1, y_N[:, None])[:, 0].cpu())
        count += y_BT.numel()
        nbytes += int(bytes_V[y_BT].sum())
    if count == 0:
        raise ValueError("no validation tokens to evaluate")
    out = {"loss": nats / count, "bpb": bits_per_byte(nats, nbytes), "tokens": count, "bytes": nbytes}
    return {**out, "token_losses": torch.cat(per_token)} if token_losses else out

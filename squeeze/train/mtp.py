"""The training objective when multi-token prediction or snapshot distillation is on, and what MTP costs.

loss = main + w · (1/K) Σ_k CE(head k, token t+1+k) with K = model.mtp_heads and w = train.mtp_weight (no term
when K = 0); main is the next-token cross-entropy, or with a teacher the KD loss of squeeze/train/distill.py.
Head k sees positions t < T-k (their target y[t+k] = x[t+1+k] lies inside the window), so each head averages
over its own B·(T-k) positions, and the heads are averaged (DeepSeek-V3's λ/K·Σ_k L_k). `train_loss` in
metrics.jsonl is this whole loss. The plain next-token loss (no heads, no teacher) stays `trainer.lm_loss`.
Exercised by tests/test_mtp.py.
"""
import torch
import torch.nn.functional as F

from squeeze.config import ModelConfig
from squeeze.train.distill import kd_loss


def mtp_loss(head_logits: list[torch.Tensor], y_BT: torch.Tensor) -> torch.Tensor:
    """Mean over heads k = 1..K of the cross-entropy of head k's logits [B, T-k, V] against y_BT[:, k:]."""
    losses = [F.cross_entropy(logits_BSV.float().flatten(0, 1), y_BT[:, k:].flatten())
              for k, logits_BSV in enumerate(head_logits, 1)]
    return torch.stack(losses).mean()


def objective(model, mtp: bool, mtp_weight: float, alpha: float, temperature: float, x_BT: torch.Tensor,
              y_BT: torch.Tensor, teacher_logp_BTV: torch.Tensor | None = None) -> torch.Tensor:
    """The step's loss: next-token CE (or the KD loss against a teacher's log-probs at `temperature`), plus
    mtp_weight x the MTP loss when the model has heads. `model` may be a DDP/compiled wrapper: only its
    forward is called."""
    if mtp:
        logits_BTV, heads = model(x_BT, mtp=True)
    else:
        logits_BTV, heads = model(x_BT), []
    if teacher_logp_BTV is None:
        loss = F.cross_entropy(logits_BTV.flatten(0, 1), y_BT.flatten())
    else:
        loss = kd_loss(logits_BTV, teacher_logp_BTV, y_BT, alpha, temperature)
    return loss + mtp_weight * mtp_loss(heads, y_BT) if heads else loss


def mtp_flops(cfg: ModelConfig, tokens: int) -> int:
    """Training FLOPs of the MTP heads over `tokens` training tokens (whole sequences of seq_len): per position
    of head k, 6·(D² + D·V) for its projection and its pass through the shared unembedding (forward and backward,
    as in GPT.flops_per_token), on T-k of each sequence's T positions; the RMSNorms are left out (O(D))."""
    D, V, T = cfg.d_model, cfg.vocab_size, cfg.seq_len
    positions = sum(T - k for k in range(1, cfg.mtp_heads + 1))  # per sequence, over all heads
    return (tokens // T) * positions * 6 * (D * D + D * V)

"""The GPT: token embedding, pre-norm blocks (RMSNorm, RoPE attention with QK-norm, SwiGLU or GELU MLP), head.

Causal attention goes through `scaled_dot_product_attention` (flash/efficient kernels on GPU, a fused kernel on
CPU). Tensor names carry their shapes: B batch, T time, D width, H heads, K head dim, V vocabulary, F MLP width.
Options for small data (issue 5), all off by default: separate attention / residual dropout, stochastic depth
(`model.drop_path`), a looped middle block (`model.loop_*`: blocks [loop_start, loop_end) run `repeats` extra times
with shared weights; `GPT.repeats` is set per step by the trainer) and input injection (`model.loop_inject`).
Multi-token prediction (`model.mtp_heads`, issue 19): head k = 1..K maps the final normed hidden state through
its own D x D projection and RMSNorm into the shared unembedding and predicts token t+1+k; `forward(idx,
mtp=True)` also returns their logits. The heads are training-only: `param_counts` leaves them out of `total`
(reported under "mtp"), and export drops them (squeeze/interop/hf.py).
Exercised by tests/test_model.py (causality, parameter counts, tied weights, looping, drop-path) and
tests/test_mtp.py.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from squeeze.config import ModelConfig


def rope_tables(seq_len: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-width tables [T, K] for rotary position embeddings (Su et al. 2021) on (first-half, second-half) pairs:
    cos = [cos, cos] and sin = [-sin, sin], so that apply_rope is x·cos + roll(x)·sin."""
    inv_freq_K2 = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angle_TK2 = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq_K2)
    cos_TK2, sin_TK2 = angle_TK2.cos(), angle_TK2.sin()
    return torch.cat([cos_TK2, cos_TK2], -1), torch.cat([-sin_TK2, sin_TK2], -1)


def apply_rope(x_BTHK: torch.Tensor, cos_TK: torch.Tensor, sin_TK: torch.Tensor) -> torch.Tensor:
    """Rotate each (first-half, second-half) pair (x1, x2) by its position's angle: (x1·c - x2·s, x2·c + x1·s).
    Rolling the last dim by K/2 swaps the halves, so the whole is two full-width products and a sum: bit for bit
    the half-split form, forward and backward, in 4 kernels each way where it took ~15 on strided half views
    (RESULTS.md: 1.3-1.7x faster alone on the CPU)."""
    T = x_BTHK.shape[1]
    cos, sin = cos_TK[:T, None].to(x_BTHK.dtype), sin_TK[:T, None].to(x_BTHK.dtype)
    return x_BTHK * cos + x_BTHK.roll(x_BTHK.shape[-1] // 2, -1) * sin


class RMSNorm(nn.Module):
    """RMSNorm with a learned gain; the gain is cast to the input dtype so bf16 autocast keeps the fused kernel
    (torch's nn.RMSNorm falls back to a slow path, ~3x slower end to end on CPU, when the dtypes differ)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.d_model // cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        # QK-norm keeps attention logits bounded, which lets the high learning rates of short runs stay stable.
        self.q_norm = RMSNorm(self.head_dim, cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim, cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.dropout = cfg.dropout if cfg.attn_dropout < 0 else cfg.attn_dropout

    def forward(self, x_BTD: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, D = x_BTD.shape
        # Norm and rotate in [B, T, H, K], where the head dim is contiguous: elementwise ops on the permuted
        # [B, H, T, K] view were ~3x slower on CPU. SDPA takes the transposed views as they are.
        q_BTHK, k_BTHK, v_BTHK = self.qkv(x_BTD).view(B, T, 3, self.n_head, self.head_dim).unbind(2)
        q_BTHK = apply_rope(self.q_norm(q_BTHK), cos, sin)
        k_BTHK = apply_rope(self.k_norm(k_BTHK), cos, sin)
        y_BHTK = F.scaled_dot_product_attention(q_BTHK.transpose(1, 2), k_BTHK.transpose(1, 2),
                                                v_BTHK.transpose(1, 2), is_causal=True,
                                                dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y_BHTK.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.swiglu = cfg.mlp == "swiglu"
        # SwiGLU has three matrices; 2/3 of the width keeps its parameter count equal to GELU's two (Shazeer 2020).
        hidden = int(cfg.mlp_ratio * cfg.d_model * (2 / 3 if self.swiglu else 1))
        hidden = 8 * math.ceil(hidden / 8)
        self.up = nn.Linear(cfg.d_model, (2 if self.swiglu else 1) * hidden, bias=False)
        self.down = nn.Linear(hidden, cfg.d_model, bias=False)

    def forward(self, x_BTD: torch.Tensor) -> torch.Tensor:
        if self.swiglu:
            gate_BTF, up_BTF = self.up(x_BTD).chunk(2, dim=-1)
            return self.down(F.silu(gate_BTF) * up_BTF)
        return self.down(F.gelu(self.up(x_BTD)))


def block_order(n_layer: int, loop_start: int, loop_end: int, repeats: int) -> list[int]:
    """Indices of the blocks in the order they run: the looped block [loop_start, loop_end) 1 + repeats times."""
    if repeats == 0:
        return list(range(n_layer))
    return [*range(loop_start), *list(range(loop_start, loop_end)) * (1 + repeats), *range(loop_end, n_layer)]


def drop_path_probs(depth: int, p_max: float) -> list[float]:
    """Stochastic-depth drop probability of the k-th block run (0-based): p_max·(k+1)/depth, rising linearly so
    the last block gets p_max (Huang et al. 2016's linear decay rule of the survival probability)."""
    return [p_max * (k + 1) / depth for k in range(depth)]


def drop_path(branch_BTD: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Drop a residual branch for whole sequences with probability p, scaling survivors by 1/(1-p); identity in
    eval mode or at p = 0."""
    if not training or p == 0.0:
        return branch_BTD
    keep_B11 = (torch.rand(branch_BTD.shape[0], 1, 1, device=branch_BTD.device) >= p).to(branch_BTD.dtype)
    return branch_BTD * keep_B11 / (1 - p)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(cfg.d_model, cfg.norm_eps), RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn, self.mlp = Attention(cfg), MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout if cfg.resid_dropout < 0 else cfg.resid_dropout)
        if cfg.loop_inject:  # x <- l_res·x + l_x0·x0; 1 and 0 make the block start as the plain one
            self.l_res, self.l_x0 = nn.Parameter(torch.ones(1)), nn.Parameter(torch.zeros(1))

    def forward(self, x_BTD: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, x0_BTD: torch.Tensor | None = None,
                p_drop: float = 0.0) -> torch.Tensor:
        if x0_BTD is not None and hasattr(self, "l_res"):
            x_BTD = self.l_res.to(x_BTD.dtype) * x_BTD + self.l_x0.to(x_BTD.dtype) * x0_BTD
        x_BTD = x_BTD + drop_path(self.drop(self.attn(self.norm1(x_BTD), cos, sin)), p_drop, self.training)
        return x_BTD + drop_path(self.drop(self.mlp(self.norm2(x_BTD))), p_drop, self.training)


class MTPHead(nn.Module):
    """One multi-token prediction head: RMSNorm(W h) for the shared unembedding; D² + D parameters. W starts like
    the blocks' input matrices, N(0, 1/sqrt(D)), which keeps the scale of h."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        nn.init.normal_(self.proj.weight, std=cfg.d_model ** -0.5)

    def forward(self, h_BTD: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(h_BTD))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.vocab_size < 2:
            raise ValueError("model.vocab_size must be set (from the token store) before building the model")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.embed.weight
        cos, sin = rope_tables(cfg.seq_len, cfg.d_model // cfg.n_head, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.repeats = cfg.loop_repeats  # extra passes of the looped block now; the trainer sets it every step
        self.reset_parameters()
        if cfg.mtp_heads:  # built after the model's own init, so the LM starts as the same seed's plain model
            self.mtp = nn.ModuleList(MTPHead(cfg) for _ in range(cfg.mtp_heads))

    def reset_parameters(self) -> None:
        """Embeddings N(0, 0.02); input matrices N(0, 1/sqrt(fan_in)); output projections zero, so every block
        starts as the identity and the residual stream's scale does not grow with depth (modded-nanogpt)."""
        nn.init.normal_(self.embed.weight, std=0.02)
        if not self.cfg.tie_embeddings:
            nn.init.normal_(self.head.weight, std=0.02)
        for block in self.blocks:
            for lin in (block.attn.qkv, block.mlp.up):
                nn.init.normal_(lin.weight, std=lin.in_features ** -0.5)
            nn.init.zeros_(block.attn.proj.weight)
            nn.init.zeros_(block.mlp.down.weight)

    def forward(self, idx_BT: torch.Tensor, mtp: bool = False):
        """Token ids [B, T] -> logits [B, T, V] (float32 for a stable softmax whatever the autocast dtype). With
        `mtp`: (logits, [logits of head k, [B, T-k, V], for k = 1..K]); position t of head k predicts token t+1+k,
        so its last k positions, whose targets lie past the window, are not computed."""
        if idx_BT.shape[1] > self.cfg.seq_len:
            raise ValueError(f"sequence of {idx_BT.shape[1]} tokens exceeds model.seq_len={self.cfg.seq_len}")
        x_BTD = self.embed(idx_BT)
        order = block_order(self.cfg.n_layer, self.cfg.loop_start, self.cfg.loop_end, self.repeats)
        if order == list(range(self.cfg.n_layer)) and not self.cfg.drop_path and not self.cfg.loop_inject:
            for block in self.blocks:  # the plain model, exactly as before the options existed
                x_BTD = block(x_BTD, self.rope_cos, self.rope_sin)
        else:
            x0_BTD = x_BTD if self.cfg.loop_inject else None
            for i, p_drop in zip(order, drop_path_probs(len(order), self.cfg.drop_path)):
                x_BTD = self.blocks[i](x_BTD, self.rope_cos, self.rope_sin, x0_BTD, p_drop)
        h_BTD = self.norm(x_BTD)
        logits_BTV = self.head(h_BTD).float()
        if not mtp:
            return logits_BTV
        T = idx_BT.shape[1]
        return logits_BTV, [self.head(m(h_BTD[:, :T - k])).float() for k, m in enumerate(self.mtp, 1)]

    def effective_depth(self, repeats: int | None = None) -> int:
        """Blocks run per forward pass: n_layer plus the looped block's extra passes (default: `self.repeats`)."""
        r = self.repeats if repeats is None else repeats
        return len(block_order(self.cfg.n_layer, self.cfg.loop_start, self.cfg.loop_end, r))

    def param_counts(self) -> dict[str, int]:
        """Unique parameters of the language model, split into embedding (input table, and the head when untied)
        and the rest; the training-only MTP heads are not in `total` but under "mtp" (only when there are any)."""
        mtp = sum(p.numel() for p in self.mtp.parameters()) if self.cfg.mtp_heads else 0
        total = sum(p.numel() for p in self.parameters()) - mtp  # parameters() yields a tied tensor once
        embedding = self.embed.weight.numel() + (0 if self.cfg.tie_embeddings else self.head.weight.numel())
        out = {"total": total, "embedding": embedding, "non_embedding": total - embedding}
        return {**out, "mtp": mtp} if mtp else out

    def flops_per_token(self, repeats: int | None = None) -> int:
        """Training FLOPs per token: 6 x (matmul params) + attention's 12·L·D·T (Kaplan et al. 2020, PaLM); each
        extra pass of the looped block (default: `self.repeats`) adds its blocks' parameters and attention again."""
        matmul = self.param_counts()["non_embedding"] + self.head.weight.numel()
        flops = 6 * matmul + 12 * self.cfg.n_layer * self.cfg.d_model * self.cfg.seq_len
        r = self.repeats if repeats is None else repeats
        if r:
            looped = self.blocks[self.cfg.loop_start:self.cfg.loop_end]
            per_pass = 6 * sum(p.numel() for p in looped.parameters())
            per_pass += 12 * len(looped) * self.cfg.d_model * self.cfg.seq_len
            flops += r * per_pass
        return flops

    @torch.no_grad()
    def generate(self, idx_BT: torch.Tensor, n_new: int, temperature: float = 1.0, top_k: int = 0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample `n_new` tokens after the prompt (temperature 0 = greedy), cropping to the context length."""
        for _ in range(n_new):
            logits_BV = self(idx_BT[:, -self.cfg.seq_len:])[:, -1]
            if temperature == 0:
                nxt_B1 = logits_BV.argmax(-1, keepdim=True)
            else:
                logits_BV = logits_BV / temperature
                if top_k:
                    kth_B1 = logits_BV.topk(min(top_k, logits_BV.shape[-1])).values[:, -1:]
                    logits_BV = logits_BV.masked_fill(logits_BV < kth_B1, float("-inf"))
                nxt_B1 = torch.multinomial(logits_BV.softmax(-1), 1, generator=generator)
            idx_BT = torch.cat([idx_BT, nxt_B1], dim=1)
        return idx_BT

"""Optimizers and schedules: which parameters decay, AdamW or Muon+AdamW, and the learning-rate shape.

Weight decay applies to matrices only (norm gains never decay; the embedding table only with
`train.decay_embeddings`), because decaying gains and embeddings hurts without regularizing much (nanoGPT, Kim et
al. 2025 tune decay on matrices). Muon (torch.optim.Muon, PyTorch >= 2.9) orthogonalizes updates of the hidden
matrices; embeddings, head and gains stay on AdamW (Jordan et al. 2024). `train.wd_schedule=inverse` sets each
group's weight_decay against its lr multiplier (`set_weight_decay`). `train.lr_cycles=N` splits the steps into N
cycles of cosine decay (`cycle_bounds`, `cyclic_multiplier`: snapshot ensembles, Huang et al. 2017), and
`train.wd_cycle_min` moves the weight decay against the lr inside each cycle (`cycle_wd_factor`). Exercised by
tests/test_optim.py, tests/test_regularize.py and tests/test_snapshots.py.
"""
import bisect
import math

import torch
from torch import nn

from squeeze.config import TrainConfig

# The inverse schedule divides wd by the lr multiplier; capping the factor at 10 (= 1 / the default min_lr_frac
# of 0.1) keeps wd finite when the lr multiplier nears 0 (early warmup, a schedule decaying to 0).
WD_MAX_FACTOR = 10.0


def split_params(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Partition unique parameters: 'hidden' matrices inside blocks, 'embed' (table and head), 'gain' (1-D)."""
    groups: dict[str, list[nn.Parameter]] = {"hidden": [], "embed": [], "gain": []}
    seen: set[int] = set()
    for name, p in model.named_parameters():  # a tied head is yielded once, under embed.weight
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        if p.ndim < 2:
            groups["gain"].append(p)
        elif name.startswith(("embed.", "head.")):
            groups["embed"].append(p)
        else:
            groups["hidden"].append(p)
    return groups


def build_optimizers(model: nn.Module, cfg: TrainConfig) -> list[torch.optim.Optimizer]:
    """One AdamW over everything, or Muon over hidden matrices plus AdamW over the rest."""
    g = split_params(model)
    embed_wd = cfg.weight_decay if cfg.decay_embeddings else 0.0
    fused = {"fused": True} if next(model.parameters()).is_cuda else {}
    adam_groups = [{"params": g["embed"], "weight_decay": embed_wd, "base_lr": cfg.lr},
                   {"params": g["gain"], "weight_decay": 0.0, "base_lr": cfg.lr}]
    if cfg.optimizer == "adamw":
        adam_groups.insert(0, {"params": g["hidden"], "weight_decay": cfg.weight_decay, "base_lr": cfg.lr})
        return [torch.optim.AdamW(adam_groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **fused)]
    muon = torch.optim.Muon([{"params": g["hidden"], "base_lr": cfg.muon_lr}], lr=cfg.muon_lr,
                            weight_decay=cfg.weight_decay, momentum=0.95)
    adam = torch.optim.AdamW(adam_groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **fused)
    return [muon, adam]


def lr_multiplier(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """Learning rate at `step` (0-based) as a fraction of the peak: linear warmup, then cosine / wsd / constant;
    with train.lr_cycles > 1, the cyclic cosine of `cyclic_multiplier`."""
    if cfg.lr_cycles > 1:
        return cyclic_multiplier(step, total_steps, cfg)
    warmup = round(cfg.warmup * total_steps)
    if step < warmup:
        return (step + 1) / warmup
    floor = cfg.min_lr_frac
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - 1 - warmup)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    decay_start = total_steps - round(cfg.decay_frac * total_steps)  # wsd: warmup, stable, linear decay
    if step < decay_start:
        return 1.0
    progress = (step - decay_start + 1) / max(1, total_steps - decay_start)
    return 1.0 - (1 - floor) * min(progress, 1.0)


def cycle_bounds(total_steps: int, cycles: int) -> list[int]:
    """The first step of each cycle, then total_steps: cycle c (0-based) is steps [b[c], b[c+1]). Equal up to one
    step (10 steps in 4 cycles: 2, 3, 2, 3); snapshot c+1 is taken after b[c+1] steps."""
    return [c * total_steps // cycles for c in range(cycles + 1)]


def cycle_of(step: int, bounds: list[int]) -> int:
    """The cycle (0-based) that `step` (0-based) belongs to."""
    return min(bisect.bisect_right(bounds, step) - 1, len(bounds) - 2)


def cyclic_multiplier(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """train.lr_cycles cosines from the peak to train.min_lr_frac, each reaching the floor on its last step. Only
    the first cycle warms up (train.warmup of all steps, linear); later ones restart at the peak at once, as in
    SGDR and snapshot ensembles (Loshchilov & Hutter 2017, Huang et al. 2017): by then Adam's moment estimates are
    settled, and the jump is what moves the weights to a different point for the next snapshot."""
    bounds = cycle_bounds(total_steps, cfg.lr_cycles)
    c = cycle_of(step, bounds)
    start, length = bounds[c], bounds[c + 1] - bounds[c]
    warmup = round(cfg.warmup * total_steps) if c == 0 else 0
    s = step - start
    if s < warmup:
        return (s + 1) / warmup
    progress = (s - warmup) / max(1, length - 1 - warmup)
    floor = cfg.min_lr_frac
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def cycle_wd_factor(lr_mult: float, floor: float, wd_min: float) -> float:
    """Weight decay / its configured value, anti-correlated with the lr: wd_min at the peak (lr_mult 1), 1.0 at the
    floor (lr_mult = floor), linear in the lr between; below the floor (warmup's first steps) it stays 1.0. The
    Slowrun record kept it between ~0.7x and 1.0x: bounded, unlike the inverse schedule's 1/lr."""
    if wd_min >= 1.0:
        return 1.0
    r = 1.0 if floor >= 1.0 else min(max((lr_mult - floor) / (1.0 - floor), 0.0), 1.0)  # 1 at the peak
    return 1.0 - (1.0 - wd_min) * r


def set_lr(optimizers: list[torch.optim.Optimizer], multiplier: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * multiplier


def wd_factor(lr_mult: float, schedule: str) -> float:
    """Weight decay at this step / its configured value.

    `inverse` returns 1 / lr_mult (capped at WD_MAX_FACTOR). PyTorch's AdamW and Muon shrink the weights by
    lr_t·wd_t per step, so this keeps the shrink at its peak value lr·wd while the learning rate decays: the
    weights stay an EMA of the updates with a constant timescale 1/(lr·wd) (Wang & Aitchison 2024, "How to set
    AdamW's weight decay"), instead of decay fading out with the cosine as with a constant wd."""
    if schedule == "constant":
        return 1.0
    return min(1.0 / max(lr_mult, 1e-12), WD_MAX_FACTOR)


def set_weight_decay(optimizers: list[torch.optim.Optimizer], schedule: str, floor: float = 0.1,
                     wd_min: float = 1.0) -> None:
    """Set every group's weight_decay from its base value and its current lr multiplier (lr / base_lr): by
    `wd_factor(schedule)`, or with wd_min < 1 by `cycle_wd_factor` (train.wd_cycle_min; floor = train.min_lr_frac)."""
    for opt in optimizers:
        for group in opt.param_groups:
            base = group.setdefault("base_wd", group["weight_decay"])
            mult = group["lr"] / group["base_lr"]
            factor = cycle_wd_factor(mult, floor, wd_min) if wd_min < 1.0 else wd_factor(mult, schedule)
            group["weight_decay"] = base * factor

"""Per-step schedules of the data-efficiency options (issue 5): when the looped block switches on, the weight
decay anti-correlated with the learning rate (inverse, or bounded inside each cycle of train.lr_cycles; math in
squeeze/train/optim.py), token-level input augmentation, and the FLOPs those choices cost.

Everything here is a pure function of (step, config) or of a batch and (seed, step), so a resumed run repeats
exactly what an uninterrupted one did. The trainer calls `before_step` and `augment_inputs` once per step.
Exercised by tests/test_regularize.py and tests/test_trainer.py (looping switched on mid-run, then resumed).
"""
import numpy as np
import torch

from squeeze.config import Config, ModelConfig, TrainConfig
from squeeze.errors import SqueezeError
from squeeze.train.optim import set_weight_decay


def loop_start_step(total_steps: int, tc: TrainConfig) -> int:
    """The first step (0-based) that runs the looped block's extra passes."""
    return round(tc.loop_from * total_steps)


def repeats_at(step: int, total_steps: int, mc: ModelConfig, tc: TrainConfig) -> int:
    """Extra passes of the looped block at `step`: none before train.loop_from, model.loop_repeats after."""
    return mc.loop_repeats if step >= loop_start_step(total_steps, tc) else 0


def before_step(model, optimizers: list, step: int, total_steps: int, cfg: Config) -> None:
    """Set what the options change per step: the looped block's active repeats and the weight decay."""
    model.repeats = repeats_at(step, total_steps, cfg.model, cfg.train)
    if cfg.train.wd_schedule != "constant" or cfg.train.wd_cycle_min < 1.0:
        set_weight_decay(optimizers, cfg.train.wd_schedule, cfg.train.min_lr_frac, cfg.train.wd_cycle_min)


def augment_tokens(x_BT: torch.Tensor, vocab_size: int, mask_rate: float, replace_rate: float, mask_id: int,
                   seed: int, step: int) -> torch.Tensor:
    """Inputs with a random `mask_rate` of tokens set to `mask_id` and a disjoint `replace_rate` set to uniform
    random ids; a pure function of (seed, step), so a resumed run draws the same positions."""
    if mask_rate == 0 and replace_rate == 0:
        return x_BT
    if not 0 <= mask_id < vocab_size:
        raise SqueezeError(f"train.aug_mask_id={mask_id} must be a token id below the vocabulary size {vocab_size}")
    rng = np.random.default_rng([seed, step, 0xA06])  # its own stream: never shares draws with init or dropout
    u_BT = torch.from_numpy(rng.random(x_BT.shape)).to(x_BT.device)
    random_BT = torch.from_numpy(rng.integers(0, vocab_size, size=x_BT.shape)).to(x_BT)
    out_BT = torch.where(u_BT < mask_rate, torch.full_like(x_BT, mask_id), x_BT)
    return torch.where((u_BT >= mask_rate) & (u_BT < mask_rate + replace_rate), random_BT, out_BT)


def augment_inputs(x_BT: torch.Tensor, step: int, cfg: Config) -> torch.Tensor:
    tc = cfg.train
    return augment_tokens(x_BT, cfg.model.vocab_size, tc.aug_mask_rate, tc.aug_replace_rate, tc.aug_mask_id,
                          tc.seed, step)


def training_flops(flops_per_token, tokens_at, total_steps: int, cfg: Config) -> int:
    """FLOPs of the whole run with the repeats actually active per step: tokens before the loop switch-on at
    the plain model's cost, the rest at the looped cost. `flops_per_token(repeats)`, `tokens_at(step)`."""
    switch = min(loop_start_step(total_steps, cfg.train), total_steps) if cfg.model.loop_repeats else total_steps
    before, total = tokens_at(switch), tokens_at(total_steps)
    return flops_per_token(0) * before + flops_per_token(cfg.model.loop_repeats) * (total - before)


def mean_depth(total_steps: int, cfg: Config) -> float:
    """Blocks run per step, averaged over the steps of the run."""
    if not cfg.model.loop_repeats:
        return float(cfg.model.n_layer)
    looped = total_steps - min(loop_start_step(total_steps, cfg.train), total_steps)
    extra = (cfg.model.loop_end - cfg.model.loop_start) * cfg.model.loop_repeats
    return cfg.model.n_layer + extra * looped / max(total_steps, 1)


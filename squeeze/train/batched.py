"""Several same-shape runs trained in one process as one batched model (issue 20): seeds, ensemble members and grid
points that differ only in their optimizer settings.

Each run stays a `Lane` of squeeze/train/trainer.py, with its own run directory, config.json, metrics, optimizer,
checkpoints and resume: only the forward and backward are shared. Every step stacks the lanes' weights into one
tensor per parameter ([K, ...]), runs the model once under `torch.vmap` over `torch.func.functional_call` (the
same GPT, no second model), and backpropagates the sum of the K mean losses, so lane k's gradient is exactly the
gradient of its own loss. The gradients go back to the lanes' own parameters, and each lane clips, steps its own
optimizer (its own lr, weight decay, betas), logs, evaluates and checkpoints through the trainer's functions. A
batched run's files are those of a separate run, so it resumes by itself with `squeeze train --resume`.

What may differ between lanes (`BATCH_FREE`): seeds and optimizer settings. What may not: the model, the data,
the steps and everything with randomness or per-step state inside the forward (`why_not_batched`). The math is
that of separate runs; the float sums are not in the same order (one batched matmul instead of K), so fp32 losses
match separate runs to ~1e-6 relative, not bit for bit (tests/test_batched.py checks 1e-5 over 30 steps).
"""
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call

from squeeze import config as config_mod
from squeeze.config import Config
from squeeze.device import perf
from squeeze.device.precision import autocast, resolve_dtype
from squeeze.errors import SqueezeError
from squeeze.io import dir_lock, make_dir
from squeeze.train import compiling
from squeeze.train.runlog import Progress
from squeeze.train.trainer import after_update, clip_or_stop, finish, next_batch, open_lane, start_device

# Config fields that may differ between the runs of one batched group: seeds and optimizer settings, which act on
# each lane's own optimizer, schedule or data order, never on the shared forward.
BATCH_FREE = (("train", "seed"), ("data", "seed"), ("train", "lr"), ("train", "muon_lr"),
              ("train", "weight_decay"), ("train", "beta1"), ("train", "beta2"), ("train", "grad_clip"),
              ("train", "warmup"), ("train", "min_lr_frac"), ("train", "schedule"), ("train", "decay_frac"),
              ("train", "wd_schedule"), ("train", "decay_embeddings"), ("train", "ema_decay"), ("train", "ema_start"),
              ("train", "avg_last_epochs"), ("train", "aug_mask_rate"), ("train", "aug_replace_rate"),
              ("train", "aug_mask_id"), ("train", "threads"), ("train", "log"), ("train", "ckpt_every"),
              ("train", "log_every"), ("train", "eval_every"), ("train", "eval_tokens"))


def why_not_batched(cfg: Config) -> str | None:
    """Why this run cannot join a batched group, or None when it can. The excluded features draw random numbers
    inside the forward (dropout, drop-path), change its shape per step (looping), keep a teacher or second model
    in the step (distillation, snapshots, MTP), or own the process (torchrun, compile, accumulation)."""
    m, t = cfg.model, cfg.train
    checks = (("model.dropout / attn_dropout / resid_dropout", max(m.dropout, m.attn_dropout, m.resid_dropout) > 0),
              ("model.drop_path", m.drop_path > 0), ("a looped block (model.loop_repeats)", m.loop_repeats > 0),
              ("model.mtp_heads", m.mtp_heads > 0), ("distill.teachers", bool(cfg.distill.teachers)),
              ("train.lr_cycles", t.lr_cycles > 1), ("train.compile", compiling.compiles_alone(cfg)),
              ("train.micro_batch", 0 < t.micro_batch < t.batch_size), ("train.init", bool(t.init)))
    found = [name for name, on in checks if on]
    return f"{', '.join(found)} cannot be batched" if found else None


def group_key(cfg: Config) -> str | None:
    """Runs with equal keys may train as one batched group; None for a run that cannot be batched at all."""
    if why_not_batched(cfg):
        return None
    d = config_mod.to_dict(cfg)
    for section, name in BATCH_FREE:
        d[section].pop(name, None)
    return repr(sorted((section, sorted(v.items())) for section, v in d.items() if isinstance(v, dict)))


def stacked_loss(base: torch.nn.Module, stacked: dict[str, torch.Tensor], x_KBT: torch.Tensor,
                 y_KBT: torch.Tensor) -> torch.Tensor:
    """The K lanes' mean next-token losses [K]: `base` run once under vmap with lane k's weights `stacked[name][k]`
    (the trainer's lm_loss, lane by lane)."""
    def one(params, x_BT, y_BT):
        return F.cross_entropy(functional_call(base, params, (x_BT,)).flatten(0, 1), y_BT.flatten())
    with warnings.catch_warnings():  # CPU flash attention has no vmap rule: it runs lane by lane, as fast (measured)
        warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented")
        return torch.vmap(one)(stacked, x_KBT, y_KBT)


def _stack(lanes: list) -> tuple[list[str], dict[str, torch.Tensor]]:
    """The lanes' current weights as one leaf tensor [K, ...] per parameter (a tied tensor once)."""
    names = [n for n, _ in lanes[0].model.named_parameters()]
    per_lane = [dict(lane.model.named_parameters()) for lane in lanes]
    return names, {n: torch.stack([p[n].detach() for p in per_lane]).requires_grad_() for n in names}


def train_group(items: list[tuple[Config, Path, bool, bool]], *, device: str | None = None,
                quiet: bool = False) -> list[dict]:
    """Train K runs, each (config, run directory, resume, force) as `train` takes them, as one batched model; return
    their summaries in order. All must share a `group_key` and start at the same step (all new, or all resumed
    from one group's checkpoints)."""
    if not items:
        return []
    keys = {group_key(cfg) for cfg, *_ in items}
    if None in keys or len(keys) > 1:
        reasons = [why_not_batched(cfg) for cfg, *_ in items]
        raise SqueezeError(next((r for r in reasons if r), "runs of one batched group must share the model, data "
                                                            "and steps (only seeds and optimizer settings may differ)"))
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    with ExitStack() as stack:
        for _, run_dir, _, _ in items:
            make_dir(run_dir)
            stack.enter_context(dir_lock(Path(run_dir)))
        device = start_device(device, items[0][0].train.threads)
        lanes = [open_lane(cfg, Path(run_dir), resume, force, device, say, batched=True)
                 for cfg, run_dir, resume, force in items]
        return _train_lanes(lanes, device, quiet, say)


def _train_lanes(lanes: list, device: str, quiet: bool, say) -> list[dict]:
    first = lanes[0].s
    if len({(lane.step, lane.s.total_steps) for lane in lanes}) > 1:
        raise SqueezeError(f"{lanes[0].run_dir}: the runs of a batched group must be at the same step of the same "
                           f"number of steps ({', '.join(f'{lane.step}/{lane.s.total_steps}' for lane in lanes)})")
    dtype = resolve_dtype(first.cfg.train.dtype, device, False)
    if len({lane.s.cfg.train.dtype for lane in lanes}) > 1:
        raise SqueezeError(f"{lanes[0].run_dir}: the runs of a batched group must resolve to one dtype")
    say(f"batched: {len(lanes)} runs of this shape train as one model (squeeze/train/batched.py)")
    results: dict[int, dict] = {}
    active = list(range(len(lanes)))
    bar = Progress(first.total_steps, lanes[0].step, quiet, 0.0 if quiet else perf.peak_flops(device, dtype))
    t0 = time.perf_counter()
    for lane in lanes:
        lane.model.train()
    while active and lanes[active[0]].step < first.total_steps:
        group = [lanes[i] for i in active]
        batches = [next_batch(lane, device) for lane in group]
        names, stacked = _stack(group)
        with autocast(device, dtype):
            if len({tuple(b[0].shape) for b in batches}) == 1:
                losses = stacked_loss(group[0].model, stacked, torch.stack([b[0] for b in batches]),
                                      torch.stack([b[1] for b in batches]))
            else:  # the last batch of an epoch may hold other row counts: the same math, lane by lane
                losses = torch.stack([stacked_loss(group[0].model, {n: t[k:k + 1] for n, t in stacked.items()},
                                                   b[0][None], b[1][None])[0] for k, b in enumerate(batches)])
        losses.sum().backward()
        bar.update(1)
        for k, (i, (x_BT, _, epoch, _)) in enumerate(zip(list(active), batches)):
            lane = lanes[i]
            params = dict(lane.model.named_parameters())
            for n in names:
                params[n].grad = stacked[n].grad[k]
            loss_value = float(losses[k].detach())
            grad_norm, diverged = clip_or_stop(lane, loss_value, say)
            if diverged:  # this lane stops where it is; the others go on
                results[i] = diverged
                active.remove(i)
                continue
            tokens = (lane.step + 1 - bar.first) * x_BT.shape[0] * first.loader.seq_len * len(group)
            after_update(lane, epoch, loss_value, grad_norm, device, t0, bar if k == 0 else None,
                         tokens / (time.perf_counter() - t0))
    bar.close()
    train_time = time.perf_counter() - t0
    for i in active:  # the group's wall clock is each lane's: tokens/s and MFU of one lane are 1/K of the group's
        lane = lanes[i]
        results[i] = finish(lane, lane.elapsed + train_time, device, dtype, say, extra={"batched_with": len(lanes)})
    return [results[i] for i in range(len(lanes))]

"""Weight averaging: an EMA of the weights and the mean of the last k epochs' weights, evaluated next to the raw
weights at the end of a run.

`ema_update_` and `average` are the pure math (tested against hand computations). `Averager` is what the trainer
holds: it updates the EMA after every step from `train.ema_start` on, saves the weights of each of the last
`train.avg_last_epochs` epoch ends as `epochNNN.safetensors` in the run directory, puts the EMA into state.pt
(`state()` / `load()`), so a resumed run ends with the same averages, and at the end evaluates both and writes
`model_ema.safetensors` / `model_avg.safetensors` beside the raw `model.safetensors`.
Under FSDP2 the EMA stays sharded like the weights it follows (each rank averages its own shards); checkpoints,
epoch snapshots and the final evaluation gather whole tensors, so state.pt has the single-process layout and
resumes on any number of processes.
Exercised by tests/test_averaging.py and tests/test_trainer.py; `squeeze eval RUN --weights ema` reads them.
"""
import copy
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file, save_model
from torch.distributed.tensor import DTensor, distribute_tensor

from squeeze.config import TrainConfig
from squeeze.errors import SqueezeError
from squeeze.io import atomic_save
from squeeze.runs.files import AVG_WEIGHTS, EMA_WEIGHTS, epoch_weights


def ema_update_(avg: dict[str, torch.Tensor], new: dict[str, torch.Tensor], decay: float) -> None:
    """In place: avg <- decay·avg + (1 - decay)·new, for every tensor."""
    for name, a in avg.items():
        a.lerp_(new[name].to(a.dtype), 1.0 - decay)


def average(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Elementwise mean of same-keyed tensor dicts, accumulated in float32."""
    if not states:
        raise ValueError("average of no weights")
    return {name: torch.stack([s[name].float() for s in states]).mean(0) for name in states[0]}


def unique_params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """name -> detached tensor of each unique parameter (a tied head appears once, as embed.weight)."""
    return {name: p.detach() for name, p in model.named_parameters()}


def whole(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor of an FSDP2 shard (a collective: every rank must call it), or `t` itself."""
    return t.full_tensor() if isinstance(t, DTensor) else t


def with_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """An unsharded copy of `model` (repeats, mode and device kept) holding `weights` (whole tensors)."""
    p0 = next(model.parameters())
    if isinstance(p0, DTensor):  # FSDP2: a fresh plain model of the same config on this rank's device
        other = type(model)(model.cfg).to(p0.to_local().device)
        other.repeats = model.repeats
        other.train(model.training)
    else:
        other = copy.deepcopy(model)
    for name, p in other.named_parameters():
        p.data.copy_(weights[name].to(p.device, p.dtype))
    return other



class Averager:
    """The EMA and the epoch-end snapshots of one run."""

    def __init__(self, tc: TrainConfig, total_steps: int, steps_per_epoch: int, run_dir: Path, write: bool = True):
        self.decay, self.k, self.epochs = tc.ema_decay, tc.avg_last_epochs, tc.epochs
        self.ema_from = round(tc.ema_start * total_steps)  # steps done when the EMA starts
        self.spe, self.run_dir, self.write = steps_per_epoch, Path(run_dir), write  # write: rank 0 under torchrun
        self.ema: dict[str, torch.Tensor] | None = None

    @property
    def active(self) -> bool:
        return bool(self.decay or self.k)

    def snapshot_path(self, epoch: int) -> Path:
        return self.run_dir / epoch_weights(epoch)

    def after_step(self, model: torch.nn.Module, step: int) -> None:
        """Called with the number of steps done, after the optimizer step."""
        if self.decay and step >= self.ema_from:
            if self.ema is None:
                self.ema = {n: t.float().clone() for n, t in unique_params(model).items()}
            else:
                ema_update_(self.ema, unique_params(model), self.decay)
        epoch, in_epoch = divmod(step, self.spe)
        if self.k and in_epoch == 0 and epoch > self.epochs - self.k:
            weights = {n: whole(t).contiguous().cpu() for n, t in unique_params(model).items()}  # every rank
            if self.write:
                atomic_save(self.snapshot_path(epoch), lambda tmp: save_file(weights, tmp))

    def state(self) -> dict:
        """What state.pt keeps: the EMA as whole CPU tensors (a collective under FSDP2: every rank calls it)."""
        if not self.decay:
            return {}
        return {"ema": None if self.ema is None else {n: whole(t).cpu() for n, t in self.ema.items()}}

    def load(self, state: dict, model: torch.nn.Module) -> None:
        """The EMA from a state.pt written by any number of processes, sharded like `model`'s weights."""
        if not self.decay or state.get("ema") is None:
            return
        params = unique_params(model)
        self.ema = {}
        for n, t in state["ema"].items():
            p = params[n]
            if isinstance(p, DTensor):
                self.ema[n] = distribute_tensor(t.to(p.to_local().device), p.device_mesh, p.placements)
            else:
                self.ema[n] = t.to(p.device)

    def finish(self, model: torch.nn.Module, evaluate: Callable[[torch.nn.Module], dict]) -> dict:
        """Evaluate the EMA and the last-k average; write their weights; return the summary entries."""
        out: dict = {}
        ema = {n: whole(t) for n, t in self.ema.items()} if self.decay and self.ema is not None else None
        for tag, weights, fname in (("ema", ema, EMA_WEIGHTS),
                                    ("avg", self._last_k() if self.k else None, AVG_WEIGHTS)):
            if weights is None:
                continue
            m = with_weights(model, weights)
            ev = evaluate(m)
            if self.write:
                atomic_save(self.run_dir / fname, lambda tmp: save_model(m, tmp))
            out.update({f"val_loss_{tag}": ev["loss"], f"val_bpb_{tag}": ev["bpb"], f"weights_{tag}": fname})
        return out

    def _last_k(self) -> dict[str, torch.Tensor]:
        paths = [self.snapshot_path(e) for e in range(self.epochs - self.k + 1, self.epochs + 1)]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise SqueezeError(f"{missing[0]}: epoch snapshot for train.avg_last_epochs={self.k} is missing")
        return average([load_file(str(p)) for p in paths])

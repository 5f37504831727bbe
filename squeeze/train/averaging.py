"""Weight averaging: an EMA of the weights and the mean of the last k epochs' weights, evaluated next to the raw
weights at the end of a run.

`ema_update_` and `average` are the pure math (tested against hand computations). `Averager` is what the trainer
holds: it updates the EMA after every step from `train.ema_start` on, saves the weights of each of the last
`train.avg_last_epochs` epoch ends as `epochNNN.safetensors` in the run directory, puts the EMA into state.pt
(`state()` / `load()`), so a resumed run ends with the same averages, and at the end evaluates both and writes
`model_ema.safetensors` / `model_avg.safetensors` beside the raw `model.safetensors`.
Exercised by tests/test_averaging.py and tests/test_trainer.py; `squeeze eval RUN --weights ema` reads them.
"""
import copy
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file, save_model

from squeeze.config import TrainConfig
from squeeze.errors import SqueezeError
from squeeze.io import atomic_save

EMA_WEIGHTS, AVG_WEIGHTS = "model_ema.safetensors", "model_avg.safetensors"


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


def with_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A copy of `model` (repeats, device and all) holding `weights`."""
    other = copy.deepcopy(model)
    for name, p in other.named_parameters():
        p.data.copy_(weights[name].to(p.dtype))
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
        return self.run_dir / f"epoch{epoch:03d}.safetensors"

    def after_step(self, model: torch.nn.Module, step: int) -> None:
        """Called with the number of steps done, after the optimizer step."""
        if self.decay and step >= self.ema_from:
            if self.ema is None:
                self.ema = {n: t.float().clone() for n, t in unique_params(model).items()}
            else:
                ema_update_(self.ema, unique_params(model), self.decay)
        epoch, in_epoch = divmod(step, self.spe)
        if self.k and self.write and in_epoch == 0 and epoch > self.epochs - self.k:
            weights = {n: t.contiguous().cpu() for n, t in unique_params(model).items()}
            atomic_save(self.snapshot_path(epoch), lambda tmp: save_file(weights, tmp))

    def state(self) -> dict:
        return {"ema": self.ema} if self.decay else {}

    def load(self, state: dict) -> None:
        if self.decay:
            self.ema = state.get("ema")

    def finish(self, model: torch.nn.Module, evaluate: Callable[[torch.nn.Module], dict]) -> dict:
        """Evaluate the EMA and the last-k average; write their weights; return the summary entries."""
        out: dict = {}
        for tag, weights, fname in (("ema", self.ema if self.decay else None, EMA_WEIGHTS),
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

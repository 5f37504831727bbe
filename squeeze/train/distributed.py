"""One model on many processes: the process group, DDP / FSDP2 wrapping, gradient accumulation, full checkpoints.

Under `torchrun` (WORLD_SIZE > 1 in the environment) the trainer joins a process group (nccl on CUDA, gloo on CPU),
wraps the model in DDP or, with `train.parallel=fsdp`, shards it with FSDP2 (`fully_shard` per block, then the
root). Outside torchrun everything here is a no-op and the trainer runs exactly as a single process always did.

Global batch: `train.batch_size` sequences per optimizer step summed over all ranks. Each rank takes
batch_size / world of them (EpochLoader rank/world: disjoint shards whose union is the epoch) and walks them in
accum = ceil(per_rank / train.micro_batch) micro-steps, gradient sync only on the last (DDP no_sync, FSDP2
set_requires_gradient_sync). Micro-step m of rank r with n rows of the step's N global rows back-propagates
mean_loss * n / N * world: DDP and FSDP2 average gradients over ranks, so the update is the gradient of the mean
loss over all N rows, whatever the number of ranks or micro-steps (same loss curve within float rounding). A rank
or micro-step with 0 rows (the short last chunk of an epoch) runs a dummy row with weight 0, so collectives match.

Rank 0 alone writes run files; checkpoints hold full (unsharded) state dicts in the single-process format
(FSDP2 gathers them with torch.distributed.checkpoint.state_dict), so a run resumes on any number of ranks.
Evaluation runs the full validation set on every rank (FSDP2 forwards are collective), so its numbers equal a
single process's. Exercised by tests/test_distributed.py; run with
`torchrun --nproc_per_node=8 -m squeeze.cli train --data STORE --out RUN`.
"""
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.nn.parallel import DistributedDataParallel

from squeeze.errors import SqueezeError
from squeeze.model import GPT


@dataclass
class Ranks:
    """This process's place in the job, read from torchrun's environment variables (1 process when absent)."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks_from_env() -> Ranks:
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise SqueezeError("WORLD_SIZE / RANK / LOCAL_RANK: not integers (set by torchrun)") from None
    return Ranks(rank, world, local)


def init_process_group(r: Ranks) -> bool:
    """Join the process group of a torchrun job; True when this call created it (the caller then destroys it)."""
    if r.world == 1 or dist.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(r.local_rank)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True


def shutdown(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


def per_rank_batch(batch_size: int, world: int) -> int:
    if batch_size % world:
        raise SqueezeError(f"train.batch_size={batch_size}: the global batch must be divisible by the {world} "
                           "processes")
    return batch_size // world


def accum_steps(per_rank: int, micro_batch: int) -> int:
    """Micro-steps per optimizer step: 1 when train.micro_batch is 0 (off) or at least the per-rank batch."""
    return math.ceil(per_rank / micro_batch) if micro_batch else 1


def _param_names(model: nn.Module, opt: torch.optim.Optimizer) -> list[str]:
    """Fully qualified name of each optimizer parameter, in the order opt.state_dict() numbers them."""
    name_of = {id(p): n for n, p in model.named_parameters()}  # a tied head appears once, as embed.weight
    return [name_of[id(p)] for g in opt.param_groups for p in g["params"]]


def optim_to_names(sd: dict, names: list[str]) -> dict:
    """opt.state_dict() numbering (0, 1, ...) -> parameter names (the torch.distributed.checkpoint layout)."""
    return {"state": {names[i]: v for i, v in sd["state"].items()},
            "param_groups": [{**g, "params": [names[i] for i in g["params"]]} for g in sd["param_groups"]]}


def optim_to_numbers(sd: dict, names: list[str]) -> dict:
    index = {n: i for i, n in enumerate(names)}
    return {"state": {index[n]: v for n, v in sd["state"].items()},
            "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in sd["param_groups"]]}


class Parallel:
    """The trainer's view of the process group: wraps the model, splits batches, syncs losses, gathers state."""

    def __init__(self, ranks: Ranks, parallel: str = "ddp", micro_batch: int = 0, batch_size: int = 1):
        self.r, self.parallel = ranks, parallel if ranks.world > 1 else "none"
        self.accum = accum_steps(per_rank_batch(batch_size, ranks.world), micro_batch)
        self.simple = ranks.world == 1 and self.accum == 1  # the original single-process path, bit for bit
        self.net: nn.Module | None = None
        self._total: torch.Tensor | None = None

    @property
    def main(self) -> bool:
        return self.r.main

    def default_device(self) -> str:
        if not torch.cuda.is_available():
            return "cpu"
        return f"cuda:{self.r.local_rank}" if self.r.world > 1 else "cuda"

    def describe(self) -> str:
        return (f"parallel: {self.r.world} processes ({self.parallel}), {self.accum} micro-step(s) of "
                f"gradient accumulation per optimizer step")

    def wrap(self, model: nn.Module, optimizer_kind: str) -> nn.Module:
        """The module to call for training forwards (DDP wrapper, FSDP2-sharded model, or the model itself)."""
        if self.parallel == "ddp":
            dev = next(model.parameters()).device
            self.net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        elif self.parallel == "fsdp":
            if optimizer_kind == "muon":
                raise SqueezeError("train.parallel=fsdp with train.optimizer=muon: Muon needs whole matrices; "
                                   "use adamw or train.parallel=ddp")
            from torch.distributed.fsdp import fully_shard
            for block in model.blocks:
                fully_shard(block)
            fully_shard(model)
            self.net = model
        else:
            self.net = model
        return self.net

    def barrier(self) -> None:
        if self.r.world > 1:
            dist.barrier()

    def global_rows(self, loader, in_epoch: int) -> int:
        """Sequences in optimizer step `in_epoch` over all ranks (the last one of an epoch may be short)."""
        return min(loader.global_batch, loader.n_sequences - in_epoch * loader.global_batch)

    def _sync(self, last: bool):
        if self.parallel == "ddp" and not last:
            return self.net.no_sync()
        if self.parallel == "fsdp":
            self.net.set_requires_gradient_sync(last)
        return nullcontext()

    def micro_steps(self, x_BT: torch.Tensor, y_BT: torch.Tensor, n_global: int):
        """Yield (x, y, weight) per micro-step; the caller runs forward and `backward(loss, weight)` inside."""
        if self.simple:
            yield x_BT, y_BT, 1.0
            return
        self._total = torch.zeros((), device=x_BT.device)
        for m, (x, y) in enumerate(zip(torch.tensor_split(x_BT, self.accum), torch.tensor_split(y_BT, self.accum))):
            weight = x.shape[0] / n_global
            if x.shape[0] == 0:  # a dummy row keeps the collectives in step; weight 0 keeps it out of the update
                x = y = torch.zeros((1, x_BT.shape[1]), dtype=x_BT.dtype, device=x_BT.device)
            with self._sync(m == self.accum - 1):
                yield x, y, weight

    def backward(self, loss: torch.Tensor, weight: float) -> None:
        if self.simple:
            self._total = loss.detach()
            loss.backward()
            return
        self._total += loss.detach().float() * weight
        (loss * (weight * self.r.world)).backward()  # DDP / FSDP2 divide the summed gradient by world

    def loss_value(self) -> float:
        """The step's mean training loss over all N rows of all ranks."""
        if self.r.world > 1:
            dist.all_reduce(self._total)
        return self._total.item()

    def full_state(self, model: nn.Module, optimizers: list) -> tuple[dict | None, list | None]:
        """(model state, optimizer states) in the single-process layout, on rank 0; (None, None) elsewhere."""
        if self.parallel != "fsdp":
            if not self.main:
                return None, None
            return model.state_dict(), [opt.state_dict() for opt in optimizers]
        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)  # gathered on rank 0 only
        model_sd = get_model_state_dict(model, options=opts)
        optim_sds = [get_optimizer_state_dict(model, opt, options=opts) for opt in optimizers]  # collective
        optim_sds = [optim_to_numbers(sd, _param_names(model, opt)) if self.main else None
                     for sd, opt in zip(optim_sds, optimizers)]
        return (model_sd, optim_sds) if self.main else (None, None)

    def plain_model(self, model: nn.Module, model_sd: dict) -> nn.Module:
        """A module whose weights safetensors can write: the model itself, or an unsharded CPU copy under FSDP2."""
        if self.parallel != "fsdp":
            return model
        copy = GPT(model.cfg)
        copy.load_state_dict(model_sd)
        return copy

    def load_state(self, model: nn.Module, optimizers: list, state: dict) -> None:
        """Load a checkpoint written by any number of ranks into this (possibly sharded) model."""
        if self.parallel != "fsdp":
            model.load_state_dict(state["model"])
            for opt, sd in zip(optimizers, state["optimizers"], strict=True):
                opt.load_state_dict(sd)
            return
        opts = StateDictOptions(full_state_dict=True)
        set_model_state_dict(model, state["model"], options=opts)
        for opt, sd in zip(optimizers, state["optimizers"], strict=True):
            set_optimizer_state_dict(model, opt, optim_to_names(sd, _param_names(model, opt)), options=opts)


class NullLog:
    """metrics.jsonl stand-in on ranks other than 0: they log nothing."""
    count = 0

    def write(self, **row) -> None:
        pass

    def sync(self) -> None:
        pass

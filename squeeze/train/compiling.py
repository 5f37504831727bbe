"""`train.compile` in a run: the rule of squeeze/device/precision.py applied to the run's predicted training FLOPs,
and the one inductor cache that every worker process and every later run share, so that only the first run of a
shape pays a cold compile. Exercised by tests/test_compile.py.
"""
import dataclasses
import os
from pathlib import Path

import torch

from squeeze.config import Config
from squeeze.device.precision import choose_compile
from squeeze.model import GPT

BATCHED = "auto: trained in a batched group (one vmapped eager step for all of its runs)"


def train_flops(cfg: Config, tokens: int) -> float:
    """Training FLOPs of `tokens` tokens through cfg's model (GPT.flops_per_token), built on the meta device so
    nothing is allocated; a vocabulary still to be read from the store (0) counts as none."""
    with torch.device("meta"):
        model = GPT(dataclasses.replace(cfg.model, vocab_size=max(cfg.model.vocab_size, 2)))
    return float(model.flops_per_token()) * tokens


def decide(cfg: Config, device: str, flops: float, threads: int, batched: bool = False) -> tuple[bool, str]:
    """(compile?, why) for a run of `flops` training FLOPs on `device` with `threads` CPU threads; a run in a
    batched group never compiles (the group's step is one vmapped eager step)."""
    if batched and cfg.train.compile == "auto":
        return False, BATCHED
    return choose_compile(cfg.train.compile, device, flops, threads, cfg.train.dtype, width=cfg.model.d_model)


def compiles_alone(cfg: Config) -> bool:
    """Would this run compile when trained on its own (its budget x epochs known from the config)? False when the
    budget is the whole store (0), whose size the config does not say."""
    if cfg.train.compile != "auto" or not cfg.data.budget_tokens:
        return cfg.train.compile == "on"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    flops = train_flops(cfg, cfg.data.budget_tokens * cfg.train.epochs)
    return decide(cfg, device, flops, cfg.train.threads or torch.get_num_threads())[0]


def share_inductor_cache() -> None:
    """Point inductor at ~/.cache/squeeze/inductor (or $XDG_CACHE_HOME's) unless TORCHINDUCTOR_CACHE_DIR is set:
    one place that worker processes inherit and that outlives /tmp, torch's default."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(base / "squeeze" / "inductor"))

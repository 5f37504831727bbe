"""Run directories on disk: weights (safetensors), resumable state (torch.load weights_only), loading a run.

A run directory holds `config.json`, `run.json` (git commit, versions, tokenizer fingerprint), `metrics.jsonl`,
`model.safetensors`, `state.pt` and, once finished, `summary.json`. Nothing here unpickles: safetensors for
weights and `weights_only=True` for optimizer state. Exercised by tests/test_trainer.py (resume equality).
"""
import io
import os
import subprocess
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from squeeze import config as config_mod
from squeeze.errors import SqueezeError
from squeeze.io import atomic_write, read_json
from squeeze.model import GPT

WEIGHTS, STATE, CONFIG, RUN, METRICS, SUMMARY = (
    "model.safetensors", "state.pt", "config.json", "run.json", "metrics.jsonl", "summary.json")


def git_commit() -> str:
    """The squeeze source's commit (with '+dirty' for local changes), or 'unknown' outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("+dirty" if dirty else "")) if sha else "unknown"


def save_weights(model: GPT, run_dir: Path) -> None:
    """Atomically write model.safetensors (tied tensors stored once)."""
    tmp = run_dir / f".{WEIGHTS}.tmp"
    try:
        save_model(model, str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, run_dir / WEIGHTS)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SqueezeError(f"{run_dir / WEIGHTS}: cannot write ({e.strerror or e})") from e


def load_weights(model: GPT, path: Path) -> None:
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device=str(next(model.parameters()).device))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise SqueezeError(f"{path}: cannot load weights ({str(e).splitlines()[0]})") from None
    if missing or unexpected:
        raise SqueezeError(f"{path}: weights do not match the config (missing {missing[:3]}, unexpected "
                           f"{unexpected[:3]})")


def save_state(run_dir: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(run_dir / STATE, lambda f: f.write(buf.getvalue()))


def load_state(run_dir: Path) -> dict:
    path = run_dir / STATE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SqueezeError(f"{path}: no checkpoint to resume from") from None
    except Exception as e:  # a truncated or foreign file: name it, never load it silently
        raise SqueezeError(f"{path}: corrupted checkpoint ({type(e).__name__})") from None


def check_tokenizer(run_dir: Path, info: dict, store) -> None:
    """A checkpoint only makes sense with the token store whose tokenizer it was trained on."""
    if info.get("tokenizer_fingerprint") not in (None, store.fingerprint):
        raise SqueezeError(f"{run_dir}: checkpoint and token store {store.root} come from different tokenizers")


def load_run(run_dir: str | Path, device: str = "cpu", weights: str = WEIGHTS) -> tuple[config_mod.Config, GPT, dict]:
    """(config, model with its weights in eval mode, run.json) of a run directory; `weights` names the file
    (model.safetensors = the raw weights; model_ema / model_avg.safetensors = the averages of squeeze.train.averaging)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise SqueezeError(f"{run_dir}: not a run directory (no {CONFIG})")
    cfg = config_mod.load(str(run_dir / CONFIG))
    if not (run_dir / weights).exists():
        raise SqueezeError(f"{run_dir}: no {weights} yet (the run has not saved it)")
    model = GPT(cfg.model).to(device)
    load_weights(model, run_dir / weights)
    info = read_json(run_dir / RUN) if (run_dir / RUN).exists() else {}
    return cfg, model.eval(), info

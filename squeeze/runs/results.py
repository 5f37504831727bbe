"""The results table, rebuilt from run directories alone (they are the database).

`collect(root)` finds every run directory under `root` (a folder with a config.json) and flattens its config and
summary into one row; sweeps, fits and reports all read this and nothing else. Each row carries `config_key`: runs
with equal keys are seeds of one configuration, the only runs a report may average (`config_key`).
Exercised by tests/test_sweep.py and tests/test_results.py.
"""
import csv
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from squeeze import config as config_mod
from squeeze.errors import SqueezeError
from squeeze.io import atomic_write, read_json
from squeeze.runs.files import CONFIG, SUMMARY

# Row fields, in column order: identity, the knobs sweeps vary, then the measurements.
FIELDS = ("name", "path", "recipe", "finished", "lr", "weight_decay", "epochs", "optimizer", "budget_tokens",
          "n_layer", "d_model", "seed", "data_seed", "params", "non_embedding_params", "unique_tokens",
          "tokens_seen", "flops", "val_loss", "val_bpb", "train_seconds", "config_key")

# Fields that do not change what a run computes, or that a seed changes: left out of `config_key`. The store and the
# keep-mask enter by what they hold (their checksums, the mask's selection), not by their paths.
SEED_FIELDS = (("train", "seed"), ("data", "seed"))
NOT_MATH = (("train", "threads"), ("data", "path"), ("data", "keep_mask"), ("train", "log"), ("train", "ckpt_every"),
            ("train", "log_every"))


@lru_cache(maxsize=64)
def _store_identity(path: str) -> str:
    """The store's content (meta.json's checksums of its files), or its path when it cannot be read."""
    try:
        return json.dumps(read_json(Path(path) / "meta.json").get("checksums"), sort_keys=True)
    except (SqueezeError, OSError):
        return path


@lru_cache(maxsize=256)
def _mask_identity(path: str) -> str:
    """What a keep-mask selects: its flags and partial document, or for a random subset only how it was drawn (a
    random subset's draw is part of its seed). The path itself when the file cannot be read."""
    try:
        d = read_json(Path(path))
    except (SqueezeError, OSError):
        return path
    keys = ("method", "budget_tokens", "keep_fraction", "target_tokens", "store_fingerprint")
    if d.get("method") != "random":
        keys += ("keep", "partial")
    return json.dumps({k: d.get(k) for k in keys}, sort_keys=True)


def under_runs(path: str, runs: Path) -> Path | None:
    """A path recorded under some `runs` folder, moved under `runs`: the part after its last `runs` folder joined
    to `runs`; None when the path has no `runs` folder. (Studies record paths as given on the command line.)"""
    parts = Path(path).parts
    if "runs" not in parts:
        return None
    return Path(runs, *parts[len(parts) - parts[::-1].index("runs"):])


def locate(path: str, run_dir: Path | None) -> str:
    """A path a run's config recorded (a keep-mask, a store), found again from the run directory when the study
    was moved or the path was relative to another working directory: `under_runs` the run directory's own `runs`
    ancestor."""
    if Path(path).exists() or run_dir is None:
        return path
    for parent in Path(run_dir).resolve().parents:
        here = under_runs(path, parent) if parent.name == "runs" else None
        if here is not None and here.exists():
            return str(here)
    return path


def config_key(cfg: config_mod.Config, run_dir: Path | None = None) -> str:
    """A hash of the whole config minus the seed fields and the fields that do not change the math (threads, paths
    standing for equal contents, logging, checkpoint cadence). Two runs are seeds of one configuration iff equal.
    A random data subset's mask is part of its seed, not of its configuration (its selection differs per seed)."""
    d = config_mod.to_dict(cfg)
    for section, name in (*SEED_FIELDS, *NOT_MATH):
        d[section].pop(name, None)
    d["data"]["store"] = _store_identity(cfg.data.path) if cfg.data.path else ""
    if cfg.data.keep_mask:
        d["data"]["mask"] = _mask_identity(locate(cfg.data.keep_mask, run_dir))
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_row(run_dir: Path, root: Path | None = None) -> dict:
    """One flat row for one run directory; measurements are None until summary.json exists."""
    cfg = config_mod.load(str(run_dir / CONFIG))
    summary = read_json(run_dir / SUMMARY) if (run_dir / SUMMARY).exists() else {}
    row = {
        "name": str(run_dir.relative_to(root)) if root else run_dir.name, "path": str(run_dir),
        "recipe": cfg.recipe, "finished": bool(summary), "lr": cfg.train.lr,
        "weight_decay": cfg.train.weight_decay, "epochs": cfg.train.epochs, "optimizer": cfg.train.optimizer,
        "budget_tokens": cfg.data.budget_tokens, "n_layer": cfg.model.n_layer, "d_model": cfg.model.d_model,
        "seed": cfg.train.seed, "data_seed": cfg.data.seed, "config_key": config_key(cfg, run_dir),
    }
    if summary.get("diverged"):  # trained and worse than anything that finished (the certificate relies on it)
        summary = {**summary, "val_loss": float("inf"), "val_bpb": float("inf")}
    for key in ("params", "non_embedding_params", "unique_tokens", "tokens_seen", "flops", "val_loss", "val_bpb",
                "val_tokens", "train_seconds", "peak_flops"):
        row[key] = summary.get(key)
    return row


def collect(root: str | Path) -> list[dict]:
    """Rows for every run directory at or under `root`, sorted by name."""
    root = Path(root)
    if not root.exists():
        raise SqueezeError(f"{root}: no such directory")
    # os.walk skips what vanishes or cannot be listed while it walks (Path.rglob raised FileNotFoundError on /proc)
    dirs = sorted({Path(d) for d, _, files in os.walk(root) if CONFIG in files})
    return [run_row(d, root) for d in dirs]


def write_csv(rows: list[dict], path: str | Path) -> None:
    def write(f):
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    atomic_write(path, write, mode="w")

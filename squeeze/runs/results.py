"""The results table, rebuilt from run directories alone (they are the database).

`collect(root)` finds every run directory under `root` (a folder with a config.json) and flattens its config and
summary into one row; sweeps, fits and reports all read this and nothing else. Exercised by tests/test_sweep.py.
"""
import csv
from pathlib import Path

from squeeze import config as config_mod
from squeeze.errors import SqueezeError
from squeeze.io import atomic_write, read_json
from squeeze.runs.files import CONFIG, SUMMARY

# Row fields, in column order: identity, the knobs sweeps vary, then the measurements.
FIELDS = ("name", "path", "recipe", "finished", "lr", "weight_decay", "epochs", "optimizer", "budget_tokens",
          "n_layer", "d_model", "seed", "data_seed", "params", "non_embedding_params", "unique_tokens",
          "tokens_seen", "flops", "val_loss", "val_bpb", "train_seconds")


def run_row(run_dir: Path, root: Path | None = None) -> dict:
    """One flat row for one run directory; measurements are None until summary.json exists."""
    cfg = config_mod.load(str(run_dir / CONFIG))
    summary = read_json(run_dir / SUMMARY) if (run_dir / SUMMARY).exists() else {}
    row = {
        "name": str(run_dir.relative_to(root)) if root else run_dir.name, "path": str(run_dir),
        "recipe": cfg.recipe, "finished": bool(summary), "lr": cfg.train.lr,
        "weight_decay": cfg.train.weight_decay, "epochs": cfg.train.epochs, "optimizer": cfg.train.optimizer,
        "budget_tokens": cfg.data.budget_tokens, "n_layer": cfg.model.n_layer, "d_model": cfg.model.d_model,
        "seed": cfg.train.seed, "data_seed": cfg.data.seed,
    }
    if summary.get("diverged"):  # trained and worse than anything that finished (the certificate relies on it)
        summary = {**summary, "val_loss": float("inf"), "val_bpb": float("inf")}
    for key in ("params", "non_embedding_params", "unique_tokens", "tokens_seen", "flops", "val_loss", "val_bpb",
                "val_tokens", "train_seconds"):
        row[key] = summary.get(key)
    return row


def collect(root: str | Path) -> list[dict]:
    """Rows for every run directory at or under `root`, sorted by name."""
    root = Path(root)
    if not root.exists():
        raise SqueezeError(f"{root}: no such directory")
    dirs = sorted({p.parent for p in root.rglob(CONFIG)})
    return [run_row(d, root) for d in dirs]


def write_csv(rows: list[dict], path: str | Path) -> None:
    def write(f):
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    atomic_write(path, write, mode="w")

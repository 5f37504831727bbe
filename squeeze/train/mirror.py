"""`train.log` (`squeeze train --log tensorboard|wandb`): every metrics.jsonl row mirrored to a dashboard.

metrics.jsonl stays the source of truth (reports are rebuilt from it alone); a mirror only copies each row as it
is written: numeric fields become scalars at the row's `step`. TensorBoard event files go to RUN_DIR/tb
(`tensorboard --logdir RUN_DIR/tb`). Weights & Biases logs offline into RUN_DIR/wandb unless WANDB_MODE says
otherwise (`wandb sync` uploads later), so a run never blocks on a login or the network. A missing package is a
one-line warning and no mirror, never a failed run. A resumed run re-sends the rows after its checkpoint: the
dashboards may show those steps twice; metrics.jsonl does not. Exercised by tests/test_mirror.py.
"""
import hashlib
import os
import sys
from pathlib import Path

INSTALL = {"tensorboard": "pip install 'squeeze[tensorboard]'", "wandb": "pip install 'squeeze[wandb]'"}


def scalars(row: dict) -> dict[str, float]:
    """The numeric fields of a metrics row, `step` excepted (it is the x axis)."""
    return {k: float(v) for k, v in row.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class TensorBoardMirror:
    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(log_dir=str(run_dir / "tb"))

    def __call__(self, row: dict) -> None:
        for key, value in scalars(row).items():
            self.writer.add_scalar(key, value, global_step=row["step"])
        self.writer.flush()  # one flush per logged row (every train.log_every steps): a killed run loses nothing

    def close(self) -> None:
        self.writer.close()


class WandbMirror:
    def __init__(self, run_dir: Path, config: dict):
        import wandb
        self.wandb = wandb
        run_id = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:16]  # resume continues the same run
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "squeeze"), name=run_dir.name, id=run_id,
                              dir=str(run_dir), config=config, resume="allow",
                              mode=os.environ.get("WANDB_MODE", "offline"))

    def __call__(self, row: dict) -> None:
        self.run.log(scalars(row), step=row["step"])

    def close(self) -> None:
        self.run.finish()


def make_mirror(kind: str, run_dir: Path, config: dict):
    """The mirror for `train.log`, or None for 'none' and when its package is missing (a warning on stderr, even
    for a quiet run: the user asked for a dashboard and gets none)."""
    if kind == "none":
        return None
    try:
        return TensorBoardMirror(run_dir) if kind == "tensorboard" else WandbMirror(run_dir, config)
    except ImportError:
        print(f"warning: train.log={kind} but {kind} is not installed ({INSTALL[kind]}); logging to metrics.jsonl "
              "only", file=sys.stderr)
        return None

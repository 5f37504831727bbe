"""`squeeze train`: one model into a run directory (squeeze/train/trainer.py), from a recipe or a config.json plus
`--section.field=value` overrides, every one checked before the run directory is touched.
Exercised by tests/test_cli.py and tests/test_trainer.py.
"""
import argparse
import os
from pathlib import Path

from squeeze import config as config_mod
from squeeze import recipes
from squeeze.cli import checks
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.runs.files import CONFIG
from squeeze.train.trainer import train


def add_train_parser(sub) -> None:
    t = sub.add_parser("train", help="train one model into a run directory",
                       epilog="config fields (--section.field=value):\n" + config_mod.describe_fields(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--recipe", default=None, help=f"one of: {', '.join(recipes.RECIPES)} (default: standard)")
    t.add_argument("--config", default=None, help="start from this config.json instead of a recipe")
    t.add_argument("--data", default=None, help="token store directory")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--epochs", type=int, default=None, help="shorthand for --train.epochs")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    t.add_argument("--force", action="store_true", help="overwrite an existing run")
    t.add_argument("--quiet", action="store_true", help="no progress bar or start-up lines")
    t.add_argument("--init", default=None, help="shorthand for --train.init: start from a squeeze run directory or "
                                                "a local Hugging Face Llama/Qwen3 folder")
    t.add_argument("--log", default=None, help="shorthand for --train.log: tensorboard or wandb")


EPOCHS_MAX = 1_000_000  # the most epochs a flag asks for; the largest ever measured useful is in the hundreds


def check_train(a: argparse.Namespace, overrides: list[str]) -> None:
    """Every flag, then the whole config (recipe or --config, then the overrides: config.py checks each field and
    every cross-field rule) and the token store it names, before the run directory is touched."""
    checks.choice("--recipe", a.recipe, recipes.RECIPES, "recipe")
    checks.existing("--config", a.config, "file")
    checks.existing("--data", a.data, "dir")
    checks.output_dir("--out", a.out)
    checks.number("--epochs", a.epochs, 1, EPOCHS_MAX)
    checks.existing("--init", a.init, "dir")
    if a.resume and a.force:
        raise SqueezeError("--resume and --force: give one (--force starts the run over, --resume continues it)")
    if a.config and a.recipe:
        raise SqueezeError("--config and --recipe: give one (both name the base config)")
    run_dir = Path(a.out)
    if a.data:
        overrides = [f"data.path={a.data}", *overrides]
    if a.epochs is not None:
        overrides = [*overrides, f"train.epochs={a.epochs}"]
    overrides += [f"train.{k}={v}" for k, v in (("init", a.init), ("log", a.log)) if v is not None]
    if a.resume and not (a.config or a.recipe) and (run_dir / CONFIG).exists():
        base = config_mod.load(str(run_dir / CONFIG))  # resume needs no flags beyond the run dir; the
    else:  # trainer refuses any flag that would change the run
        base = config_mod.load(a.config) if a.config else recipes.recipe(a.recipe or "standard")
    a.cfg = config_mod.apply_overrides(base, overrides)
    checks.config_paths(a.cfg)
    if a.cfg.data.path:
        TokenStore.open(a.cfg.data.path)
    checks.make_outputs(a.out)


def cmd_train(a: argparse.Namespace) -> None:
    summary = train(a.cfg, Path(a.out), resume=a.resume, force=a.force, quiet=a.quiet)
    if summary.get("diverged"):
        raise SqueezeError(summary["message"])
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for all
        print(f"val loss {summary['val_loss']:.4f} nats/token, {summary['val_bpb']:.4f} bits/byte")

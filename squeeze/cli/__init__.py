"""The `squeeze` command: one sub-command per step, and the only package that parses argv or prints tables.

  squeeze prepare [--data PATH] --out DIR        text -> token store (built-in corpus by default)
  squeeze train [--recipe NAME] --data DIR --out RUN_DIR [--section.field=value ...]
  squeeze eval RUN_DIR [--json] [--weights W]     validation loss (nats/token) and bits per byte
  squeeze eval RUN_DIR RUN_DIR ... [--json]      an ensemble: mixture, product, learned weights, K curve
  squeeze ensemble --data DIR --out ROOT --members K [--recipe NAME | --from RUN_DIR]   train K members
  squeeze distill --data DIR --teachers RUN_DIR... --out RUN_DIR | --chain K      a distilled student / a chain
  squeeze eval RUN_DIR --task PATH.jsonl|heldout zero-shot multiple-choice accuracy
  squeeze sample RUN_DIR --prompt TEXT           generated text
  squeeze run [--data PATH] [--preset NAME] [--out DIR]   the main job
  squeeze sweep --data DIR --out ROOT [--lr a,b] [--weight-decay a,b] [--epochs a,b] [--certify]
  squeeze fit PATH [PATH ...] [--out DIR]        scaling-law fits, multipliers, plots
  squeeze report DIR                             report.md / report.html of a `squeeze run` directory
  squeeze export RUN_DIR --format hf --out DIR   a folder transformers loads (Llama / Qwen3)
  squeeze prune --data DIR --method M --keep F --out MASK   data selection -> a keep-mask for train/sweep

One module per command group (data, train, evaluate, study, sweep, fit, members), each with its parser, its
`cmd_*` and its printing; this module assembles the parser and dispatches. Bad input prints
`squeeze: error: <one line>` and exits 2; Ctrl-C exits 130 (a re-run resumes). Exercised by tests/test_cli.py.
"""
import sys

from squeeze import config as config_mod
from squeeze.cli import data, evaluate, fit, members, study, sweep, train
from squeeze.cli.common import Parser
from squeeze.errors import SqueezeError
from squeeze.io import DISK_ERRNOS, disk_error

CONFIG_SECTIONS = tuple(f"--{s}." for s in config_mod.SECTIONS)

# command -> (function, whether it takes --section.field=value overrides)
COMMANDS = {
    "prepare": (data.cmd_prepare, False), "train": (train.cmd_train, True), "eval": (evaluate.cmd_eval, False),
    "sample": (evaluate.cmd_sample, False), "run": (study.cmd_run, False), "report": (study.cmd_report, False),
    "sweep": (sweep.cmd_sweep, True), "fit": (fit.cmd_fit, False), "export": (evaluate.cmd_export, False),
    "prune": (data.cmd_prune, False), "ensemble": (members.cmd_ensemble, True),
    "distill": (members.cmd_distill, True),
}


def _parser() -> Parser:
    p = Parser(prog="squeeze", description="Train the best LM a fixed text budget allows.")
    sub = p.add_subparsers(dest="command", required=True)
    data.add_prepare_parser(sub)
    train.add_train_parser(sub)
    evaluate.add_eval_parser(sub)
    evaluate.add_sample_parser(sub)
    study.add_run_parser(sub)
    study.add_report_parser(sub)
    sweep.add_sweep_parser(sub)
    fit.add_fit_parser(sub)
    evaluate.add_export_parser(sub)
    data.add_prune_parser(sub)
    members.add_parsers(sub)
    return p


def _join_spaced_overrides(rest: list[str]) -> list[str]:
    """Accept `--train.lr 3e-3` as well as `--train.lr=3e-3`."""
    out, i = [], 0
    while i < len(rest):
        item = rest[i]
        if item.startswith(CONFIG_SECTIONS) and "=" not in item and i + 1 < len(rest) \
                and not rest[i + 1].startswith("--"):
            out.append(f"{item}={rest[i + 1]}")
            i += 2
        else:
            out.append(item)
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args, rest = _parser().parse_known_args(argv)
    except SqueezeError as e:
        print(f"squeeze: error: {e}", file=sys.stderr)
        return 2
    rest = _join_spaced_overrides(rest)
    overrides = [x for x in rest if x.startswith(CONFIG_SECTIONS)]
    unknown = [x for x in rest if x not in overrides]
    fn, takes_overrides = COMMANDS[args.command]
    try:
        if unknown:
            raise SqueezeError(f"unrecognized arguments: {' '.join(unknown)}")
        if overrides and not takes_overrides:
            raise SqueezeError(f"config overrides ({overrides[0]}) apply to `squeeze train`, `sweep`, `ensemble` "
                               "and `distill` only")
        if takes_overrides:
            fn(args, overrides)
        else:
            fn(args)
    except SqueezeError as e:
        print(f"squeeze: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("squeeze: interrupted (a run resumes with --resume)", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in DISK_ERRNOS:  # anything else escaping as OSError is a bug: keep its traceback
            raise
        print(f"squeeze: error: {disk_error(e)}", file=sys.stderr)
        return 2
    return 0

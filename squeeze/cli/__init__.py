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
  squeeze import FILE.gguf --out DIR             a Llama / Qwen3 GGUF as an HF folder that --init reads
  squeeze prune --data DIR --method M --keep F --out MASK   data selection -> a keep-mask for train/sweep

One module per command group (data, train, evaluate, study, sweep, fit, members), each with its parser, its
`check_*` (every flag's value checked and the output directories made, before any work: squeeze/cli/checks.py), its
`cmd_*` and its printing; this module assembles the parser and dispatches. Bad input prints
`squeeze: error: <one line>` and exits 2; Ctrl-C exits 130 (a re-run resumes); any other exception is a bug, one line
and exit 1 (squeeze/cli/__main__.py). Exercised by tests/test_cli.py, tests/test_cli_checks.py and
tests/test_cli_fuzz.py.
"""
import sys
from typing import Callable, NamedTuple

from squeeze import config as config_mod
from squeeze.cli import checks, data, evaluate, fit, members, study, sweep, train
from squeeze.cli.common import Parser
from squeeze.errors import SqueezeError
from squeeze.io import DISK_ERRNOS, disk_error

CONFIG_SECTIONS = tuple(f"--{s}." for s in config_mod.SECTIONS)


class Command(NamedTuple):
    check: Callable  # (args, overrides) -> None: every value checked (raises SqueezeError) and the outputs made
    run: Callable  # (args) -> None: the work, on the values `check` accepted
    overrides: bool  # whether it takes --section.field=value overrides


COMMANDS = {
    "prepare": Command(data.check_prepare, data.cmd_prepare, False),
    "train": Command(train.check_train, train.cmd_train, True),
    "eval": Command(evaluate.check_eval, evaluate.cmd_eval, False),
    "sample": Command(evaluate.check_sample, evaluate.cmd_sample, False),
    "run": Command(study.check_run, study.cmd_run, False),
    "report": Command(study.check_report, study.cmd_report, False),
    "sweep": Command(sweep.check_sweep, sweep.cmd_sweep, True),
    "fit": Command(fit.check_fit, fit.cmd_fit, False),
    "export": Command(evaluate.check_export, evaluate.cmd_export, False),
    "import": Command(evaluate.check_import, evaluate.cmd_import, False),
    "prune": Command(data.check_prune, data.cmd_prune, False),
    "ensemble": Command(members.check_ensemble, members.cmd_ensemble, True),
    "distill": Command(members.check_distill, members.cmd_distill, True),
}


def parser() -> Parser:
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
    evaluate.add_import_parser(sub)
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


def say_error(message: str, kind: str = "error") -> None:
    """`squeeze: error: <message>` as one line on stderr, whatever bytes the message carries (a path from the
    shell may hold lone surrogates, which a UTF-8 stream refuses)."""
    line = " ".join(f"squeeze: {kind}: {message}".split())
    print(line.encode("utf-8", "backslashreplace").decode("utf-8"), file=sys.stderr)


def _check_text(args, rest: list[str]) -> None:
    """Every text value on the command line is valid UTF-8 (see checks.text)."""
    for key, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                checks.text(f"--{key.replace('_', '-')}", item, empty=True)
    for item in rest:
        checks.text("argument", item, empty=True)


def main(argv: list[str] | None = None) -> int:
    """Parse, check every value (Command.check), then do the work (Command.run). Bad input is one line and exit 2,
    Ctrl-C exit 130; anything else escapes to the last-resort handler of squeeze/cli/__main__.py."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args, rest = parser().parse_known_args(argv)
        _check_text(args, rest)
    except SqueezeError as e:
        say_error(str(e))
        return 2
    rest = _join_spaced_overrides(rest)
    overrides = [x for x in rest if x.startswith(CONFIG_SECTIONS)]
    unknown = [x for x in rest if x not in overrides]
    command = COMMANDS[args.command]
    try:
        if unknown:
            raise SqueezeError(f"unrecognized arguments: {' '.join(unknown)}")
        if overrides and not command.overrides:
            raise SqueezeError(f"config overrides ({overrides[0]}) apply to `squeeze train`, `sweep`, `ensemble` "
                               "and `distill` only")
        command.check(args, overrides)  # every value, before anything is written or trained
        command.run(args)
    except SqueezeError as e:
        say_error(str(e))
        return 2
    except KeyboardInterrupt:
        print("squeeze: interrupted (a run resumes with --resume)", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in DISK_ERRNOS:  # anything else escaping as OSError is a bug: the last-resort handler's
            raise
        say_error(str(disk_error(e)))
        return 2
    return 0

"""`squeeze run` (the main job: the whole study of squeeze/study/steps/) and `squeeze report DIR` (its report
rebuilt from run directories): their flags, their checks, and the headline table they print.
Exercised by tests/test_run.py and tests/test_kill.py.
"""
import argparse
from pathlib import Path

from squeeze import presets
from squeeze.cli import checks
from squeeze.cli.common import add_executor_flags, executor_config
from squeeze.errors import SqueezeError
from squeeze.study.compute import compute_line
from squeeze.study.report import summarize
from squeeze.study.report_output import write_report
from squeeze.study.report_page import law_note, table_lines
from squeeze.study.run import check_out, run_study


def add_run_parser(sub) -> None:
    r = sub.add_parser("run", help="the main job on a corpus (default: built-in)")
    r.add_argument("--data", default=None, help="a corpus path or a token store (default: the built-in corpus)")
    r.add_argument("--preset", default="default", help=f"one of: {', '.join(presets.PRESETS)}")
    r.add_argument("--out", default="squeeze-out", help="output directory (default: squeeze-out)")
    r.add_argument("--text-field", default="text", help=".jsonl field holding the text")
    r.add_argument("--workers", type=int, default=None, help="parallel 1-thread training processes (default: "
                                                             "min(2, cores))")
    r.add_argument("--time-budget", type=float, default=None, metavar="MIN", help="minutes after which "
                   "certification walks stop (each step gets its share; the report names what is left uncertified); "
                   "default: the preset's (default 60, others none); 0 = none")
    r.add_argument("--init", default=None, metavar="BASE", help="continued pretraining: every run starts from this "
                   "base (a squeeze run directory, a local Hugging Face Llama/Qwen3 folder or a .gguf file); the "
                   "corpus is prepared with its tokenizer and the study's sizes are fixed to its size")
    r.add_argument("--seed-offset", type=int, default=0, help="shift every seed (init, data order, random subsets) "
                   "by N: studies with other offsets are independent replicates (default 0)")
    add_executor_flags(r)


def add_report_parser(sub) -> None:
    rp = sub.add_parser("report", help="report.md, report.html and plots of a study directory")
    rp.add_argument("dir", help="the --out directory of `squeeze run`")


def check_run(a: argparse.Namespace, _overrides: list[str]) -> None:
    """Every flag of `squeeze run`, and a --out that holds another study, refused before anything is written."""
    checks.existing("--data", a.data)
    checks.choice("--preset", a.preset, presets.PRESETS, "preset")
    checks.output_dir("--out", a.out)
    checks.text("--text-field", a.text_field)
    checks.workers("--workers", a.workers)
    checks.existing("--init", a.init)
    checks.number("--time-budget", a.time_budget, 0)
    # every seed of the study is the offset plus a count below 100 (seeds, members, headline seeds)
    checks.number("--seed-offset", a.seed_offset, 0, checks.SEED_MAX - 100)
    a.executor_config = executor_config(a)
    check_out(Path(a.out), a.data, a.preset, a.seed_offset, a.init)
    checks.make_outputs(a.out)


def cmd_run(a: argparse.Namespace) -> None:
    result = run_study(a.data, a.preset, a.out, text_field=a.text_field, workers=a.workers,
                       executor=a.executor_config, seed_offset=a.seed_offset, minutes=a.time_budget,
                       init=a.init)
    print_summary(result.summary)
    print(f"\nreport: {result.written[0]} and {result.written[1]}")


def check_report(a: argparse.Namespace, _overrides: list[str]) -> None:
    checks.existing("DIR", a.dir, "dir")
    if not (Path(a.dir) / "runs").is_dir():
        raise SqueezeError(f"{a.dir}: not a study directory (no runs/ folder; make one with `squeeze run --out "
                           f"{a.dir}`)")
    checks.make_outputs(a.dir)


def cmd_report(a: argparse.Namespace) -> None:
    out = Path(a.dir)
    summary = summarize(out)
    paths = write_report(out, summary)
    print_summary(summary)
    print("\nwrote " + ", ".join(str(p) for p in paths))


def print_summary(summary: dict) -> None:
    print(f"\ndata-efficiency study at D0 = {summary['d0']:,.0f} unique training tokens "
          f"({summary['runs']} runs; multipliers read against the measured standard points, 90% intervals over "
          f"seed noise)")
    print("\n".join(table_lines(summary)))
    if note := law_note(summary):
        print(note)
    if "base" in summary:
        print(summary["base"]["note"])
    for what, why in summary.get("not_measured", {}).items():
        print(f"{what}: {why}")
    b = summary["best_model"]
    bpb = f", {b['val_bpb']:.4f} bits/byte" if b["val_bpb"] is not None else ""
    print(f"\nbest single model: {b['method']}, val loss {b['val_loss']:.4f} nats/token{bpb}\n  {b['path']}")
    if "compute" in summary:  # summaries written before the study recorded its wall time have none
        print(compute_line(summary["compute"]))

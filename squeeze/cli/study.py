"""`squeeze run` (the main job: the whole study of squeeze/study/steps/) and `squeeze report DIR` (its report
rebuilt from run directories): their flags, and the headline table they print.
Exercised by tests/test_run.py and tests/test_kill.py.
"""
import argparse
from pathlib import Path

from squeeze import presets
from squeeze.errors import SqueezeError
from squeeze.runs.jobs import ExecutorConfig
from squeeze.study.report import summarize
from squeeze.study.report_output import write_report
from squeeze.study.report_page import law_note, table_lines
from squeeze.study.run import run_study


def add_run_parser(sub) -> None:
    r = sub.add_parser("run", help="the main job on a corpus (default: built-in)")
    r.add_argument("--data", default=None, help="a corpus path or a token store (default: the built-in corpus)")
    r.add_argument("--preset", default="default", help=f"one of: {', '.join(presets.PRESETS)}")
    r.add_argument("--out", default="squeeze-out", help="output directory (default: squeeze-out)")
    r.add_argument("--text-field", default="text", help=".jsonl field holding the text")
    r.add_argument("--workers", type=int, default=None, help="parallel 1-thread training processes (default: "
                                                             "min(2, cores))")
    r.add_argument("--executor", default="local", choices=("local", "ray"), help="where the runs train: local "
                   "processes (one per GPU when GPUs are visible) or a Ray cluster (see `squeeze sweep --help`)")
    r.add_argument("--ray-address", default=None, help="Ray cluster to join (default: a local Ray instance)")
    r.add_argument("--runs-per-gpu", type=int, default=1, help="small models: runs sharing one GPU (default 1)")
    r.add_argument("--time-budget", type=float, default=None, metavar="MIN", help="minutes after which "
                   "certification walks stop (each step gets its share; the report names what is left uncertified); "
                   "default: the preset's (default 60, others none); 0 = none")
    r.add_argument("--seed-offset", type=int, default=0, help="shift every seed (init, data order, random subsets) "
                   "by N: studies with other offsets are independent replicates (default 0)")
    r.add_argument("--batch-runs", type=int, default=1, help="train up to N new same-shape runs (seeds, "
                   "ensemble members, lr/wd grid points) in one process as one batched model (default 1 = off: "
                   "measured no faster on the 2-core CPU, benchmarks/RESULTS.md)")


def add_report_parser(sub) -> None:
    rp = sub.add_parser("report", help="report.md, report.html and plots of a study directory")
    rp.add_argument("dir", help="the --out directory of `squeeze run`")


def executor_config(a: argparse.Namespace) -> ExecutorConfig:
    """The --executor, --ray-address, --runs-per-gpu and --batch-runs flags of `squeeze run` and `squeeze sweep`."""
    return ExecutorConfig(a.executor, a.ray_address, a.runs_per_gpu, a.batch_runs)


def cmd_run(a: argparse.Namespace) -> None:
    result = run_study(a.data, a.preset, a.out, text_field=a.text_field, workers=a.workers,
                       executor=executor_config(a), seed_offset=a.seed_offset, minutes=a.time_budget)
    print_summary(result.summary)
    print(f"\nreport: {result.written[0]} and {result.written[1]}")


def cmd_report(a: argparse.Namespace) -> None:
    out = Path(a.dir)
    if not (out / "runs").is_dir():
        raise SqueezeError(f"{out}: not a study directory (no runs/ folder; make one with `squeeze run --out {out}`)")
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
    b = summary["best_model"]
    bpb = f", {b['val_bpb']:.4f} bits/byte" if b["val_bpb"] is not None else ""
    print(f"\nbest single model: {b['method']}, val loss {b['val_loss']:.4f} nats/token{bpb}\n  {b['path']}")

"""What every command module shares: the parser class whose errors are one line, comma-list parsing, and the
four executor flags of `squeeze run` and `squeeze sweep` (defined here once, checked and turned into an
ExecutorConfig here once). Exercised by tests/test_cli.py, tests/test_sweep.py and tests/test_cli_checks.py.
"""
import argparse
import math

from squeeze.cli import checks
from squeeze.errors import SqueezeError
from squeeze.runs.jobs import EXECUTORS, ExecutorConfig

RUNS_PER_GPU_MAX = 64  # small models sharing one GPU: past this the runs would get < ~1 GB of an 80 GB card each
BATCH_RUNS_MAX = 256  # same-shape runs stacked into one batched model (squeeze/train/batched.py)


class Parser(argparse.ArgumentParser):
    """argparse's errors as one-line SqueezeErrors (its default prints the usage too); sub-parsers inherit it."""

    def error(self, message: str):
        raise SqueezeError(f"{message} (see `{self.prog} --help`)")


def parse_list(text: str | None, tp: type, flag: str) -> list:
    """`1e-3,2e-3` -> [0.001, 0.002]; None -> []; a bad item is a one-line SqueezeError naming the flag."""
    if text is None:
        return []
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise SqueezeError(f"{flag} {text!r}: empty item (expected a comma list like 1,2,4)")
        try:
            out.append(tp(item))
        except ValueError:
            raise SqueezeError(f"{flag} {text!r}: {item!r} is not {'an integer' if tp is int else 'a number'}") \
                from None
        if tp is float and not math.isfinite(out[-1]):
            raise SqueezeError(f"{flag} {text!r}: {item!r} is not a finite number")
    return out


def parse_sizes(text: str | None) -> list[tuple[int, int]]:
    """`4x128,6x192` -> [(4, 128), (6, 192)]: n_layer x d_model."""
    sizes = []
    for item in parse_list(text, str, "--sizes"):
        layers, sep, width = item.lower().partition("x")
        if not (sep and layers.isdigit() and width.isdigit()):
            raise SqueezeError(f"--sizes {text!r}: {item!r} is not LAYERSxWIDTH like 4x128")
        sizes.append((int(layers), int(width)))
    return sizes


def add_executor_flags(p: argparse.ArgumentParser) -> None:
    """--executor, --ray-address, --runs-per-gpu, --batch-runs: where and how the many runs of a command train."""
    p.add_argument("--executor", default="local", choices=EXECUTORS, help="local: worker processes on this machine "
                   "(one per GPU, or --runs-per-gpu per GPU, when GPUs are visible); ray: tasks on a Ray cluster "
                   "(pip install 'squeeze[ray]'; --out must be on storage every node sees)")
    p.add_argument("--ray-address", default=None, help="with --executor ray: the Ray cluster to join, e.g. "
                   "10.0.0.1:6379 or auto (default: start a Ray instance on this machine)")
    p.add_argument("--runs-per-gpu", type=int, default=1, help="small models: runs sharing one GPU (default 1)")
    p.add_argument("--batch-runs", type=int, default=1, help="train up to N new same-shape runs (seeds, "
                   "ensemble members, lr/wd grid points) in one process as one batched model (default 1 = off: "
                   "measured no faster on the 2-core CPU, benchmarks/RESULTS.md)")


def executor_config(a: argparse.Namespace) -> ExecutorConfig:
    """The executor flags checked (ranges; --ray-address only with --executor ray) and built into one config."""
    if a.ray_address is not None and a.executor != "ray":
        raise SqueezeError(f"--ray-address {a.ray_address}: applies to --executor ray only (not {a.executor})")
    checks.text("--ray-address", a.ray_address)
    checks.number("--runs-per-gpu", a.runs_per_gpu, 1, RUNS_PER_GPU_MAX)
    checks.number("--batch-runs", a.batch_runs, 1, BATCH_RUNS_MAX)
    return ExecutorConfig(a.executor, a.ray_address, a.runs_per_gpu, a.batch_runs)

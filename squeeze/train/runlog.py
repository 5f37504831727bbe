"""What a run reports while it trains: the progress bar (or, in a log file, a plain line every 30 s) with loss,
tokens/s and MFU, and metrics.jsonl, appended one line at a time and rewound to the checkpoint on resume.
Used by squeeze/train/trainer.py; exercised by tests/test_trainer.py and tests/test_faults.py.
"""
import json
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from squeeze.device import perf
from squeeze.io import atomic_write, disk_error


class Progress(tqdm):
    """A tqdm bar on a terminal; in a log file (not a TTY) a plain line every 30 s instead of carriage returns."""

    def __init__(self, total: int, initial: int, quiet: bool, peak: float = 0.0):
        self.plain = not quiet and not sys.stderr.isatty()
        self.peak = peak  # measured matmul FLOP/s of the run's devices (squeeze/device/perf.py); 0: no MFU shown
        self.last_print = self.began = time.perf_counter()
        self.first, self.steps = initial, total  # tqdm sets no attributes when disabled
        super().__init__(total=total, initial=initial, disable=quiet or self.plain, unit="step",
                         dynamic_ncols=True, file=sys.stderr)

    def show(self, step: int, loss: float, tok_s: float, flops_per_token: int) -> None:
        """Loss, tokens/s and MFU (achieved FLOP/s over the measured peak) on the bar, or every 30 s as a line."""
        use = f"  MFU {perf.mfu(tok_s * flops_per_token, self.peak):.1%}" if self.peak else ""
        self.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tok_s:,.0f}", **({"mfu": use.split()[-1]} if use else {}))
        if self.plain and time.perf_counter() - self.last_print > 30:
            self.last_print = time.perf_counter()
            left = (self.steps - step) * (self.last_print - self.began) / max(step - self.first, 1)
            print(f"step {step:,}/{self.steps:,}  loss {loss:.3f}  {tok_s:,.0f} tok/s{use}  ~{left / 60:.1f} min left",
                  file=sys.stderr, flush=True)

    def write_line(self, text: str) -> None:
        if self.plain:
            print(text, file=sys.stderr, flush=True)
        elif not self.disable:
            self.write(text, file=sys.stderr)


class MetricsLog:
    """metrics.jsonl, appended one JSON line at a time; its line count goes into every checkpoint."""
    mirror = None  # train.log: a callable that copies each row to TensorBoard / W&B (squeeze/train/mirror.py)

    def __init__(self, path: Path, keep_lines: int | None):
        self.path = path
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
        if keep_lines is not None and keep_lines != len(lines):  # drop lines logged after the checkpoint
            atomic_write(path, lambda f: f.write("".join(lines[:keep_lines])), mode="w")
        self.count = len(lines) if keep_lines is None else keep_lines
        self.file = open(path, "a", encoding="utf-8")

    def write(self, **row) -> None:
        try:
            self.file.write(json.dumps(row) + "\n")
            self.file.flush()
        except OSError as e:  # disk full: the lines up to the last checkpoint are kept, resume rewinds to them
            raise disk_error(e, self.path) from e
        self.count += 1
        if self.mirror:
            self.mirror(row)

    def sync(self) -> None:
        try:
            os.fsync(self.file.fileno())
        except OSError as e:
            raise disk_error(e, self.path) from e

"""What a study cost and how well it used the machine: its runs' summed training FLOPs over the wall time of every
`squeeze run` invocation into the directory (study_time.json), as a share of the workers' measured peak.

    study MFU = sum of the runs' FLOPs / (wall seconds x peak FLOP/s per worker x workers)

The peak per worker is the median of the runs' own measured matmul peaks (each run probes the peak of its process:
one worker's threads). Wall time includes everything a study does besides training (evaluations, ensembles,
fits, the report), so the study MFU is below its runs' own. Exercised by tests/test_study_compute.py.
"""
import statistics
from datetime import datetime
from pathlib import Path

from squeeze.io import STAMP, read_json, write_json

TIME_FILE = "study_time.json"


def study_mfu(flops: list[float], peaks: list[float], wall_seconds: float, workers: int) -> dict:
    """The study's compute line as data; `mfu` is None when the wall time, the peaks or the workers are unknown."""
    total = float(sum(flops))
    peak = statistics.median(peaks) if peaks else 0.0
    known = wall_seconds > 0 and peak > 0 and workers > 0
    return {"flops": total, "wall_seconds": wall_seconds, "workers": workers, "peak_flops": peak,  # per worker
            "mfu": total / (wall_seconds * peak * workers) if known else None}


def record_time(out: Path, started: str, seconds: float, workers: int, before: float = 0.0) -> None:
    """Set this invocation's wall seconds (keyed by its start time) in out/study_time.json, keeping earlier ones.
    `before`: wall seconds the caller spent on this study in earlier invocations by its own clock
    (benchmarks/flagship.py's, which also counts those this file never saw)."""
    path = out / TIME_FILE
    runs = [r for r in (read_json(path)["invocations"] if path.exists() else []) if r["started"] != started]
    write_json(path, {"invocations": [*runs, {"started": started, "seconds": round(seconds, 2), "workers": workers,
                                              **({"before": round(before, 2)} if before else {})}]})


def _epoch(stamp: str) -> float | None:
    """A STAMP as epoch seconds; None for anything else."""
    try:
        return datetime.strptime(stamp, STAMP).timestamp()
    except (TypeError, ValueError):
        return None


def _started(row: dict) -> float | None:
    """When a row's run started (its run.json), as epoch seconds; None when unknown."""
    path = Path(row["path"]) / "run.json" if row.get("path") else None
    return _epoch(read_json(path).get("started")) if path is not None and path.exists() else None


def compute_of(out: Path, rows: list[dict]) -> dict:
    """study_mfu of a study directory: its runs' rows (FLOPs, measured peaks) and its study_time.json. The wall time
    is the invocations' sum, or an invocation's `before` plus its own seconds where that is more. A study from
    before that file existed, or with runs that started before its first recorded invocation and no `before` to
    count them, reads mfu None (`unrecorded` says how many runs): their FLOPs over a wall time that left out their
    training gave a flagship study MFU of 185%."""
    path = out / TIME_FILE
    invocations = read_json(path)["invocations"] if path.exists() else []
    wall = max([sum(r["seconds"] for r in invocations)] + [r.get("before", 0) + r["seconds"] for r in invocations])
    workers = max((r["workers"] for r in invocations), default=0)
    c = study_mfu([r["flops"] for r in rows if r.get("flops")], [r["peak_flops"] for r in rows
                                                                 if r.get("peak_flops")], wall, workers)
    stamps = [_epoch(r["started"]) for r in invocations]
    if stamps and None not in stamps and not any(r.get("before") for r in invocations):
        early = sum(1 for r in rows if r.get("flops") and (t := _started(r)) is not None and t < min(stamps) - 1)
        if early:
            c.update(mfu=None, unrecorded=early)
    return c


def compute_line(c: dict) -> str:
    """'compute: 1.2e+14 FLOPs in 13.1 min on 2 workers; study MFU 21% of 93 GFLOP/s per worker (measured)'."""
    head = f"compute: {c['flops']:.3g} FLOPs"
    if not c["wall_seconds"]:
        return head + " (no study_time.json: the wall time of this study was not recorded)"
    if c.get("unrecorded"):
        return head + (f" in {c['wall_seconds'] / 60:.1f} min recorded; {c['unrecorded']} runs started before the "
                       "first recorded invocation, so their time is missing: no MFU")
    if c["mfu"] is None:
        return head + f" in {c['wall_seconds'] / 60:.1f} min (no run recorded its measured peak: no MFU)"
    return (f"{head} in {c['wall_seconds'] / 60:.1f} min on {c['workers']} worker(s); study MFU {c['mfu']:.1%} of "
            f"{c['peak_flops'] / 1e9:,.0f} GFLOP/s per worker (the runs' measured matmul peak)")

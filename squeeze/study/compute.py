"""What a study cost and how well it used the machine: its runs' summed training FLOPs over the wall time of every
`squeeze run` invocation into the directory (study_time.json), as a share of the workers' measured peak.

    study MFU = sum of the runs' FLOPs / (wall seconds x peak FLOP/s per worker x workers)

The peak per worker is the median of the runs' own measured matmul peaks (each run probes the peak of its process:
one worker's threads). Wall time includes everything a study does besides training (evaluations, ensembles,
fits, the report), so the study MFU is below its runs' own. Exercised by tests/test_study_compute.py.
"""
import statistics
import time
from pathlib import Path

from squeeze.io import read_json, write_json

TIME_FILE = "study_time.json"


def study_mfu(flops: list[float], peaks: list[float], wall_seconds: float, workers: int) -> dict:
    """The study's compute line as data; `mfu` is None when the wall time, the peaks or the workers are unknown."""
    total = float(sum(flops))
    peak = statistics.median(peaks) if peaks else 0.0
    known = wall_seconds > 0 and peak > 0 and workers > 0
    return {"flops": total, "wall_seconds": wall_seconds, "workers": workers, "peak_flops": peak,  # per worker
            "mfu": total / (wall_seconds * peak * workers) if known else None}


def record_time(out: Path, started: str, seconds: float, workers: int) -> None:
    """Set this invocation's wall seconds (keyed by its start time) in out/study_time.json, keeping earlier ones."""
    path = out / TIME_FILE
    runs = [r for r in (read_json(path)["invocations"] if path.exists() else []) if r["started"] != started]
    write_json(path, {"invocations": [*runs, {"started": started, "seconds": round(seconds, 2), "workers": workers}]})


def started_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def compute_of(out: Path, rows: list[dict]) -> dict:
    """study_mfu of a study directory: its runs' rows (FLOPs, measured peaks) and its study_time.json; a study
    from before that file existed reads mfu None, wall 0."""
    path = out / TIME_FILE
    invocations = read_json(path)["invocations"] if path.exists() else []
    wall = sum(r["seconds"] for r in invocations)
    workers = max((r["workers"] for r in invocations), default=0)
    return study_mfu([r["flops"] for r in rows if r.get("flops")], [r["peak_flops"] for r in rows
                                                                      if r.get("peak_flops")], wall, workers)


def compute_line(c: dict) -> str:
    """'compute: 1.2e+14 FLOPs in 13.1 min on 2 workers; study MFU 21% of 93 GFLOP/s per worker (measured)'."""
    head = f"compute: {c['flops']:.3g} FLOPs"
    if not c["wall_seconds"]:
        return head + " (no study_time.json: the wall time of this study was not recorded)"
    if c["mfu"] is None:
        return head + f" in {c['wall_seconds'] / 60:.1f} min (no run recorded its measured peak: no MFU)"
    return (f"{head} in {c['wall_seconds'] / 60:.1f} min on {c['workers']} worker(s); study MFU {c['mfu']:.1%} of "
            f"{c['peak_flops'] / 1e9:,.0f} GFLOP/s per worker (the runs' measured matmul peak)")

"""Running many training runs: `execute(jobs)` and `run_jobs(jobs)`, whichever executor runs them.

`execute` trains each `Job` (squeeze/runs/jobs.py) in this process one after another, in a pool of local worker
processes (squeeze/runs/local.py), or on a Ray cluster (squeeze/runs/ray_executor.py, `pip install 'squeeze[ray]'`);
run directories are the same whichever ran them. One failing job never stops the others; `run_jobs` raises the
failures together, as one SqueezeError, once all jobs are done. A progress line per finished job goes to stderr:
`[3/12] runs/lr0.002_wd0.8_ep16: val loss 4.4120 (61 s, 12,345 tok/s, MFU 3.1%)`.
Exercised by tests/test_execute.py; `squeeze sweep --executor local|ray` uses it.
"""
import sys
from pathlib import Path

from squeeze.errors import SqueezeError
from squeeze.runs.files import CONFIG, STATE, SUMMARY  # noqa: F401  (tests check they agree with the trainer's)
from squeeze.runs.jobs import (
    EXECUTORS,
    ExecutorConfig,
    Job,
    Outcome,
    Report,
    Trainer,
    check_order,
    default_threads,
    estimated_cost,
    failure_message,
    with_threads,
)
from squeeze.runs.local import gpu_slots, keep_workers, pool, serial, visible_gpus
from squeeze.runs.ray_executor import run_on_ray

__all__ = ["EXECUTORS", "ExecutorConfig", "Job", "Outcome", "Path", "Report", "Trainer", "default_threads",
           "describe", "estimated_cost", "execute", "gpu_slots", "keep_workers", "run_jobs"]


def _speed(out: Outcome) -> str:
    """', 12,345 tok/s, MFU 3.1%' from the run's summary.json; '' for a summary written before these fields."""
    if "mfu" not in out.summary:
        return ""
    return f", {out.summary['tokens_per_second']:,.0f} tok/s, MFU {out.summary['mfu']:.1%}"


def describe(out: Outcome) -> str:
    """What became of a job, for a progress line: 'val loss 4.4120 (61 s, 12,345 tok/s, MFU 3.1%)', 'diverged (...)'
    or 'FAILED: ...'."""
    if out.error:
        return f"FAILED: {out.error}"
    if out.summary.get("diverged"):
        return f"diverged ({out.summary.get('message', 'loss became NaN/inf')})"
    sec = f"{out.seconds:.0f} s" if out.seconds >= 10 else f"{out.seconds:.1f} s"
    return f"val loss {out.summary['val_loss']:.4f} ({'finished earlier' if out.skipped else sec}{_speed(out)})"


def _progress(total: int, on_done: Report | None = None) -> Report:
    done = [0]

    def report(i: int, job: Job, out: Outcome) -> None:
        done[0] += 1
        print(f"[{done[0]}/{total}] {job.run_dir}: {describe(out)}", file=sys.stderr, flush=True)
        if out.trace:
            print(out.trace, file=sys.stderr, flush=True)
        if on_done:
            on_done(i, job, out)
    return report


def execute(jobs: list[Job], trainer: Trainer, workers: int = 1, threads_per_worker: int | None = None,
            quiet: bool = True, on_done: Report | None = None, executor: str = "local",
            ray_address: str | None = None, runs_per_gpu: int = 1, batch_runs: int = 1) -> list[Outcome]:
    """Run every job with `trainer` (squeeze.train.backend.TRAINER) and return one Outcome per job, in job order;
    never raises for a failed job. `on_done` is called after each job's progress line (the study's overall
    progress uses it).

    local: `workers` processes on this machine, or with GPUs visible, runs_per_gpu processes per GPU (`workers`
    is then ignored). ray: the jobs go to the Ray cluster at `ray_address` (None: a Ray instance started here),
    each asking Ray for the threads per worker in CPUs (and 1/runs_per_gpu GPU when the cluster has GPUs); Ray
    decides how many run at once."""
    if executor not in EXECUTORS:
        raise SqueezeError(f"--executor {executor}: must be one of {', '.join(EXECUTORS)}")
    if workers < 1 or runs_per_gpu < 1 or batch_runs < 1:
        raise SqueezeError(f"--workers {workers}, --runs-per-gpu {runs_per_gpu}, --batch-runs {batch_runs}: "
                           "each must be >= 1")
    if threads_per_worker is not None and threads_per_worker < 1:
        raise SqueezeError(f"threads per worker {threads_per_worker}: must be >= 1")
    check_order(jobs)
    slots = gpu_slots(visible_gpus(), runs_per_gpu) if executor == "local" and jobs else []
    slots = slots if len(slots) > 1 else []  # one GPU, one run at a time: this process uses it directly
    threads = threads_per_worker or default_threads(len(slots) or workers)
    jobs = [with_threads(job, threads) for job in jobs]
    report = _progress(len(jobs), on_done)
    if executor == "ray":
        return run_on_ray(jobs, trainer, workers, threads, quiet, report, ray_address, runs_per_gpu, batch_runs)
    if not slots and (workers == 1 or len(jobs) <= 1):
        return serial(jobs, trainer, threads, quiet, report, batch_runs)
    return pool(jobs, trainer, workers, threads, quiet, report, slots, batch_runs)


def run_jobs(jobs: list[Job], trainer: Trainer, workers: int = 1, threads_per_worker: int | None = None,
             quiet: bool = True, on_done: Report | None = None, **executor) -> list[dict]:
    """Run every job (see `execute`; `executor` takes its executor, ray_address and runs_per_gpu) and return the
    summaries in job order; raise one SqueezeError at the end naming the failed run directories when any failed."""
    outcomes = execute(jobs, trainer, workers, threads_per_worker, quiet, on_done, **executor)
    message = failure_message(jobs, outcomes)
    if message:
        raise SqueezeError(message)
    return [out.summary for out in outcomes]

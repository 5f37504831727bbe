"""Running many training runs: in this process one after another, or in a pool of worker processes.

`run_jobs(jobs, workers)` trains each `Job` (a config and its run directory) unless it already finished: a run
directory with summary.json is read back, one with state.pt is resumed, anything else trains from scratch. One
failing job never stops the others; the failures are raised together, as one SqueezeError, once all jobs are done.
A progress line per finished job goes to stderr: `[3/12] runs/lr0.002_wd0.8_ep16: val loss 4.4120 (61 s)`.

Worker processes are spawned (not forked) and each runs threads_per_worker torch threads, by default cores / workers,
recorded as train.threads. Executors are functions `(jobs, workers, threads, quiet, report) -> list[Outcome]` over
`run_one`: `_serial` (in this process), `_pool` (the local executor: worker processes packed onto the cores, or
onto GPUs: with G visible GPUs and runs_per_gpu k, G*k workers each pinned to one GPU via CUDA_VISIBLE_DEVICES),
and the Ray executor (squeeze/study/ray_executor.py, `pip install 'squeeze[ray]'`), which sends the same `run_one`
calls to a Ray cluster. A job may name earlier jobs in `after` (chain stages): it starts once they have finished
and fails without running if one of them failed. Run directories are the same whichever executor ran them.
Exercised by tests/test_execute.py; `squeeze sweep --executor local|ray` (squeeze/study/sweep.py) uses it.
"""
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from squeeze import config as config_mod
from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.io import read_json

# The run-directory files this module looks at: the names of squeeze.train.checkpoint, which is not imported here
# because it imports torch (~2 s) and `squeeze --help` imports this module. tests/test_execute.py checks they agree.
CONFIG, STATE, SUMMARY = "config.json", "state.pt", "summary.json"


@dataclass
class Job:
    """One training run: what to train and where; `after` lists indices of earlier jobs it must wait for."""
    cfg: Config
    run_dir: Path
    after: tuple[int, ...] = field(default=())


@dataclass
class Outcome:
    """What became of one job: its summary, or the one-line error (and a traceback when it was a bug)."""
    summary: dict | None = None
    error: str | None = None
    trace: str | None = None
    skipped: bool = False
    seconds: float = 0.0


Report = Callable[[int, Job, Outcome], None]


def default_threads(workers: int) -> int:
    """Torch threads per worker so that workers x threads never exceeds the cores: on the 2-core machine two
    1-thread processes beat one 2-thread process for small models (DESIGN.md section 5)."""
    cores = os.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):  # `taskset`, cgroups cpusets: the cores this process may actually use
        cores = min(cores, len(os.sched_getaffinity(0)))
    return max(1, cores // workers)


def _adopt_saved(cfg: Config, run_dir: Path) -> Config:
    """Check that a run directory that already holds a config holds *this* config, and return it as saved.

    Sweep directory names encode only the swept values, so a second sweep with another base config into the same
    root would otherwise silently reuse runs that answer a different question. Threads are hardware, not science:
    the saved value is kept so that `train(resume=True)` sees an identical config."""
    path = run_dir / CONFIG
    if not path.exists():
        return cfg
    saved = config_mod.load(str(path))
    asked = config_mod.with_saved_choices(cfg, saved)
    asked.train.threads = saved.train.threads
    diff = config_mod.first_difference(asked, saved)
    if diff:
        raise SqueezeError(f"{run_dir}: holds a run with another config ({diff}); choose another output directory")
    return asked


def _train_or_skip(job: Job, quiet: bool) -> tuple[dict, bool]:
    from squeeze.train.trainer import train
    run_dir = Path(job.run_dir)
    cfg = _adopt_saved(job.cfg, run_dir)
    if (run_dir / SUMMARY).exists():
        return read_json(run_dir / SUMMARY), True
    if (run_dir / STATE).exists():
        return train(cfg, run_dir, resume=True, quiet=quiet), False
    # config.json without state.pt: killed before its first checkpoint, so there is nothing to keep
    force = (run_dir / CONFIG).exists()
    return train(cfg, run_dir, force=force, quiet=quiet), False


def run_one(job: Job, quiet: bool = True) -> Outcome:
    """Train, resume or skip one job; every Exception becomes an Outcome, so one bad job cannot sink the rest."""
    t0 = time.perf_counter()
    try:
        summary, skipped = _train_or_skip(job, quiet)
        return Outcome(summary=summary, skipped=skipped, seconds=time.perf_counter() - t0)
    except SqueezeError as e:
        return Outcome(error=str(e).splitlines()[0] if str(e) else "SqueezeError", seconds=time.perf_counter() - t0)
    except Exception as e:  # a bug: keep the traceback for the log
        line = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
        return Outcome(error=line, trace=traceback.format_exc(), seconds=time.perf_counter() - t0)


def _with_threads(job: Job, threads: int) -> Job:
    cfg = job.cfg.copy()
    cfg.train.threads = threads  # recorded in config.json; the trainer applies it with torch.set_num_threads
    return Job(cfg, Path(job.run_dir), tuple(job.after))


def check_order(jobs: list[Job]) -> None:
    """A job may only wait for earlier jobs, so job order is always a valid serial order (no cycles)."""
    for i, job in enumerate(jobs):
        if any(not 0 <= k < i for k in job.after):
            raise SqueezeError(f"{job.run_dir}: waits for job(s) {list(job.after)}; a job may only wait for "
                               f"earlier jobs (0..{i - 1})")


def _blocked(job: Job, outcomes: list) -> Outcome | None:
    """The failure of a job whose chain predecessor failed, or None when it may run."""
    bad = [k for k in job.after if outcomes[k] is not None and outcomes[k].error]
    return Outcome(error=f"not run: {jobs_word(len(bad))} it waits for failed") if bad else None


def jobs_word(n: int) -> str:
    return "a job" if n == 1 else f"{n} jobs"


def _serial(jobs: list[Job], workers: int, threads: int, quiet: bool, report: Report) -> list[Outcome]:
    import torch  # here and below, not at the top: `squeeze --help` should not wait ~2 s for torch
    before = torch.get_num_threads()
    try:
        outcomes: list[Outcome | None] = [None] * len(jobs)
        for i, job in enumerate(jobs):
            outcomes[i] = _blocked(job, outcomes) or run_one(job, quiet)
            report(i, job, outcomes[i])
        return outcomes
    finally:
        torch.set_num_threads(before)  # the trainer changes it process-wide; leave the caller's setting alone


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel SIGKILL this worker when the `squeeze` process that spawned it dies, even by SIGKILL.
    Otherwise an orphan worker trains on, holding its run directory's lock, and the re-run that follows the kill
    finds that run "in use" (tests/test_kill.py)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def schedule(jobs: list[Job], submit: Callable, wait_one: Callable, report: Report, quiet: bool) -> list[Outcome]:
    """Run jobs through a backend as their chain predecessors finish: `submit(i, job) -> handle` starts one,
    `wait_one(handles) -> (handle, Outcome)` waits for any. Finished runs are read back here, without a worker."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    running: dict = {}  # handle -> job index
    waiting = list(range(len(jobs)))
    while waiting or running:
        for i in list(waiting):
            if any(outcomes[k] is None for k in jobs[i].after):
                continue  # a predecessor is still running
            waiting.remove(i)
            outcomes[i] = _blocked(jobs[i], outcomes)
            if outcomes[i] is None and (Path(jobs[i].run_dir) / SUMMARY).exists():
                outcomes[i] = run_one(jobs[i], quiet)  # reading a summary needs no worker process
            if outcomes[i] is None:
                running[submit(i, jobs[i])] = i
            else:
                report(i, jobs[i], outcomes[i])
        if running:
            handle, outcome = wait_one(list(running))
            i = running.pop(handle)
            outcomes[i] = outcome
            report(i, jobs[i], outcome)
    return outcomes


def gpu_slots(n_gpus: int, runs_per_gpu: int) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each local worker: runs_per_gpu workers share each GPU (small models)."""
    return [str(g) for g in range(n_gpus) for _ in range(runs_per_gpu)]


def visible_gpus() -> int:
    """GPUs a local executor may pack runs onto (0 without CUDA); asked without initializing CUDA here."""
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _init_worker(threads: int, slots=None, parent: int | None = None) -> None:
    if parent is not None:
        _die_with_parent(parent)
    if slots is not None:  # before torch touches CUDA in this process: pin it to one GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = slots.get()
    import torch
    torch.set_num_threads(threads)


def _pool(jobs: list[Job], workers: int, threads: int, quiet: bool, report: Report,
          slots: list[str] | None = None) -> list[Outcome]:
    # spawn, not fork: forking a process that has started torch's thread pools can deadlock the child
    ctx = multiprocessing.get_context("spawn")
    queue = None
    if slots:
        workers, queue = len(slots), ctx.Queue()
        for slot in slots:
            queue.put(slot)
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))), mp_context=ctx,
                             initializer=_init_worker, initargs=(threads, queue, os.getpid())) as pool:
        def wait_one(futures):
            fut = next(iter(wait(futures, return_when=FIRST_COMPLETED)[0]))
            try:
                return fut, fut.result()
            except Exception as e:  # the worker process itself died (killed, out of memory)
                return fut, Outcome(error=f"worker process died ({type(e).__name__}: {e})")
        try:
            return schedule(jobs, lambda i, job: pool.submit(run_one, job, quiet), wait_one, report, quiet)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _progress(total: int, on_done: Report | None = None) -> Report:
    done = [0]

    def report(i: int, job: Job, out: Outcome) -> None:
        done[0] += 1
        sec = f"{out.seconds:.0f} s" if out.seconds >= 10 else f"{out.seconds:.1f} s"
        if out.error:
            what = f"FAILED: {out.error}"
        elif out.summary.get("diverged"):
            what = f"diverged ({out.summary.get('message', 'loss became NaN/inf')})"
        else:
            what = f"val loss {out.summary['val_loss']:.4f} ({'finished earlier' if out.skipped else sec})"
        print(f"[{done[0]}/{total}] {job.run_dir}: {what}", file=sys.stderr, flush=True)
        if out.trace:
            print(out.trace, file=sys.stderr, flush=True)
        if on_done:
            on_done(i, job, out)
    return report


EXECUTORS = ("local", "ray")


def execute(jobs: list[Job], workers: int = 1, threads_per_worker: int | None = None,
            quiet: bool = True, on_done: Report | None = None, executor: str = "local",
            ray_address: str | None = None, runs_per_gpu: int = 1) -> list[Outcome]:
    """Run every job and return one Outcome per job, in job order; never raises for a failed job. `on_done` is
    called after each job's progress line (the study's overall progress uses it).

    local: `workers` processes on this machine, or with GPUs visible, runs_per_gpu processes per GPU (`workers`
    is then ignored). ray: the jobs go to the Ray cluster at `ray_address` (None: a Ray instance started here),
    each asking Ray for the threads per worker in CPUs (and 1/runs_per_gpu GPU when the cluster has GPUs); Ray
    decides how many run at once."""
    if executor not in EXECUTORS:
        raise SqueezeError(f"--executor {executor}: must be one of {', '.join(EXECUTORS)}")
    if workers < 1 or runs_per_gpu < 1:
        raise SqueezeError(f"--workers {workers}, --runs-per-gpu {runs_per_gpu}: both must be >= 1")
    if threads_per_worker is not None and threads_per_worker < 1:
        raise SqueezeError(f"threads per worker {threads_per_worker}: must be >= 1")
    check_order(jobs)
    slots = gpu_slots(visible_gpus(), runs_per_gpu) if executor == "local" and jobs else []
    slots = slots if len(slots) > 1 else []  # one GPU, one run at a time: this process uses it directly
    threads = threads_per_worker or default_threads(len(slots) or workers)
    jobs = [_with_threads(job, threads) for job in jobs]
    report = _progress(len(jobs), on_done)
    if executor == "ray":
        from squeeze.study.ray_executor import run_on_ray
        return run_on_ray(jobs, workers, threads, quiet, report, ray_address, runs_per_gpu)
    if not slots and (workers == 1 or len(jobs) <= 1):
        return _serial(jobs, 1, threads, quiet, report)
    return _pool(jobs, workers, threads, quiet, report, slots)


def failure_message(jobs: list[Job], outcomes: list[Outcome]) -> str | None:
    """One line naming every failed run directory and the first error, or None when all succeeded."""
    failed = [(job, out) for job, out in zip(jobs, outcomes) if out.error]
    if not failed:
        return None
    names = ", ".join(str(job.run_dir) for job, _ in failed)
    return f"{len(failed)} of {len(jobs)} runs failed ({names}); first error: {failed[0][1].error}"


def run_jobs(jobs: list[Job], workers: int = 1, threads_per_worker: int | None = None,
             quiet: bool = True, on_done: Report | None = None, **executor) -> list[dict]:
    """Run every job (see `execute`; `executor` takes its executor, ray_address and runs_per_gpu) and return the
    summaries in job order; raise one SqueezeError at the end naming the failed run directories when any failed."""
    outcomes = execute(jobs, workers, threads_per_worker, quiet, on_done, **executor)
    message = failure_message(jobs, outcomes)
    if message:
        raise SqueezeError(message)
    return [out.summary for out in outcomes]

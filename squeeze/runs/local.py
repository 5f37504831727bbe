"""The local executor: jobs one after another in this process, or in a pool of spawned worker processes.

Worker processes are spawned (not forked) and each runs `threads` torch threads, by default cores / workers,
recorded as train.threads. With G visible GPUs and runs_per_gpu k, G*k workers are each pinned to one GPU via
CUDA_VISIBLE_DEVICES. Exercised by tests/test_execute.py and tests/test_executors.py.
"""
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from squeeze.runs.jobs import Job, Outcome, Report, run_group, schedule


def serial(jobs: list[Job], threads: int, quiet: bool, report: Report, batch_runs: int = 1) -> list[Outcome]:
    import torch  # here and below, not at the top: `squeeze --help` should not wait ~2 s for torch
    before = torch.get_num_threads()
    submitted: dict[int, list[Job]] = {}

    def submit(unit: list[Job]) -> int:  # only queued: wait_one trains the oldest unit, in this process
        submitted[len(submitted)] = unit
        return len(submitted) - 1

    def wait_one(handles: list[int]) -> tuple[int, list[Outcome]]:
        return min(handles), run_group(submitted[min(handles)], quiet)
    try:
        return schedule(jobs, submit, wait_one, report, quiet, batch_runs)
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


def pool(jobs: list[Job], workers: int, threads: int, quiet: bool, report: Report,
         slots: list[str] | None = None, batch_runs: int = 1) -> list[Outcome]:
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
            return schedule(jobs, lambda unit: pool.submit(run_group, unit, quiet), wait_one, report, quiet,
                            batch_runs)
        except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or a SIGTERM handler's exit: stop now, not after the queue
            # the runs in flight stop too (they resume from their checkpoints); the `with` would otherwise wait for
            # them, and a SIGTERM reaches only this process (Python 3.14 has pool.terminate_workers() for this)
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise



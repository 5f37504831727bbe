"""The Ray executor: the same `run_group` calls as the local pool, sent to a Ray cluster (`pip install 'squeeze[ray]'`).

`run_on_ray(jobs, ...)` connects to the cluster at `address` (`ray start --head` prints it; None starts a Ray
instance on this machine) and runs each job as a task asking for `threads` CPUs and, on a
cluster with GPUs, 1/runs_per_gpu GPU, and honours chain order (`Job.after`) through the shared scheduler of
squeeze/runs/jobs.py. Tasks write their run directories themselves, so ROOT must be a path every node sees
(a shared file system) and squeeze must be installed on every node; the run directories hold the same files and
numbers as the local executor's (the trainer is the same, only the process that calls it differs).
Exercised by tests/test_execute.py (two tiny runs on a local Ray instance) and `squeeze sweep --executor ray`.
"""
import os

from squeeze.errors import SqueezeError, first_line
from squeeze.runs.jobs import Outcome, Trainer, run_group, schedule


def _ray():
    try:
        import ray
    except ImportError:
        raise SqueezeError("--executor ray needs Ray: pip install 'squeeze[ray]'") from None
    return ray


def _connect(ray, address: str | None, threads: int) -> bool:
    """Join the cluster (or start a local instance); True when this call started it (and so shuts it down)."""
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # a local instance sized to this machine, without the dashboard (saves ~1 s and a port)
            ray.init(num_cpus=max(os.cpu_count() or 1, threads), include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SqueezeError(f"--ray-address {address or '(local)'}: cannot start or join Ray "
                           f"({first_line(e)})") from None
    return True


def run_on_ray(jobs: list, trainer: Trainer, workers: int, threads: int, quiet: bool, report, address: str | None,
               runs_per_gpu: int, batch_runs: int = 1) -> list:
    """One Outcome per job, in job order. How many run at once is Ray's to decide from the tasks' CPU and GPU
    requests; `workers` only sets the default threads per run (this machine's cores / workers)."""
    ray = _ray()
    started = _connect(ray, address, threads)
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(num_cpus=threads, num_gpus=1 / runs_per_gpu if gpus else 0, max_retries=0)(run_group)

        def wait_one(refs):
            [ref], _ = ray.wait(refs, num_returns=1)
            try:
                return ref, ray.get(ref)
            except Exception as e:  # the task's worker died (node lost, out of memory)
                return ref, Outcome(error=f"Ray task died ({type(e).__name__}: {first_line(e)})")

        return schedule(jobs, lambda unit: task.remote(unit, trainer, quiet), wait_one, report, quiet, trainer,
                        batch_runs)
    finally:
        if started:
            ray.shutdown()

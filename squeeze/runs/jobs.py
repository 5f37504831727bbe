"""Jobs and their outcomes: one training run each, trained, resumed or read back by `run_one`.

`run_one(job)` trains a `Job` (a config and its run directory) unless it already finished: a run directory with
summary.json is read back (unless the job needs its weights and they are gone: it trains again), one with state.pt
is resumed, anything else trains from scratch; every exception becomes an `Outcome`, so one bad job cannot sink the
rest. `schedule` runs jobs through any backend (worker processes, Ray) as their chain predecessors (`Job.after`)
finish; `stream` runs jobs that a caller names one finished run at a time (a walk that decides its next runs from
the last ones). `ExecutorConfig` says where runs train; the executors themselves are in squeeze/runs/local.py and
squeeze/runs/ray_executor.py, chosen by squeeze/runs/execute.py. The training functions arrive as a `Trainer`
(squeeze.train.backend.TRAINER): this package runs the trainer and never imports it.
Exercised by tests/test_execute.py.
"""
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from squeeze import config as config_mod
from squeeze.config import Config
from squeeze.errors import SqueezeError, first_line
from squeeze.io import read_json
from squeeze.runs.files import CONFIG, STATE, SUMMARY, WEIGHTS

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where runs train: `local` worker processes (one per GPU, or runs_per_gpu per GPU, when GPUs are visible)
    or `ray` tasks on the cluster at ray_address (None: a Ray instance started here). Built once, by the command
    layer, and passed down unchanged (squeeze.runs.execute.execute takes its fields as keywords)."""
    executor: str = "local"
    ray_address: str | None = None
    runs_per_gpu: int = 1
    batch_runs: int = 1  # up to this many same-shape new runs train as one batched model (squeeze/train/batched.py)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise SqueezeError(f"--executor {self.executor}: must be one of {', '.join(EXECUTORS)}")
        if self.runs_per_gpu < 1 or self.batch_runs < 1:
            raise SqueezeError(f"--runs-per-gpu {self.runs_per_gpu}, --batch-runs {self.batch_runs}: must be >= 1")

    def kwargs(self) -> dict:
        return {"executor": self.executor, "ray_address": self.ray_address, "runs_per_gpu": self.runs_per_gpu,
                "batch_runs": self.batch_runs}


@dataclass(frozen=True)
class Trainer:
    """The training functions the executors call, handed in by the caller (squeeze.train.backend.TRAINER is
    squeeze's own). Module-level functions, so a Trainer pickles to a worker process or a Ray task by reference."""
    train: Callable[..., dict]  # (cfg, run_dir, resume=, force=, quiet=) -> the run's summary
    train_group: Callable[..., list[dict]]  # ([(cfg, run_dir, resume, force)], quiet=) -> summaries: one batched model
    group_key: Callable[[Config], object]  # runs with an equal key (not None) may train as one batched model


@dataclass
class Job:
    """One training run: what to train and where; `after` lists indices of earlier jobs it must wait for.
    `needs_weights`: a later step reads this run's weight files, so a finished run without them (a study carried
    over without its weights, benchmarks/flagship.py --carry) trains again instead of being read back."""
    cfg: Config
    run_dir: Path
    after: tuple[int, ...] = field(default=())
    needs_weights: bool = False


def finished(job: Job) -> bool:
    """The job's run has finished and holds what the job needs: summary.json, and the weights if it needs them."""
    d = Path(job.run_dir)
    return (d / SUMMARY).exists() and (not job.needs_weights or (d / WEIGHTS).exists())


@dataclass
class Outcome:
    """What became of one job: its summary, or the one-line error (and a traceback when it was a bug)."""
    summary: dict | None = None
    error: str | None = None
    trace: str | None = None
    skipped: bool = False
    seconds: float = 0.0


Report = Callable[[int, Job, Outcome], None]


def estimated_cost(cfg: Config, budget: int | None = None) -> float:
    """Relative compute of a run, for time estimates and scheduling only: matmul params x tokens seen (~6x that
    in FLOPs)."""
    m = cfg.model
    params = 12 * m.n_layer * m.d_model ** 2 + (m.vocab_size or 1024) * m.d_model
    return float(params * (budget or cfg.data.budget_tokens) * cfg.train.epochs)


def default_threads(workers: int) -> int:
    """Torch threads per worker so that workers x threads never exceeds the cores: on the 2-core machine two
    1-thread processes beat one 2-thread process for small models (docs/design.md section 7)."""
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


def _start(job: Job) -> tuple[Config, Path, bool, bool]:
    """(config as saved, run directory, resume, force) for training a job that has not finished: resume from
    state.pt; config.json without state.pt was killed before its first checkpoint, so it starts over."""
    run_dir = Path(job.run_dir)
    cfg = _adopt_saved(job.cfg, run_dir)
    resume = (run_dir / STATE).exists()
    # starting over, the config as asked: what a start resolves (dtype `auto`, and the reason run.json gives for
    # it) is resolved again as in a run never killed, not read back as "asked for" (benchmarks/kill_trials.py)
    return cfg if resume else job.cfg, run_dir, resume, not resume and (run_dir / CONFIG).exists()


def _train_or_skip(job: Job, trainer: Trainer, quiet: bool) -> tuple[dict, bool]:
    cfg, run_dir, resume, force = _start(job)  # a finished run of another config is an error, not a result
    if finished(job):
        return read_json(run_dir / SUMMARY), True
    return trainer.train(cfg, run_dir, resume=resume, force=force, quiet=quiet), False


def _guarded(work, n: int, t0: float) -> list[Outcome]:
    """`work()`'s summaries as Outcomes, or its exception as n failed Outcomes: the one-line message of a
    SqueezeError, the traceback too for anything else (a bug)."""
    try:
        return [Outcome(summary=summary, skipped=skipped, seconds=time.perf_counter() - t0)
                for summary, skipped in work()]
    except SqueezeError as e:
        error, trace = first_line(e), None
    except Exception as e:  # a bug: keep the traceback for the log
        error = f"{type(e).__name__}: {first_line(e) if str(e) else ''}".rstrip(": ")
        trace = traceback.format_exc()
    return [Outcome(error=error, trace=trace, seconds=time.perf_counter() - t0) for _ in range(n)]


def run_one(job: Job, trainer: Trainer, quiet: bool = True) -> Outcome:
    """Train, resume or skip one job; every Exception becomes an Outcome, so one bad job cannot sink the rest."""
    return _guarded(lambda: [_train_or_skip(job, trainer, quiet)], 1, time.perf_counter())[0]


def run_group(jobs: list[Job], trainer: Trainer, quiet: bool = True) -> list[Outcome]:
    """Train new same-shape jobs as one batched model (`units` formed the group); one job is `run_one`. A failure
    fails the whole group, each job with the same message."""
    if len(jobs) == 1:
        return [run_one(jobs[0], trainer, quiet)]

    def work():
        return [(summary, False) for summary in trainer.train_group([_start(job) for job in jobs], quiet=quiet)]
    return _guarded(work, len(jobs), time.perf_counter())


def units(jobs: list[Job], ready: list[int], batch_runs: int, group_key: Callable[[Config], object]) -> list[list[int]]:
    """The ready jobs as units to submit, in job order: one job each, or with batch_runs > 1 groups of up to
    batch_runs new runs that may train as one batched model (an equal `group_key`: same model, data and steps)."""
    if batch_runs <= 1:
        return [[i] for i in ready]
    out, by_key = [], {}
    for i in ready:
        new = not (Path(jobs[i].run_dir) / STATE).exists()  # a resumed run goes alone, from its own step
        key = group_key(jobs[i].cfg) if new and not jobs[i].needs_weights else None
        if key is None:
            out.append([i])
        else:
            by_key.setdefault(key, []).append(i)
    for members in by_key.values():
        out += [members[j:j + batch_runs] for j in range(0, len(members), batch_runs)]
    return sorted(out)


def with_threads(job: Job, threads: int) -> Job:
    cfg = job.cfg.copy()
    cfg.train.threads = threads  # recorded in config.json; the trainer applies it with torch.set_num_threads
    return replace(job, cfg=cfg, run_dir=Path(job.run_dir), after=tuple(job.after))


def check_order(jobs: list[Job]) -> None:
    """A job may only wait for earlier jobs, so job order is always a valid serial order (no cycles)."""
    for i, job in enumerate(jobs):
        if any(not 0 <= k < i for k in job.after):
            raise SqueezeError(f"{job.run_dir}: waits for job(s) {list(job.after)}; a job may only wait for "
                               f"earlier jobs (0..{i - 1})")


def blocked(job: Job, outcomes: list) -> Outcome | None:
    """The failure of a job whose chain predecessor failed, or None when it may run."""
    bad = [k for k in job.after if outcomes[k] is not None and outcomes[k].error]
    return Outcome(error=f"not run: {jobs_word(len(bad))} it waits for failed") if bad else None


def jobs_word(n: int) -> str:
    return "a job" if n == 1 else f"{n} jobs"


def schedule(jobs: list[Job], submit: Callable, wait_one: Callable, report: Report, quiet: bool, trainer: Trainer,
             batch_runs: int = 1, longest_first: bool = False) -> list[Outcome]:
    """Run jobs through a backend as their chain predecessors finish: `submit(jobs) -> handle` starts one job or one
    batched group (`units`), `wait_one(handles) -> (handle, Outcome or [Outcome per job])` waits for any. Finished
    runs are read back here, without a worker. `longest_first`: the ready units go in by estimated cost, largest
    first, so that a pool's workers finish together instead of one training the last long run alone (outcomes
    stay in job order)."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    running: dict = {}  # handle -> job indices
    waiting = list(range(len(jobs)))
    while waiting or running:
        ready = []
        for i in list(waiting):
            if any(outcomes[k] is None for k in jobs[i].after):
                continue  # a predecessor is still running
            waiting.remove(i)
            outcomes[i] = blocked(jobs[i], outcomes)
            if outcomes[i] is None and finished(jobs[i]):
                outcomes[i] = run_one(jobs[i], trainer, quiet)  # reading a summary needs no worker process
            if outcomes[i] is None:
                ready.append(i)
            else:
                report(i, jobs[i], outcomes[i])
        ready_units = units(jobs, ready, batch_runs, trainer.group_key)
        if longest_first:
            ready_units.sort(key=lambda unit: -sum(estimated_cost(jobs[i].cfg) for i in unit))  # stable on ties
        for unit in ready_units:
            running[submit([jobs[i] for i in unit])] = unit
        if running:
            handle, outs = wait_one(list(running))
            unit = running.pop(handle)
            for i, out in zip(unit, outs if isinstance(outs, list) else [outs] * len(unit)):
                outcomes[i] = out
                report(i, jobs[i], out)
    return outcomes


def stream(more: Callable[[], list[Job]], submit: Callable, wait_one: Callable, slots: int, report: Report,
           limit: int = 0) -> int:
    """Run jobs that become known as others finish, `slots` at a time: `more()` lists the jobs that may run now
    (asked at the start and after every finished job; it may list ones already running), the costliest go in first,
    and a run directory goes in at most once, so a failed run is not retried. Unlike `schedule`'s fixed list,
    there is no barrier: a slot that frees up takes the next job at once, whatever round it belongs to. Ends when
    nothing runs and `more` has nothing new, or once `limit` jobs went in (0: no limit); returns how many went in.
    `submit(job) -> handle`; `wait_one(handles) -> (handle, Outcome)`."""
    sent: set[Path] = set()
    running: dict = {}  # handle -> job
    while True:
        room = min(slots - len(running), limit - len(sent) if limit else slots)
        if room > 0:
            for job in sorted(more(), key=lambda j: -estimated_cost(j.cfg)):  # stable on ties: more()'s order
                if room and Path(job.run_dir) not in sent:
                    sent.add(Path(job.run_dir))
                    running[submit(job)] = job
                    room -= 1
        if not running:
            return len(sent)
        handle, out = wait_one(list(running))
        job = running.pop(handle)
        report(len(sent) - len(running), job, out)


def failure_message(jobs: list[Job], outcomes: list[Outcome]) -> str | None:
    """One line naming every failed run directory and the first error, or None when all succeeded."""
    failed = [(job, out) for job, out in zip(jobs, outcomes) if out.error]
    if not failed:
        return None
    names = ", ".join(str(job.run_dir) for job, _ in failed)
    return f"{len(failed)} of {len(jobs)} runs failed ({names}); first error: {failed[0][1].error}"



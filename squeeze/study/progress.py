"""The study's progress line: one per finished run, with the step, the share of the planned compute done and the
time left at the rate measured so far. Exercised by tests/test_run.py.
"""
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from squeeze.runs.execute import Job, Outcome
from squeeze.runs.jobs import estimated_cost


@dataclass
class StudyProgress:
    """One line per finished run: the step, the run count, the share of the planned compute done and the time
    left at the rate measured so far (runs finished in an earlier invocation count as done but not to the rate)."""
    step_costs: tuple[float, ...]  # estimated compute of each step (squeeze.study.steps.planned_costs)
    steps: tuple[str, ...] = ()  # their titles
    index: int = 0
    done: float = 0.0
    done_here: float = 0.0
    runs: int = 0
    began: float = field(default_factory=time.perf_counter)
    on_run: Callable[[], None] | None = None  # called after every finished run (the study records its wall time)

    def __post_init__(self) -> None:
        self.planned = sum(self.step_costs)  # grows when certification adds runs

    def _replan(self) -> None:
        """What is done plus the estimates of the steps after this one: a step that outgrew its estimate (its
        certificate walked on) pushes the total up, rather than eating into the later steps' share."""
        self.planned = max(self.planned, self.done * 1.05, self.done + sum(self.step_costs[self.index:]))

    def next_step(self) -> None:
        self.index += 1
        self._replan()
        print(f"\n== study step {self.index}/{len(self.steps)}: {self.steps[self.index - 1]} ==", file=sys.stderr,
              flush=True)

    def __call__(self, i: int, job: Job, out: Outcome) -> None:
        cost = estimated_cost(job.cfg)
        self.runs += 1
        self.done += cost
        if not out.skipped:
            self.done_here += cost
        self._replan()
        rate = self.done_here / max(time.perf_counter() - self.began, 1e-9)
        # the first runs (1 epoch, smallest sizes) are mostly start-up and evaluation: no rate until 5% is done
        measured = rate > 0 and self.done_here >= 0.05 * self.planned
        left = f"~{(self.planned - self.done) / rate / 60:.1f} min left" if measured else "time left: measuring"
        print(f"study [step {self.index}/{len(self.steps)}] {self.runs} runs done, "
              f"{self.done / self.planned:.0%} of the planned compute, {left}", file=sys.stderr, flush=True)
        if self.on_run is not None:
            self.on_run()

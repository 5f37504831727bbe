"""What every study step shares: the `Study` context (the preset, where runs go, how they train), the one helper
that plans seeds, what a step hands to the later ones (`StudyState`) and the `Step` record that STEPS lists.

Seeds are planned here and nowhere else: seed i of a study is `seed_offset + i`, set absolutely on a config by
`Study.seeded` (init and data order alike) and carried by grid points the same way, so no step adds the offset
itself and none can add it twice (tests/test_steps.py plans every step with an offset and checks each run's
seeds). Exercised by tests/test_steps.py and, end to end, by tests/test_run.py (`squeeze run --preset smoke`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.presets import Preset, Size, StudySpec, preset_config
from squeeze.runs.execute import ExecutorConfig, Job, Report, estimated_cost, run_jobs
from squeeze.study.certify import beyond, certify
from squeeze.study.cpt import StudyBase
from squeeze.study.grid import Grid, GridPoint, point_config
from squeeze.study.sweep import SweepResult, grid_jobs, run_sweep
from squeeze.train.backend import TRAINER
from squeeze.train.init import architecture


@dataclass(frozen=True)
class Study:
    """What every step needs: the preset, the token store, where runs go and how they train. Frozen: the study's
    driver (squeeze/study/run.py) gives each step its own copy with that step's deadline (`stop_at`)."""
    preset: Preset
    store: Path
    out: Path
    workers: int
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    seed_offset: int = 0  # every seed shifted by this: studies with other offsets are independent replicates
    progress: Report | None = None  # called after each finished run (the study's progress line)
    stop_at: float | None = None  # time.monotonic() deadline of this step's certification walks
    start: StudyBase | None = None  # continued pretraining: every run starts from this base (squeeze/study/cpt.py)

    @property
    def spec(self) -> StudySpec:
        return self.preset.study

    # -- seeds: the one place they are planned ------------------------------------------------------------------
    def seed(self, i: int) -> int:
        """The study's seed number i (0-based): the offset is added here, once."""
        return self.seed_offset + i

    def seeds(self, n: int | None = None) -> list[int]:
        """The first n seeds of this study (default: the preset's seeds)."""
        return [self.seed(i) for i in range(self.spec.seeds if n is None else n)]

    def seeded(self, cfg: Config, i: int) -> Config:
        """cfg as the study's seed i: init seed and data-order seed both set to seed(i) (not shifted from cfg's)."""
        c = cfg.copy()
        c.train.seed = c.data.seed = self.seed(i)
        return c

    # -- configs, directories, training -------------------------------------------------------------------------
    def base(self, recipe: str) -> Config:
        """The recipe's config at the preset's size; from a base: the base's architecture, starting from it."""
        c = preset_config(self.preset.name, recipe)
        c.data.path = str(self.store)
        if self.start is not None:
            c.model, c.train.init = architecture(self.start.model, c.model), self.start.path
        return c

    def runs(self, step: str) -> Path:
        return self.out / "runs" / step

    def threads(self) -> int | None:
        return 1 if self.workers > 1 else None  # 1-thread workers: best for small models on 2 cores

    def run(self, jobs: list[Job]) -> list[dict]:
        """Train (or skip, or resume) these runs in the study's workers; one SqueezeError if any failed."""
        return run_jobs(jobs, TRAINER, self.workers, self.threads(), on_done=self.progress, **self.executor.kwargs())

    def grid_jobs(self, cfg: Config, grids: list[Grid], step: str) -> list[Job]:
        """The first round of a sweep step: one job per grid point, as `sweep` trains them."""
        return [job for grid in grids for job in grid_jobs(cfg, grid, self.runs(step))]

    def sweep(self, cfg: Config, grids: list[Grid], step: str, axes: tuple[str, ...] | None) -> SweepResult:
        """Run the grids, certify along `axes` on seed means (when the preset certifies), and give each group's
        best point the preset's seeds. The grids carry the study's seeds (`seeds`)."""
        res = run_sweep(cfg, grids, self.runs(step), workers=self.workers, threads=self.threads(),
                        certify_axes=axes if self.spec.certify else None, max_runs=self.spec.max_runs,
                        on_done=self.progress, executor=self.executor, best_seeds=self.spec.seeds,
                        stop_at=self.stop_at)
        if res.note:
            print(f"{step}: {res.note}", file=sys.stderr)
        if res.failure:
            raise SqueezeError(res.failure)
        return res

    # -- cost estimates, from the same grids and jobs the steps train ------------------------------------------
    def sweep_cost(self, cfg: Config, grids: list[Grid], neighbours: tuple[str, ...] = ()) -> float:
        """estimated_cost's units of a sweep of `grids` from `cfg`: every grid point, the preset's seeds for each
        group's best (counted at the group's costliest point), and along `neighbours` the points one step past a
        one-value axis that certification trains."""
        total = 0.0
        for grid in grids:
            for key in grid.groups():
                group = grid.group(key)
                costs = [estimated_cost(point_config(cfg, p)) for p in group.points()]
                total += sum(costs) + max(0, self.spec.seeds - len(group.seeds)) * max(costs)
                hp = group.points()[0]
                total += sum(estimated_cost(point_config(cfg, replace(hp, **{axis: v})))
                             for axis in neighbours for v in beyond(axis, group.values(axis), getattr(hp, axis)))
        return total


def jobs_cost(jobs: list[Job]) -> float:
    return sum(estimated_cost(job.cfg) for job in jobs)


def resized(cfg: Config, size: Size) -> Config:
    """cfg at another (n_layer, d_model), the head dim kept (as sweeps do)."""
    c = cfg.copy()
    head_dim = cfg.model.d_model // cfg.model.n_head
    c.model.n_layer, c.model.d_model, c.model.n_head = size[0], size[1], size[1] // head_dim
    return c


def best_of(res: SweepResult, key: tuple[int, int, int], axes: tuple[str, ...], what: str, seeds: int) -> GridPoint:
    """The best hyperparameter point of one (budget, size) group of a finished sweep, with its certificate line."""
    cert = certify(res.rows, res.grids[key], axes, best_seeds=seeds)
    if cert.best is None:
        raise SqueezeError(f"{what}: no finished run in group {key} ({cert.describe()})")
    print(f"  {what} {key[1]}x{key[2]} at {key[0]:,} tokens: {cert.best.name} -> {cert.best_loss:.4f}; "
          f"{cert.describe()}", file=sys.stderr)
    return cert.best


@dataclass
class StudyState:
    """What a step hands to the later ones."""
    lr_of: dict[Size, float] = field(default_factory=dict)  # standard: the certified lr of each size at D0
    best: Config | None = None  # regularized: the certified point's config (seed 0 of the study)
    best_dir: Path | None = None  # and its run directory

    def lr_at(self, st: Study) -> float:
        """The certified standard lr of the main size (the largest standard size's when the main is not one)."""
        return self.lr_of.get(st.spec.main) or self.lr_of[st.spec.std_sizes[-1]]

    def certified(self) -> Config:
        if self.best is None:
            raise SqueezeError("the regularized step has not run: no certified point to start from")
        return self.best


@dataclass(frozen=True)
class Step:
    """One step of the study: its runs live under OUT/runs/<name>/."""
    name: str
    title: str
    plan: Callable[[Study, StudyState], list[Job]]  # the runs it starts with (certification may add more)
    cost: Callable[[Study, StudyState], float]  # a first estimate of its compute, from what `plan` trains
    run: Callable[[Study, StudyState], None]
    # Certification's extra runs (the walk past a grid's edge) are unknown until they happen. In the default study
    # (D0 10k, benchmarks/RESULTS.md) they made the standard step 1.45x its grids and the regularized one 3.2x (wd
    # walked to 25.6, epochs to 32), so the first estimate counts them in
    certify_allowance: float = 1.0
    applies: Callable[[Study], bool] = lambda st: True  # False: the study skips it (the base step without a base)

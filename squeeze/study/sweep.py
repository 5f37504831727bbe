"""Hyperparameter sweeps: a grid of ordinary runs, certified (squeeze/study/certify.py) and widened until every
(budget, size) group's best point is a local optimum or `max_runs` is hit. `run_sweep` is the library form of
`squeeze sweep` (squeeze/cli/sweep.py parses its flags and prints its table). Results are rebuilt from the run
directories alone into ROOT/results.csv.
Run it with `squeeze sweep --data STORE --out ROOT --lr 1e-3,2e-3,4e-3 --epochs 4,8,16 --certify`;
exercised by tests/test_sweep.py.
"""
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.io import dir_lock, inside, make_dir
from squeeze.runs.execute import ExecutorConfig, Job, Outcome, execute, failure_message
from squeeze.runs.results import collect, write_csv
from squeeze.study.certify import certify, extend_grid
from squeeze.study.grid import Grid, GridPoint, point_config
from squeeze.train.backend import TRAINER


def grid_jobs(base_cfg: Config, grid: Grid, root: str | Path) -> list[Job]:
    """One Job per grid point, every config built (and so validated) before anything trains."""
    seen: dict[str, dict] = {}
    jobs = []
    for p in grid.points():
        if p.name in seen:
            raise SqueezeError(f"grid points {seen[p.name]} and {p} share the directory {p.name} "
                               "(values equal to 6 significant digits)")
        seen[p.name] = p
        jobs.append(Job(point_config(base_cfg, p), inside(root, p.name)))  # a name never leaves the sweep root
    return jobs


class _Sweep:
    """The runs one `squeeze sweep` command plans (by name), and every outcome so far."""

    def __init__(self, base: Config, root: Path, workers: int, threads: int | None, on_done=None,
                 executor: ExecutorConfig | None = None):
        self.base, self.root, self.workers, self.threads, self.on_done = base, root, workers, threads, on_done
        self.executor = executor or ExecutorConfig()
        self.planned: set[str] = set()
        self.done: list[tuple[Job, Outcome]] = []

    def run(self, points: list[GridPoint]) -> None:
        jobs = [Job(point_config(self.base, p), inside(self.root, p.name)) for p in points]
        self.planned |= {p.name for p in points}
        self.done += zip(jobs, execute(jobs, TRAINER, self.workers, self.threads, on_done=self.on_done,
                                       **self.executor.kwargs()))

    def seed_the_best(self, grids: dict, best_seeds: int) -> None:
        """Without certification rounds: each group's best point (on seed means) gets best_seeds seeds, once."""
        rows = collect(self.root)
        wanted = {}
        for grid in grids.values():
            cert = certify(rows, grid, (), best_seeds=best_seeds)
            wanted.update({p.name: p for p in cert.missing if p.name not in self.planned})
        if wanted:
            self.run(list(wanted.values()))

    def certify_until_done(self, grids: dict, axes: tuple[str, ...], max_runs: int,
                           best_seeds: int = 1, stop_at: float | None = None) -> str | None:
        """Train what the certificates lack, one round at a time; a note when --max-runs or the time budget
        (`stop_at`, a time.monotonic() deadline) stopped it early. Past either no neighbour trains any more, but
        each group's best still gets its missing seeds, once (past --max-runs too), so its row keeps its seed
        noise.

        Each round adds only runs never planned before, so a failed run is not retried and the loop ends."""
        while True:
            rows, wanted, own = collect(self.root), {}, {}
            trained = {r["name"] for r in rows if r["finished"]}
            for key, grid in grids.items():
                cert = certify(rows, grid, axes, best_seeds=best_seeds)
                # Widen past the edge for as long as the new neighbours are already trained (a re-run finds the
                # runs of earlier rounds) and still lose to nothing; stop at the first one that needs training.
                while not cert.missing and (wider := extend_grid(grid, cert)):
                    grids[key] = grid = wider
                    cert = certify(rows, grid, axes, best_seeds=best_seeds)
                    self.planned |= {p.name for p in grid.points()} & trained  # they count to --max-runs
                wanted.update({p.name: p for p in cert.missing if p.name not in self.planned})
                own.update({p.name: p for p in cert.missing if p.name not in self.planned and p.hp == cert.best})
            if not wanted:
                return None
            room = max_runs - len(self.planned)
            stop = ("the study's time budget" if stop_at is not None and time.monotonic() >= stop_at
                    else f"--max-runs {max_runs}" if room <= 0 else "")
            if stop:  # the walk ends here, but a row never rests on fewer seeds than the study promises
                if own:
                    self.run(list(own.values()))
                return (f"stopped at {stop}: {len(wanted)} more run{'s' * (len(wanted) > 1)} needed to certify "
                        "(the certificate column names what is missing)")
            names = list(wanted)[:room]
            print(f"certify: training {len(names)} more run(s): {', '.join(names[:4])}"
                  f"{', ...' if len(names) > 4 else ''}", file=sys.stderr)
            self.run([wanted[n] for n in names])


@dataclass
class SweepResult:
    rows: list[dict]  # every run under the root, rebuilt from run directories
    planned: set[str]  # the run names this sweep planned (the grid and what certification added)
    grids: dict  # (budget, n_layer, d_model) -> the group's grid, widened where certification asked
    note: str | None  # why certification stopped early, if it did
    failure: str | None  # one line naming the failed runs, if any


def run_sweep(base: Config, grid: Grid | list[Grid], root: str | Path, *, workers: int = 1,
              threads: int | None = None, certify_axes: tuple[str, ...] | None = None,
              max_runs: int = 64, on_done=None, executor: ExecutorConfig | None = None,
              best_seeds: int = 1, stop_at: float | None = None) -> SweepResult:
    """Run `grid` from `base` into `root` (finished points skipped), certify the groups along `certify_axes`
    (None = no certification rounds), and rebuild root/results.csv. The library form of `squeeze sweep`.
    `best_seeds`: seeds (init and data order) that each group's best point gets, and with certification every
    neighbour within noise of it too; the certificate decides on seed means. `stop_at`: a time.monotonic()
    deadline after which certification walks no further (the study's time budget).

    Several grids (say, one per model size, each with its own learning rate) run as one pool of jobs, so every
    worker stays busy while one group's certification still trains its last long run."""
    grids_in = grid if isinstance(grid, list) else [grid]
    n = sum(len(grid_jobs(base, g, root)) for g in grids_in)  # builds and validates every config first
    if n > max_runs:
        raise SqueezeError(f"the grid has {n} runs, over --max-runs {max_runs}: raise it or shrink the grid")
    root = Path(root)
    make_dir(root)
    with dir_lock(root):  # two sweeps into one root would race on the same run directories
        sweep = _Sweep(base, root, workers, threads, on_done, executor)
        sweep.run([p for g in grids_in for p in g.points()])
        grids = {key: g.group(key) for g in grids_in for key in g.groups()}
        note = None
        if certify_axes:
            note = sweep.certify_until_done(grids, certify_axes, max_runs, best_seeds, stop_at)
        elif best_seeds > 1:
            sweep.seed_the_best(grids, best_seeds)
        rows = collect(root)
        write_csv(rows, root / "results.csv")
    failure = failure_message([j for j, _ in sweep.done], [o for _, o in sweep.done])
    return SweepResult(rows, sweep.planned, grids, note, failure)

"""The study step `headline`: seeds where the table needs them. The best recipe's row and the two standard points its
multiplier is interpolated between (squeeze/study/noise.py `bracket`) get `headline_seeds` seeds each: their seed
means set the headline's interval. Rounds repeat while the extra seeds move the bracket or the best configuration
of a bracketing budget (at most 3); a re-run finds every seed trained and trains nothing.
"""
import re
from pathlib import Path

from squeeze import config as config_mod
from squeeze import recipes
from squeeze.recipes import Recipe
from squeeze.runs.execute import Job
from squeeze.runs.files import CONFIG
from squeeze.runs.results import collect
from squeeze.study.fits import best_runs, budget_of, configurations
from squeeze.study.grid import GridPoint, point_config
from squeeze.study.noise import bracket
from squeeze.study.steps.base import Step, Study, StudyState, jobs_cost

NAME = "headline"
ROUNDS = 3


def more_seeds(st: Study, run: dict, have: int) -> list[Job]:
    """Jobs for the study's seeds have .. headline_seeds-1 of the configuration of `run` (its lowest seed's row),
    beside it and named as the study names seeds (..._s<seed>)."""
    first = Path(run["path"])
    cfg = config_mod.load(str(first / CONFIG))
    return [Job(st.seeded(cfg, i), first.parent / re.sub(r"_s\d+$", f"_s{st.seed(i)}", first.name))
            for i in range(have, st.spec.headline_seeds)]


def jobs_for(st: Study, rows: list[dict]) -> list[Job]:
    """The seeds the best recipe's configuration at D0 and its two bracketing standard points still lack."""
    rows = [r for r in rows if r["finished"]]
    best = [b for b in configurations(rows, Recipe.BEST) if budget_of(b.run) == st.spec.d0]
    if not best:
        return []
    top = min(best, key=lambda b: b.loss)
    std = best_runs(rows, Recipe.STANDARD, by=budget_of)  # the standard point of each budget, as the report reads it
    around = [std[b] for b in bracket(top.loss, list(std), [std[b].loss for b in std])]
    return [job for b in (top, *around) for job in more_seeds(st, b.run, len(b.seed_losses))]


def plan(st: Study, state: StudyState) -> list[Job]:
    if st.spec.headline_seeds <= st.spec.seeds or not (st.out / "runs").is_dir():  # nothing to top up yet
        return []
    return jobs_for(st, collect(st.out / "runs"))


def cost(st: Study, state: StudyState) -> float:
    """Before anything trained: the best recipe's extra seeds at the certified point, and as many of the main
    size's standard recipe at 2 x D0 at its largest epochs, for each of the two bracketing points."""
    s = st.spec
    extra = max(0, s.headline_seeds - s.seeds)
    std = point_config(st.base(Recipe.STANDARD), GridPoint(2 * s.d0, *s.main, lr=s.lrs[0], weight_decay=0.1,
                                                           epochs=max(s.std_epochs)))
    return extra * jobs_cost([Job(recipes.best_options(state.certified()), st.out), Job(std, st.out),
                              Job(std, st.out)])


def run(st: Study, state: StudyState) -> None:
    for _ in range(ROUNDS):
        jobs = plan(st, state)
        if not jobs:
            return
        st.run(jobs)


STEP = Step(NAME, "headline seeds: the best recipe and the standard points around it", plan, cost, run)

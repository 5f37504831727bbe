"""The study step `regularized`: many epochs with strong weight decay, lr x weight decay x epochs certified on seed
means at D0 on the main size (starting from the standard recipe's certified lr), then that point over every size (its
parameter-scaling law), each with the preset's seeds. Hands the certified point's config and run directory to the
later steps, which all start from it."""
from dataclasses import replace

from squeeze.recipes import Recipe
from squeeze.runs.execute import Job
from squeeze.study.grid import Grid, GridPoint, point_config
from squeeze.study.steps.base import Step, Study, StudyState, best_of

NAME = "regularized"
AXES = ("lr", "weight_decay", "epochs")


def main_grid(st: Study, lr: float) -> Grid:
    s = st.spec
    return Grid(lr=[lr], weight_decay=list(s.reg_wds), epochs=list(s.reg_epochs), sizes=[s.main], budgets=[s.d0],
                seeds=st.seeds(1))


def sizes_grid(st: Study, best: GridPoint) -> Grid | None:
    """The certified point at every other size, with the preset's seeds; None with one size."""
    others = [size for size in st.spec.reg_sizes if size != st.spec.main]
    return Grid(lr=[best.lr], weight_decay=[best.weight_decay], epochs=[best.epochs], sizes=others,
                budgets=[st.spec.d0], seeds=st.seeds()) if others else None


def _grids(st: Study, state: StudyState) -> list[Grid]:
    """Both grids, the second at the point certification has not chosen yet: the first grid's largest epochs."""
    first = main_grid(st, state.lr_at(st))
    guess = GridPoint(st.spec.d0, *st.spec.main, lr=first.lr[0], weight_decay=first.weight_decay[0],
                      epochs=max(first.epochs))
    return [g for g in (first, sizes_grid(st, guess)) if g is not None]


def plan(st: Study, state: StudyState) -> list[Job]:
    """The main grid and the other sizes (at a stand-in for the point the main grid certifies)."""
    return st.grid_jobs(st.base(Recipe.REGULARIZED), _grids(st, state), NAME)


def cost(st: Study, state: StudyState) -> float:
    return st.sweep_cost(st.base(Recipe.REGULARIZED), _grids(st, state))


def run(st: Study, state: StudyState) -> None:
    reg = st.base(Recipe.REGULARIZED)
    res = st.sweep(reg, [main_grid(st, state.lr_at(st))], NAME, AXES)
    best = best_of(res, (st.spec.d0, *st.spec.main), AXES, "regularized", st.spec.seeds)
    if (grid := sizes_grid(st, best)) is not None:
        st.sweep(reg, [grid], NAME, None)
    point = replace(best, seed=st.seed(0))
    state.best, state.best_dir = point_config(reg, point), st.runs(NAME) / point.name


STEP = Step(NAME, "regularized recipe: certified at D0, then over sizes", plan, cost, run, certify_allowance=3.2)

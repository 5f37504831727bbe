"""The study step `best`: the certified regularized point plus the options that helped in benchmarks/ablations.py
(`recipes.best_options`: document shuffling, 5% token replacement, a looped second half), its epochs certified
again: with the options on, the best epoch count moved up in the ablations (11 to 22, benchmarks/RESULTS.md), so
keeping the regularized recipe's epochs would under-tune the best recipe.
"""
from squeeze import recipes
from squeeze.runs.execute import Job
from squeeze.study.grid import Grid
from squeeze.study.steps.base import Step, Study, StudyState

NAME = "best"
AXES = ("epochs",)


def grid(st: Study, state: StudyState) -> Grid:
    t = state.certified().train
    return Grid(lr=[t.lr], weight_decay=[t.weight_decay], epochs=[t.epochs], sizes=[st.spec.main],
                budgets=[st.spec.d0], seeds=st.seeds(1))


def plan(st: Study, state: StudyState) -> list[Job]:
    return st.grid_jobs(recipes.best_options(state.certified()), [grid(st, state)], NAME)


def cost(st: Study, state: StudyState) -> float:
    """The point, its seeds, and the epochs on either side that its certificate trains (E/2 and 2E)."""
    return st.sweep_cost(recipes.best_options(state.certified()), [grid(st, state)], neighbours=AXES)


def run(st: Study, state: StudyState) -> None:
    st.sweep(recipes.best_options(state.certified()), [grid(st, state)], NAME, AXES)


STEP = Step(NAME, "the best recipe: the certified point plus the options that helped in the ablations", plan, cost,
            run)

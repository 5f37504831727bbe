"""The study step `standard`: the standard recipe's data scaling, the reference every multiplier is read against.

Learning rate x epochs are certified on seed means at every budget of its law (D0/2 .. std_top x D0) for every
size of it, the best of each with the preset's seeds: the baseline gets the same tuning as every method it is
compared with. The regularized sizes outside the law get the same search at D0, so both recipes' best at D0 is
taken over the same sizes. Hands the certified lr of each size at D0 to the later steps.
"""
from squeeze.recipes import Recipe
from squeeze.runs.execute import Job
from squeeze.study.grid import Grid
from squeeze.study.steps.base import Step, Study, StudyState, best_of

NAME = "standard"
AXES = ("lr", "epochs")  # weight decay is the recipe's 0.1


def grids(st: Study) -> list[Grid]:
    s = st.spec
    out = [Grid(lr=list(s.lrs), weight_decay=[0.1], epochs=list(s.std_epochs), sizes=list(s.std_sizes),
                budgets=list(s.std_budgets), seeds=st.seeds(1))]
    extra = [size for size in s.reg_sizes if size not in s.std_sizes]
    if extra:
        out.append(Grid(lr=list(s.lrs), weight_decay=[0.1], epochs=list(s.std_epochs), sizes=extra, budgets=[s.d0],
                        seeds=st.seeds(1)))
    return out


def plan(st: Study, state: StudyState) -> list[Job]:
    return st.grid_jobs(st.base(Recipe.STANDARD), grids(st), NAME)


def cost(st: Study, state: StudyState) -> float:
    return st.sweep_cost(st.base(Recipe.STANDARD), grids(st))


def run(st: Study, state: StudyState) -> None:
    s = st.spec
    res = st.sweep(st.base(Recipe.STANDARD), grids(st), NAME, AXES)
    for key in res.grids:
        best_of(res, key, AXES, "standard", s.seeds)
    state.lr_of = {size: best_of(res, (s.d0, *size), AXES, "standard", s.seeds).lr for size in s.std_sizes}


STEP = Step(NAME, "standard recipe: data scaling from D0/2 to the top budget", plan, cost, run,
            certify_allowance=1.45)

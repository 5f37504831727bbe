"""The data-efficiency study behind `squeeze run`, as one ordered list of steps (`STEPS`), one module each:

  0. base          continued pretraining only (`--init`): the base itself on the domain's validation split
  1. standard      the standard recipe (wd 0.1) at D0/2 .. std_top x D0: lr x epochs certified per budget and size
  2. regularized   lr x weight decay x epochs certified at D0 on the main size, then that point over sizes
  3. ensemble      K seeds of the certified point at several sizes, one evaluation pass each; distilled students
  4. ensemble_tuned  K members tuned for the ensemble: weight decay and epochs certified on the ensemble's loss
  5. best          the certified point plus the options that helped in benchmarks/ablations.py, epochs certified
  6. snapshot      the certified point as one run of K lr cycles, its K snapshots scored as an ensemble
  7. selection     each data-selection method keeps half of a 2 x D0 pool; random is the baseline
  8. headline      more seeds for the best recipe's row and the two standard points its multiplier is read between

Each module owns its name (its runs live under OUT/runs/<name>/), its grid, the function that plans its runs and
its cost, computed from the same grid or jobs. Adding a step means adding its module, its place in STEPS and, if it
adds a row, the report's row function. The sizes and grids come from the preset (squeeze/presets.py);
squeeze/study/run.py runs the steps in order and squeeze/study/report.py turns the runs into the table.
Exercised by tests/test_steps.py and tests/test_run.py (`squeeze run --preset smoke`).
"""
from squeeze.recipes import Recipe
from squeeze.study.grid import GridPoint, point_config
from squeeze.study.steps import best, ensemble, headline, regularized, selection, snapshot, standard, start, tuned
from squeeze.study.steps.base import Step, Study, StudyState

STEPS: tuple[Step, ...] = (start.STEP, standard.STEP, regularized.STEP, ensemble.STEP, tuned.STEP, best.STEP,
                           snapshot.STEP, selection.STEP, headline.STEP)

__all__ = ["STEPS", "Step", "Study", "StudyState", "nominal_state", "planned_costs", "steps_of"]


def steps_of(st: Study) -> tuple[Step, ...]:
    """The steps this study runs, in order: the base step only from a base."""
    return tuple(step for step in STEPS if step.applies(st))


def nominal_state(st: Study) -> StudyState:
    """The hand-over before anything trained: the grids' first values stand in for what certification will choose
    (the first lr and weight decay, the largest regularized epochs), so every step's runs can be planned, their
    cost estimated and their seeds checked up front."""
    s = st.spec
    point = GridPoint(s.d0, *s.main, lr=s.lrs[0], weight_decay=s.reg_wds[0], epochs=max(s.reg_epochs),
                      seed=st.seed(0))
    return StudyState({size: s.lrs[0] for size in s.std_sizes}, point_config(st.base(Recipe.REGULARIZED), point),
                      st.runs(regularized.NAME) / point.name)


def planned_costs(st: Study) -> tuple[float, ...]:
    """A first estimate of each step's compute (its plan at the nominal state, plus the allowance for
    certification), in steps_of(st) order, for the time estimate and each step's share of the time budget."""
    state = nominal_state(st)
    return tuple((step.certify_allowance if st.spec.certify else 1.0) * step.cost(st, state) for step in steps_of(st))

"""The study step `snapshot`: the certified regularized point, its epochs and lr unchanged, trained once per seed with
the snapshot recipe's options (the lr cycles alone, `recipes.snapshot_options`) and K = the ensemble step's members
cycles: the ensemble's K models for the compute of one run. Each run holds out a fitness slice of D0 (whole
documents, counted in D0; `fitness_frac` of the preset), on which the record's softmax mixture weights and top-k are
fitted; its snapshots are then scored in one evaluation pass as the uniform and the learned mixture, written beside
them as snapshot_ensemble.json. A corpus whose documents are too long for a slice (its whole documents of D0 cannot
form one within twice its size, e.g. books at a small D0) trains without one: the row then reports the uniform
mixture alone and says why."""
from squeeze import recipes
from squeeze.data.mask import budget_doc_tokens, fitness_slice
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.evaluation.ensemble import snapshot_eval
from squeeze.io import write_json
from squeeze.runs.execute import Job
from squeeze.runs.files import SNAPSHOT_ENSEMBLE
from squeeze.study.steps.base import Step, Study, StudyState, jobs_cost

NAME = "snapshot"


def slice_tokens(st: Study) -> int:
    """The fitness slice's tokens: `fitness_frac` of D0, or 0 where the budget's whole documents cannot form it
    within twice its size (one long document would take a large share of D0 from training)."""
    want = int(st.spec.fitness_frac * st.spec.d0)
    if not want or not (st.store / "meta.json").exists():
        return want
    store = TokenStore.open(st.store)
    try:
        held_N = fitness_slice(store, st.spec.d0, want)
    except SqueezeError:
        return 0
    return want if budget_doc_tokens(store, st.spec.d0)[held_N].sum() <= 2 * want else 0


def plan(st: Study, state: StudyState) -> list[Job]:
    """One cyclic run per seed; its snapshots' weights are read until its snapshot_ensemble.json is written."""
    c = recipes.snapshot_options(state.certified())
    c.train.lr_cycles = st.spec.ensemble_k
    c.data.fitness_tokens = slice_tokens(st)  # counted in D0: the run trains on the rest
    dirs = [st.runs(NAME) / f"s{i}" for i in range(st.spec.seeds)]
    return [Job(st.seeded(c, i), d, needs_weights=not (d / SNAPSHOT_ENSEMBLE).exists()) for i, d in enumerate(dirs)]


def cost(st: Study, state: StudyState) -> float:
    return jobs_cost(plan(st, state))


def run(st: Study, state: StudyState) -> None:
    jobs = plan(st, state)
    st.run(jobs)
    for job in jobs:
        if job.needs_weights:
            write_json(job.run_dir / SNAPSHOT_ENSEMBLE, snapshot_eval(job.run_dir, n_orders=0, fit_top_k=True))


STEP = Step(NAME, "a snapshot ensemble: the certified point as one run of K lr cycles", plan, cost, run)

"""The study step `selection`: each data-selection method keeps exactly half the tokens of a 2 x D0 pool (whole
documents by the method's own ranking, then the first tokens of one more: like for like), and the certified
regularized point trains on each subset with the preset's seeds. `random` is the honest baseline (Sorscher et al.
2022, Abbas et al. 2023, Marion et al. 2023), drawn anew for each seed; a deterministic method's mask is the same for
every seed. Prototypes keep the easy or the hard documents by squeeze/prune/rule.py's rule for the pool (as
benchmarks/pruning_frontier.py measured it; study.json and the report's row record which and why), and the row is
named by it (`prototypes-easy`); perplexity keeps the middle slice (the PruneOptions default). Embeddings: the mean
hidden states of the certified run, cheap next to MiniLM on a 2-core CPU. Masks already written are reused.
From a base (squeeze/study/cpt.py) the perplexity method's reference models start from the base too: the standard
recipe at the base's size and the certified standard lr (OUT/runs/selection/masks/reference_config.json)."""
import sys
from pathlib import Path

import numpy as np

from squeeze import config as config_mod
from squeeze.data.mask import budget_doc_tokens, whole_documents
from squeeze.data.store import TokenStore
from squeeze.io import make_dir
from squeeze.presets import StudySpec
from squeeze.prune.pipeline import PruneOptions, prune_documents
from squeeze.prune.rule import KeepRule, keep_direction
from squeeze.recipes import Recipe, select_recipe
from squeeze.runs.execute import Job
from squeeze.runs.files import CONFIG
from squeeze.study.steps.base import Step, Study, StudyState, jobs_cost

NAME = "selection"
METHODS = ("prototypes", "semdedup", "perplexity", "random")
MIN_POOL_DOCS = 8  # whole documents the pool needs: a half of it, and each of the perplexity reference's two folds


def pool_documents(store: Path, d0: int) -> int:
    """Whole training documents inside the 2 x D0 pool (the one the budget cuts does not count)."""
    s = TokenStore.open(store)
    offsets = np.asarray(s.train_offsets, dtype=np.int64)
    return int(whole_documents(budget_doc_tokens(s, min(2 * d0, int(offsets[-1]))), np.diff(offsets)).sum())


def skipped(st: Study) -> str | None:
    """Why the study leaves selection out, or None: a pool of a few long documents (books, long reports at a
    small D0) has no halves worth comparing, and the perplexity reference's folds would be empty."""
    if not (st.store / "meta.json").exists():
        return None
    n = pool_documents(st.store, st.spec.d0)
    if n >= MIN_POOL_DOCS:
        return None
    return (f"not measured: the {2 * st.spec.d0:,}-token pool (2 x D0) holds {n} whole document(s), and selecting "
            f"half of it needs at least {MIN_POOL_DOCS}; cut the corpus's documents into smaller pieces or raise D0")


def rule(spec: StudySpec) -> KeepRule:
    """Easy or hard for the prototypes row: the recorded rule at this study's pool, 2 x D0 tokens."""
    return keep_direction(2 * spec.d0)


def names(spec: StudySpec) -> dict[str, str]:
    """Each method's row, run-directory and mask name: prototypes carries its direction."""
    return {m: f"prototypes-{rule(spec).keep}" if m == "prototypes" else m for m in METHODS}


def mask_path(st: Study, method: str, i: int) -> Path:
    method = names(st.spec)[method]
    return st.runs(NAME) / "masks" / (f"{method}_s{i}.json" if method == "random" else f"{method}.json")


def plan(st: Study, state: StudyState) -> list[Job]:
    """Every method's subset with every seed, at the pool's budget; the masks are made by `run` first."""
    jobs = []
    for method in METHODS:
        for i in range(st.spec.seeds):
            c = st.seeded(state.certified(), i)
            c.recipe = select_recipe(names(st.spec)[method])
            c.data.budget_tokens, c.data.keep_mask = 2 * st.spec.d0, str(mask_path(st, method, i))
            jobs.append(Job(c, st.runs(NAME) / names(st.spec)[method] / f"s{i}"))
    return jobs


def cost(st: Study, state: StudyState) -> float:
    return jobs_cost(plan(st, state))


def reference_config(st: Study, state: StudyState) -> str | None:
    """From a base: the perplexity reference models' config.json (the standard recipe from the base, 4 epochs at
    the certified standard lr); None without a base (the pruning default, a fresh 2 x 64 model)."""
    if st.start is None:
        return None
    c = st.base(Recipe.STANDARD)
    c.train.lr, c.train.epochs = state.lr_at(st), 4
    path = st.runs(NAME) / "masks" / "reference_config.json"
    make_dir(path.parent)
    config_mod.save(c, str(path))
    return str(path)


def _masks(st: Study, embed_run: Path, ref_config: str | None = None) -> None:
    """Write the missing masks; the embedder's weights are read, so it trains again if they are gone."""
    todo: dict[Path, tuple[str, int]] = {}  # one mask per path: a deterministic method's serves every seed
    for method in METHODS:
        for i in range(st.spec.seeds):
            if not (path := mask_path(st, method, i)).exists():
                todo.setdefault(path, (method, i))
    if todo:
        st.run([Job(config_mod.load(str(embed_run / CONFIG)), embed_run, needs_weights=True)])
    for path, (method, i) in todo.items():
        prune_documents(PruneOptions(data=str(st.store), method=method, out=str(path), keep=0.5,
                                     budget_tokens=2 * st.spec.d0, embedder=str(embed_run), hard=rule(st.spec).hard,
                                     seed=st.seed(i) if method == "random" else 0, ref_config=ref_config),
                        say=_say)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(st: Study, state: StudyState) -> None:
    _masks(st, state.best_dir, reference_config(st, state))
    st.run(plan(st, state))


STEP = Step(NAME, "data selection: half of a 2 x D0 pool by each method, against random", plan, cost, run,
            applies=lambda st: skipped(st) is None)

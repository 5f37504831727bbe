"""The study step `base` (continued pretraining only, `squeeze run --init`): the base itself, no training on the
domain, scored on the domain's validation split exactly as a run's final evaluation scores it (the same tokens,
context, batch and precision). It writes OUT/runs/base/base.json, the table's first row; a re-run finds it and
scores nothing. Without a base the study skips this step.
"""
import torch

from squeeze.data.store import TokenStore
from squeeze.evaluation.loss import evaluate
from squeeze.io import make_dir, read_json, write_json
from squeeze.recipes import Recipe
from squeeze.runs.execute import Job
from squeeze.study.steps.base import Step, Study, StudyState
from squeeze.train import init as init_mod

NAME = "base"
FILE = "base.json"  # OUT/runs/base/base.json


def plan(st: Study, state: StudyState) -> list[Job]:
    return []  # it trains nothing


def cost(st: Study, state: StudyState) -> float:
    return 0.0


def score(st: Study) -> dict:
    """The base's loss and bits per byte on the domain's validation split, as the study's standard runs evaluate."""
    cfg = st.base(Recipe.STANDARD)
    store = TokenStore.open(st.store)
    model = init_mod.load(st.start.path, store.vocab_size, cfg.model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    r = evaluate(model, store.val, store.token_bytes, cfg.model.seq_len, cfg.train.batch_size,
                 max_tokens=cfg.train.final_eval_tokens, device=device, dtype=cfg.train.dtype)
    return {"val_loss": r["loss"], "val_bpb": r["bpb"], "val_tokens": r["tokens"],
            "params": sum(p.numel() for p in model.parameters()), **st.start.record()}


def run(st: Study, state: StudyState) -> None:
    path = st.runs(NAME) / FILE
    if path.exists() and read_json(path).get("sha256") == st.start.weights_sha256:
        return
    make_dir(path.parent)
    write_json(path, score(st))


STEP = Step(NAME, "the base, no training on the domain: its loss on the domain's validation split", plan, cost, run,
            applies=lambda st: st.start is not None)

"""The study step `ensemble_tuned`: ensemble members tuned for the ensemble, not for themselves. Both published
recipes train members past their own optimum: Kim et al. 2025 give them twice the epochs and half the weight decay of
the best single model, and the NanoGPT Slowrun record's members each overfit alone and help together.

At the main size, a point (weight decay, epochs; the certified lr) is K members with the study's seeds 0..K-1,
scored as ONE ensemble (its mixture loss). The walk starts at Kim et al.'s rule (2 x epochs, wd / 2 of the
certified point) and trains the one-step neighbours along weight decay and epochs, widening an edge that wins,
until the best point's neighbours are all trained and none is better (the study's certificate, on the ensembles'
losses: one measurement each). Each point's members and ensemble.json live under
OUT/runs/ensemble_tuned/<point>/; the report puts the best beside the ensemble of members at the single model's
optimum (step 3), at the same K.
"""
import time
from dataclasses import replace
from pathlib import Path

from squeeze import recipes
from squeeze.evaluation.ensemble import ensemble_eval
from squeeze.io import read_json, write_json
from squeeze.recipes import Recipe
from squeeze.runs.execute import Job
from squeeze.runs.files import ENSEMBLE
from squeeze.study.certify import beyond, certify, extend_grid
from squeeze.study.grid import Grid, GridPoint, point_config
from squeeze.study.steps.base import Step, Study, StudyState, jobs_cost

NAME = "ensemble_tuned"
AXES = ("weight_decay", "epochs")
MEMBER_RECIPE = "tuned for the ensemble: weight decay and epochs certified on the K-member ensemble's loss"
MAX_ROUNDS = 6  # walks past the start: each round trains the missing neighbours of the best point so far


def start_grid(st: Study, state: StudyState) -> Grid:
    """Kim et al.'s member rule at the certified point: twice its epochs, half its weight decay."""
    member = recipes.ensemble_member(state.certified()).train
    return Grid(lr=[member.lr], weight_decay=[member.weight_decay], epochs=[member.epochs], sizes=[st.spec.main],
                budgets=[st.spec.d0], seeds=[st.seed(0)])


def point_dir(st: Study, point: GridPoint) -> Path:
    return st.runs(NAME) / point.hp.name


def member_jobs(st: Study, state: StudyState, point: GridPoint) -> list[Job]:
    """The K members of one point; their weights are read until its ensemble.json is written."""
    cfg = point_config(state.certified(), point.hp)
    cfg.recipe = Recipe.ENSEMBLE_MEMBER  # not a configuration of the regularized recipe's own row
    need = not (point_dir(st, point) / ENSEMBLE).exists()
    return [Job(st.seeded(cfg, i), point_dir(st, point) / f"member{i}", needs_weights=need)
            for i in range(st.spec.ensemble_k)]


def plan(st: Study, state: StudyState) -> list[Job]:
    """The start point's members and those of its four one-step neighbours (the first round of the walk)."""
    grid = start_grid(st, state)
    start = grid.points()[0]
    points = [start] + [replace(start, **{axis: v}) for axis in AXES
                        for v in beyond(axis, grid.values(axis), getattr(start, axis))]
    return [job for p in points for job in member_jobs(st, state, p)]


def cost(st: Study, state: StudyState) -> float:
    return jobs_cost(plan(st, state))


def _evaluate(st: Study, state: StudyState, points: list[GridPoint]) -> list[dict]:
    """Train the points' members, write each point's ensemble.json, and return one result row per point: the
    ensemble's loss as the point's val_loss (the row shape squeeze.study.certify reads)."""
    jobs = [job for p in points for job in member_jobs(st, state, p)]
    summaries = dict(zip([j.run_dir for j in jobs], st.run(jobs)))
    rows = []
    for p in points:
        path, members = point_dir(st, p) / ENSEMBLE, member_jobs(st, state, p)
        if not path.exists():
            dirs = [str(j.run_dir) for j in members]
            r = ensemble_eval(dirs, n_orders=3, product=False)  # the walk and its report row read the mixture only
            write_json(path, {"members": dirs, "eval": r, "member_recipe": MEMBER_RECIPE,
                              "member_summaries": [summaries[j.run_dir] for j in members]})
        rows.append(result_row(p, read_json(path)["eval"]["mixture"]))
    return rows


def result_row(point: GridPoint, loss: float) -> dict:
    return {"budget_tokens": point.budget_tokens, "n_layer": point.n_layer, "d_model": point.d_model,
            "lr": point.lr, "weight_decay": point.weight_decay, "epochs": point.epochs, "seed": point.seed,
            "val_loss": loss}


def run(st: Study, state: StudyState) -> None:
    """Evaluate the start, then walk: widen the grid past an edge the best sits on, train the best's missing
    neighbours, until it is certified, or MAX_ROUNDS or the step's share of the time budget is spent (the report
    then reads the certificate as what it is)."""
    grid = start_grid(st, state)
    rows = _evaluate(st, state, grid.points())
    for _ in range(MAX_ROUNDS if st.spec.certify else 0):
        if st.stop_at is not None and time.monotonic() >= st.stop_at:
            return
        cert = certify(rows, grid, AXES)
        if not cert.missing and (wider := extend_grid(grid, cert)):
            grid = wider
            continue
        if not cert.missing:
            return
        rows += _evaluate(st, state, sorted(set(cert.missing), key=lambda p: p.name))


STEP = Step(NAME, "ensemble members tuned for the ensemble: weight decay and epochs certified on its loss", plan,
            cost, run)

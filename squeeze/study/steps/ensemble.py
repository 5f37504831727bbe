"""The study step `ensemble`: K members of the certified regularized point at several sizes, one evaluation pass
per ensemble, and a student of the main size distilled from the main size's ensemble.

Members differ by init and data-order seed (the study's seeds 0..K-1; those below the preset's `seeds` are the
regularized step's own runs, reused). The published member rule (2x epochs, 1/2 weight decay) is what `squeeze
ensemble` defaults to; at the CPU presets' few tokens per parameter a single run with it overfit badly
(benchmarks/RESULTS.md), so the study ensembles its certified point. Each ensemble's mixture, product, K curve and
its K -> inf asymptote come from ONE evaluation pass, stored as ensemble.json beside its members; the students
(recipe `distill`, the preset's seeds) go under OUT/runs/distill/student/. A second student, 1/8 of the largest
ensemble's parameters (Kim et al. 2025's: it kept 83% of the gain), is distilled from that ensemble into
OUT/runs/distill/eighth/ (recipe `distill-eighth`). A study from a base (squeeze/study/cpt.py) has one size, the
base's, and every student starts from the base: it has no 1/8 student.
"""
import math
from pathlib import Path

import torch

from squeeze.config import Config
from squeeze.evaluation.ensemble import ensemble_eval
from squeeze.io import write_json
from squeeze.model import GPT
from squeeze.presets import Size
from squeeze.recipes import Recipe
from squeeze.runs.execute import Job
from squeeze.runs.files import ENSEMBLE, SUMMARY
from squeeze.study.grid import GridPoint
from squeeze.study.steps import regularized
from squeeze.study.steps.base import Step, Study, StudyState, jobs_cost, resized

NAME = "ensemble"
STUDENTS = "distill"  # OUT/runs/distill/student/s<i> and OUT/runs/distill/eighth/s<i>: the students' seeds
FRACTION = 8  # the small student has 1/FRACTION of the largest ensemble's parameters


def student_dirs(st: Study, which: str = "student") -> list[Path]:
    return [st.runs(STUDENTS) / which / f"s{i}" for i in range(st.spec.seeds)]


def params_of(cfg: Config, size: Size, vocab_size: int) -> int:
    """The parameters of cfg's model at another size (counted on the meta device: nothing is allocated)."""
    c = resized(cfg, size).model
    c.vocab_size = c.vocab_size or vocab_size
    with torch.device("meta"):
        return GPT(c).param_counts()["total"]


def eighth_size(st: Study, cfg: Config) -> Size:
    """The size, at the study's head dim, whose parameters are nearest (in ratio) to 1/FRACTION of the largest
    ensemble's: layers up to twice the largest member's, widths up to its width."""
    vocab, head = st.preset.vocab_size, cfg.model.d_model // cfg.model.n_head
    largest = largest_size(st, cfg)
    target = st.spec.ensemble_k * params_of(cfg, largest, vocab) / FRACTION
    shapes = [(n, d) for n in range(1, 2 * largest[0] + 1) for d in range(head, largest[1] + 1, head)]
    return min(shapes, key=lambda size: (abs(math.log(params_of(cfg, size, vocab) / target)), size))


def largest_size(st: Study, cfg: Config) -> Size:
    return max(st.spec.ensemble_sizes, key=lambda size: params_of(cfg, size, st.preset.vocab_size))


def member_jobs(st: Study, best: Config) -> dict[tuple[int, int], tuple[Path, list[Job]]]:
    """Per ensemble size: the folder of its ensemble.json and its K member jobs. A member's weights are needed
    (an evaluation or a student reads them) until its evaluation and its students' runs are written."""
    s, out = st.spec, {}
    taught = {s.main: student_dirs(st)}
    if st.start is None:
        taught.setdefault(largest_size(st, best), []).extend(student_dirs(st, "eighth"))
    for size in s.ensemble_sizes:
        c = resized(best, size)
        point = GridPoint(s.d0, *size, lr=c.train.lr, weight_decay=c.train.weight_decay, epochs=c.train.epochs)
        root = st.runs(NAME) / f"L{size[0]}d{size[1]}"
        need = not (root / ENSEMBLE).exists() or not all((d / SUMMARY).exists() for d in taught.get(size, []))
        out[size] = root, [Job(st.seeded(c, i), st.runs(regularized.NAME) / point.seeded(st.seed(i)).name
                               if i < s.seeds else root / f"member{i}", needs_weights=need)
                           for i in range(s.ensemble_k)]
    return out


def student_jobs(st: Study, best: Config, groups: dict) -> list[Job]:
    """The main size's students of the main size's ensemble, and the 1/8 students of the largest ensemble."""
    largest, jobs = largest_size(st, best), []
    kinds = [(Recipe.DISTILL, "student", st.spec.main, groups[st.spec.main][1])]
    if st.start is None:  # from a base every run has the base's size: no 1/8 student
        kinds.append((Recipe.DISTILL_EIGHTH, "eighth", eighth_size(st, best), groups[largest][1]))
    for recipe, which, size, teachers in kinds:
        student = resized(best, size)
        student.recipe = recipe
        student.distill.teachers = ",".join(str(j.run_dir) for j in teachers)
        jobs += [Job(st.seeded(student, i), d) for i, d in enumerate(student_dirs(st, which))]
    return jobs


def plan(st: Study, state: StudyState) -> list[Job]:
    """Every member of every ensemble (the reused regularized runs too), then the students."""
    groups = member_jobs(st, state.certified())
    members = [job for _, jobs in groups.values() for job in jobs]
    return members + student_jobs(st, state.certified(), groups)


def cost(st: Study, state: StudyState) -> float:
    return jobs_cost(plan(st, state))


def run(st: Study, state: StudyState) -> None:
    best = state.certified()
    groups = member_jobs(st, best)
    jobs = [job for _, members in groups.values() for job in members]
    summaries = dict(zip([j.run_dir for j in jobs], st.run(jobs)))
    for root, members in groups.values():
        if not (root / ENSEMBLE).exists():
            dirs = [str(j.run_dir) for j in members]
            r = ensemble_eval(dirs, n_orders=3, product_orders=False)  # the product is read at K only
            write_json(root / ENSEMBLE, {"members": dirs, "eval": r,
                                         "member_summaries": [summaries[j.run_dir] for j in members],
                                         "member_recipe": "certified regularized point, seeds 0..K-1"})
    st.run(student_jobs(st, best, groups))


STEP = Step(NAME, "ensembles of the certified point over sizes, and students distilled from them", plan, cost, run)

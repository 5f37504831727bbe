"""Step 3, ensemble: K members of the certified regularized point at several sizes, one evaluation pass per
ensemble, and a student of the main size distilled from the main size's ensemble.

Members differ by init and data-order seed (the study's seeds 0..K-1; those below the preset's `seeds` are the
regularized step's own runs, reused). The published member rule (2x epochs, 1/2 weight decay) is what `squeeze
ensemble` defaults to; at the CPU presets' few tokens per parameter a single run with it overfit badly
(benchmarks/RESULTS.md), so the study ensembles its certified point. Each ensemble's mixture, product, K curve and
its K -> inf asymptote come from ONE evaluation pass, stored as ensemble.json beside its members; the students
(recipe `distill`, the preset's seeds) go under OUT/runs/distill/student/.
"""
from pathlib import Path

from squeeze.config import Config
from squeeze.evaluation.ensemble import ensemble_eval
from squeeze.io import write_json
from squeeze.recipes import Recipe
from squeeze.runs.execute import Job
from squeeze.runs.files import ENSEMBLE, SUMMARY
from squeeze.study.grid import GridPoint
from squeeze.study.steps import regularized
from squeeze.study.steps.base import Step, Study, StudyState, jobs_cost, resized

NAME = "ensemble"
STUDENTS = "distill"  # OUT/runs/distill/student/s<i>: the distilled students' seeds


def student_dirs(st: Study) -> list[Path]:
    return [st.runs(STUDENTS) / "student" / f"s{i}" for i in range(st.spec.seeds)]


def member_jobs(st: Study, best: Config) -> dict[tuple[int, int], tuple[Path, list[Job]]]:
    """Per ensemble size: the folder of its ensemble.json and its K member jobs. A member's weights are needed
    (an evaluation or the student reads them) until both are written."""
    s, students, out = st.spec, student_dirs(st), {}
    for size in s.ensemble_sizes:
        c = resized(best, size)
        point = GridPoint(s.d0, *size, lr=c.train.lr, weight_decay=c.train.weight_decay, epochs=c.train.epochs)
        root = st.runs(NAME) / f"L{size[0]}d{size[1]}"
        need = not (root / ENSEMBLE).exists() or size == s.main and not all((d / SUMMARY).exists() for d in students)
        out[size] = root, [Job(st.seeded(c, i), st.runs(regularized.NAME) / point.seeded(st.seed(i)).name
                               if i < s.seeds else root / f"member{i}", needs_weights=need)
                           for i in range(s.ensemble_k)]
    return out


def student_jobs(st: Study, best: Config, teachers: list[Job]) -> list[Job]:
    student = best.copy()
    student.recipe = Recipe.DISTILL
    student.distill.teachers = ",".join(str(j.run_dir) for j in teachers)
    return [Job(st.seeded(student, i), d) for i, d in enumerate(student_dirs(st))]


def plan(st: Study, state: StudyState) -> list[Job]:
    """Every member of every ensemble (the reused regularized runs too), then the students."""
    groups = member_jobs(st, state.certified())
    members = [job for _, jobs in groups.values() for job in jobs]
    return members + student_jobs(st, state.certified(), groups[st.spec.main][1])


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
    st.run(student_jobs(st, best, groups[st.spec.main][1]))


STEP = Step(NAME, "ensembles of the certified point over sizes, and a student distilled from one", plan, cost, run)

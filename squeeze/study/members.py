"""Many trainer runs that belong together, then one ensemble evaluation: what `squeeze ensemble` and `squeeze
distill` train (squeeze/cli/members.py turns their flags into these calls and prints the results).

- `train_ensemble`: K members that differ by init seed (train.seed) and data order (data.seed), trained by
  squeeze/runs/execute.py (finished members are skipped, killed ones resume); ROOT/ensemble.json summarizes them.
- `train_student`: one student run with `distill.teachers` set, and its retention of the ensemble's gain
  (ROOT/retention.json).
- `train_chain`: member i is trained with member i-1 as its teacher, one after another; the chain members are then
  evaluated as an ensemble (ROOT/chain.json).

Exercised by tests/test_ensemble.py and tests/test_distill.py.
"""
from pathlib import Path

from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.evaluation.ensemble import ensemble_eval
from squeeze.io import read_json, write_json
from squeeze.runs.execute import Job, run_jobs
from squeeze.runs.files import CHAIN, ENSEMBLE, RETENTION, SUMMARY
from squeeze.train.backend import TRAINER
from squeeze.train.distill import retention


def seeded(cfg: Config, i: int) -> Config:
    """Member i: init seed and data-order seed both shifted by i."""
    c = cfg.copy()
    c.train.seed, c.data.seed = cfg.train.seed + i, cfg.data.seed + i
    return c


def train_ensemble(member: Config, root: Path, k: int, *, workers: int = 1, member_recipe: str = "") -> dict:
    """Train members ROOT/member<i> of `member` with seeds shifted by i, evaluate them as an ensemble in one pass,
    write ROOT/ensemble.json and return the evaluation (squeeze.evaluation.ensemble.ensemble_eval's dict)."""
    if k < 1:
        raise SqueezeError(f"--members {k}: must be >= 1")
    jobs = [Job(seeded(member, i), Path(root) / f"member{i}", needs_weights=True) for i in range(k)]  # read below
    summaries = run_jobs(jobs, TRAINER, workers=workers)
    dirs = [str(j.run_dir) for j in jobs]
    r = ensemble_eval(dirs)
    write_json(Path(root) / ENSEMBLE, {"members": dirs, "member_summaries": summaries, "eval": r,
                                       "member_recipe": member_recipe})
    return r


def chain_jobs(base: Config, root: Path, k: int, first_teachers: list[str]) -> list[Job]:
    """Member i has member i-1 as its teacher (member 0: first_teachers, or none)."""
    jobs = []
    for i in range(k):
        c = seeded(base, i)
        prev = [str((root / f"chain{i - 1}").resolve())] if i else first_teachers
        c.distill.teachers = ",".join(prev)
        jobs.append(Job(c, root / f"chain{i}", needs_weights=True))  # the next member and the evaluation read it
    return jobs


def train_chain(base: Config, root: Path, k: int, teachers: list[str]) -> dict:
    """Chain distillation of k members under ROOT, then their ensemble evaluation (also in ROOT/chain.json)."""
    root = Path(root)
    jobs = chain_jobs(base, root, k, teachers)
    for job in jobs:  # sequential: each member needs the one before it
        run_jobs([job], TRAINER, workers=1)
    dirs = [str(j.run_dir) for j in jobs]
    r = ensemble_eval(dirs)
    write_json(root / CHAIN, {"members": dirs, "eval": r})
    return r


def train_student(base: Config, run_dir: Path, teachers: list[str], single: str | None = None) -> dict:
    """Train a student of `teachers` (several: their mixture) into run_dir; returns its retention (also written to
    run_dir/retention.json). A diverged student is a SqueezeError with the trainer's reason."""
    if not teachers:
        raise SqueezeError("squeeze distill needs --teachers RUN_DIR ... (or --chain K)")
    cfg = base.copy()
    cfg.distill.teachers = ",".join(teachers)
    student = run_jobs([Job(cfg, Path(run_dir))], TRAINER, workers=1)[0]
    if student.get("diverged"):
        raise SqueezeError(student["message"])
    r = student_retention(student, teachers, single)
    write_json(Path(run_dir) / RETENTION, r)
    return r


def student_retention(student: dict, teachers: list[str], single: str | None) -> dict:
    ens = ensemble_eval(teachers, n_orders=0)
    if single:
        single_loss = read_json(Path(single) / SUMMARY)["val_loss"]
    else:
        single_loss = sum(ens["member_losses"]) / len(ens["member_losses"])
    return retention(single_loss, student["val_loss"], ens["mixture"], student["params"], ens["params"])

"""`squeeze ensemble` and `squeeze distill`: many trainer runs that belong together, then one ensemble evaluation.

- ensemble: K members that differ by init seed (train.seed) and data order (data.seed), by default with the
  `recipes.ensemble_member` rule (2x epochs, 1/2 weight decay of the base); trained by the worker pool of
  squeeze/study/execute.py (finished members are skipped, killed ones resume); ROOT/ensemble.json summarizes them.
- distill: one student run with `distill.teachers` set, or a chain (`--chain K`) where member i is trained with
  member i-1 as its teacher, one after another; the chain members are then evaluated as an ensemble
  (ROOT/chain.json). A student's retention of the ensemble's gain is printed when it finishes.

Exercised by tests/test_ensemble.py and tests/test_distill.py.
"""
import argparse
import json
from pathlib import Path

from squeeze import config as config_mod
from squeeze import recipes
from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.io import read_json, write_json
from squeeze.study.execute import Job, run_jobs


def _base_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="token store directory")
    p.add_argument("--recipe", default=None, help=f"base recipe: one of {', '.join(recipes.RECIPES)} "
                                                  "(default: regularized)")
    p.add_argument("--from", dest="from_run", default=None, help="base config: this run directory's config.json")
    p.add_argument("--workers", type=int, default=1, help="parallel training processes (default 1)")
    p.add_argument("--json", action="store_true", help="print the ensemble evaluation as JSON")


def add_parsers(sub) -> None:
    e = sub.add_parser("ensemble", help="train K members (seeds, data orders) and evaluate their ensemble")
    _base_parser(e)
    e.add_argument("--out", required=True, help="root directory; members go to ROOT/member<i>")
    e.add_argument("--members", type=int, default=4, help="ensemble size K (default 4)")
    e.add_argument("--same-recipe", action="store_true",
                   help="train members with the base config as is (default: 2x epochs, 1/2 weight decay)")
    d = sub.add_parser("distill", help="train a student on a teacher's (or an ensemble's) predictions, or a chain")
    _base_parser(d)
    d.add_argument("--teachers", nargs="+", default=[], help="teacher run directories (several = their mixture)")
    d.add_argument("--out", required=True, help="student run directory (with --chain: root of chain<i>)")
    d.add_argument("--chain", type=int, default=0, help="chain distillation of this many members")
    d.add_argument("--single", default=None, help="run directory of the single-model baseline for the retention "
                                                  "(default: the mean of the teachers' losses)")


def base_config(a: argparse.Namespace, overrides: list[str]) -> Config:
    if a.from_run and a.recipe:
        raise SqueezeError("--from and --recipe: give one of them")
    if a.from_run:
        base = config_mod.load(str(Path(a.from_run) / "config.json"))
    else:
        base = recipes.recipe(a.recipe or "regularized")
    if a.data:
        overrides = [f"data.path={a.data}", *overrides]
    return config_mod.apply_overrides(base, overrides)


def seeded(cfg: Config, i: int) -> Config:
    """Member i: init seed and data-order seed both shifted by i."""
    c = cfg.copy()
    c.train.seed, c.data.seed = cfg.train.seed + i, cfg.data.seed + i
    return c


def _evaluate(dirs: list[str], a: argparse.Namespace) -> dict:
    from squeeze.ensemble import ensemble_eval, format_table
    r = ensemble_eval(dirs)
    print(json.dumps(r) if a.json else format_table(r))
    return r


def cmd_ensemble(a: argparse.Namespace, overrides: list[str]) -> None:
    if a.members < 1:
        raise SqueezeError(f"--members {a.members}: must be >= 1")
    base = base_config(a, overrides)
    member = base.copy() if a.same_recipe else recipes.ensemble_member(base)
    root = Path(a.out)
    jobs = [Job(seeded(member, i), root / f"member{i}") for i in range(a.members)]
    summaries = run_jobs(jobs, workers=a.workers)
    dirs = [str(j.run_dir) for j in jobs]
    r = _evaluate(dirs, a)
    write_json(root / "ensemble.json", {"members": dirs, "member_summaries": summaries, "eval": r,
                                        "member_recipe": "base" if a.same_recipe else "ensemble_member"})


def chain_jobs(base: Config, root: Path, k: int, first_teachers: list[str]) -> list[Job]:
    """Member i has member i-1 as its teacher (member 0: first_teachers, or none)."""
    jobs = []
    for i in range(k):
        c = seeded(base, i)
        prev = [str((root / f"chain{i - 1}").resolve())] if i else first_teachers
        c.distill.teachers = ",".join(prev)
        jobs.append(Job(c, root / f"chain{i}"))
    return jobs


def cmd_distill(a: argparse.Namespace, overrides: list[str]) -> None:
    base = base_config(a, overrides)
    teachers = [str(Path(t).resolve()) for t in a.teachers]
    root = Path(a.out)
    if a.chain:
        jobs = chain_jobs(base, root, a.chain, teachers)
        for job in jobs:  # sequential: each member needs the one before it
            run_jobs([job], workers=1)
        dirs = [str(j.run_dir) for j in jobs]
        write_json(root / "chain.json", {"members": dirs, "eval": _evaluate(dirs, a)})
        return
    if not teachers:
        raise SqueezeError("squeeze distill needs --teachers RUN_DIR ... (or --chain K)")
    cfg = base.copy()
    cfg.distill.teachers = ",".join(teachers)
    student = run_jobs([Job(cfg, root)], workers=1)[0]
    if student.get("diverged"):
        raise SqueezeError(student["message"])
    r = student_retention(student, teachers, a.single)
    write_json(root / "retention.json", r)
    print(format_retention(r))


def student_retention(student: dict, teachers: list[str], single: str | None) -> dict:
    from squeeze.ensemble import ensemble_eval
    from squeeze.train.distill import retention
    ens = ensemble_eval(teachers, n_orders=0)
    if single:
        single_loss = read_json(Path(single) / "summary.json")["val_loss"]
    else:
        single_loss = sum(ens["member_losses"]) / len(ens["member_losses"])
    return retention(single_loss, student["val_loss"], ens["mixture"], student["params"], ens["params"])


def format_retention(r: dict) -> str:
    kept = "n/a (the ensemble is no better than the single model)" if r["retention"] is None \
        else f"{r['retention']:.0%}"
    return (f"student {r['student_loss']:.4f}, single {r['single_loss']:.4f}, ensemble {r['ensemble_loss']:.4f}: "
            f"retention {kept} of the ensemble's gain at {r['param_ratio']:.3g}x its parameters")

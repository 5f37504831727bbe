"""`squeeze ensemble` and `squeeze distill`: their flags and checks, the base config they start from, the calls into
squeeze/study/members.py, and the ensemble table and retention line they print.
Exercised by tests/test_ensemble.py and tests/test_distill.py.
"""
import argparse
import json
from pathlib import Path

from squeeze import config as config_mod
from squeeze import recipes
from squeeze.cli import checks
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.evaluation.ensemble import format_table
from squeeze.runs.files import CONFIG
from squeeze.study.members import train_chain, train_ensemble, train_student


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


MEMBERS_MAX = 1024  # ensemble members or chain links: each one a whole training run


def _check_base(a: argparse.Namespace, overrides: list[str]) -> None:
    """The flags both commands share, then the base config (recipe or --from, then the overrides) as a.base."""
    checks.existing("--data", a.data, "dir")
    checks.choice("--recipe", a.recipe, recipes.RECIPES, "recipe")
    checks.existing("--from", a.from_run, "dir")
    checks.workers("--workers", a.workers)
    checks.output_dir("--out", a.out)
    if a.from_run and a.recipe:
        raise SqueezeError("--from and --recipe: give one of them")
    if a.from_run:
        base = config_mod.load(str(Path(a.from_run) / CONFIG))
    else:
        base = recipes.recipe(a.recipe or "regularized")
    if a.data:
        overrides = [f"data.path={a.data}", *overrides]
    a.base = config_mod.apply_overrides(base, overrides)
    checks.config_paths(a.base)
    if a.base.data.path:
        TokenStore.open(a.base.data.path)


def check_ensemble(a: argparse.Namespace, overrides: list[str]) -> None:
    checks.number("--members", a.members, 1, MEMBERS_MAX)
    _check_base(a, overrides)
    checks.make_outputs(a.out)


def check_distill(a: argparse.Namespace, overrides: list[str]) -> None:
    for teacher in a.teachers:
        checks.existing("--teachers", teacher, "dir")
    checks.number("--chain", a.chain, 0, MEMBERS_MAX)
    checks.existing("--single", a.single, "dir")
    if not a.teachers and not a.chain:
        raise SqueezeError("squeeze distill needs --teachers RUN_DIR ... (or --chain K)")
    if a.chain and a.single:
        raise SqueezeError("--single applies to one student, not to --chain (a chain is scored as an ensemble)")
    _check_base(a, overrides)
    checks.make_outputs(a.out)


def _print_ensemble(r: dict, as_json: bool) -> None:
    print(json.dumps(r) if as_json else format_table(r))


def cmd_ensemble(a: argparse.Namespace) -> None:
    member = a.base.copy() if a.same_recipe else recipes.ensemble_member(a.base)
    r = train_ensemble(member, Path(a.out), a.members, workers=a.workers,
                       member_recipe="base" if a.same_recipe else "ensemble_member")
    _print_ensemble(r, a.json)


def cmd_distill(a: argparse.Namespace) -> None:
    base = a.base
    teachers = [str(Path(t).resolve()) for t in a.teachers]
    if a.chain:
        _print_ensemble(train_chain(base, Path(a.out), a.chain, teachers), a.json)
        return
    print(format_retention(train_student(base, Path(a.out), teachers, a.single)))


def format_retention(r: dict) -> str:
    kept = "n/a (the ensemble is no better than the single model)" if r["retention"] is None \
        else f"{r['retention']:.0%}"
    return (f"student {r['student_loss']:.4f}, single {r['single_loss']:.4f}, ensemble {r['ensemble_loss']:.4f}: "
            f"retention {kept} of the ensemble's gain at {r['param_ratio']:.3g}x its parameters")

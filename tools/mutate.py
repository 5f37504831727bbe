"""Mutation testing of the pure math: each small change to a module's code (an operator, a comparison, a constant,
a boolean) must make one of its fast tests fail. A change no test notices is a survivor: a missing test, or an
equivalent change (one that cannot alter any result) to be named as such in benchmarks/RESULTS.md.

Mutants are made from the module's syntax tree (no package needed): `+ -` `* /` `** *` `// /` `%` swapped,
comparisons `< <=` `> >=` `== !=` `is / is not` `in / not in` flipped, `and / or` swapped, `not x` -> `x`, `-x` ->
`x`, integer constants n -> n + 1, float constants x -> 2x (0.0 -> 1.0), True <-> False. Docstrings, annotations
and string constants are left alone. Each mutant runs the module's tests in a process forked from one that has
imported everything once: the mutated module is compiled into its own namespace and every name other modules
imported from it is pointed at the mutated objects; a mutant is killed when a test fails (or errors, or runs past
the timeout).

    python tools/mutate.py [--only MODULE ...] [--list] [--timeout 60]   (MODULES below: the targets and their tests)
Not part of CI: the full run takes minutes (its score and survivors are in benchmarks/RESULTS.md).
"""
import argparse
import ast
import contextlib
import copy
import importlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# module -> pytest's arguments for its fast tests (files, and a -k expression picking the tests that train nothing)
MODULES = {
    "squeeze/study/noise.py": ["tests/test_noise.py"],
    "squeeze/scaling/laws.py": ["tests/test_laws.py"],
    "squeeze/scaling/fit.py": ["tests/test_fit.py"],
    "squeeze/scaling/efficiency.py": ["tests/test_efficiency.py"],
    "squeeze/scaling/joint.py": ["tests/test_joint.py"],
    "squeeze/prune/select.py": ["tests/test_select.py", "tests/test_prune.py", "-k", "not tiny_store and (kmeans or "
                                "normalize or assign or prototypes or keep_fraction or balance or semdedup or "
                                "eps_search or perplexity_slices or fit_to_target or take_until or defaults or "
                                "middle_slice or one_cluster)"],
    "squeeze/study/certify.py": ["tests/test_certify.py", "tests/test_sweep.py", "-k", "point_names or "
                                 "certified_when or missing_neighbour or better_neighbour or best_at_an_edge or "
                                 "seeds_are_averaged or extend_grid or best_seeds_count or edges or one_value or "
                                 "flat or counted or ties or refusals or degree_of_freedom"],
}
BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
          ast.FloorDiv: ast.Div, ast.Mod: ast.Mult}
CMPOPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
          ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}


@dataclass(frozen=True)
class Mutant:
    index: int  # the n-th mutable spot in ast.walk order
    line: int
    what: str  # e.g. "< -> <="


def _annotation_ids(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation or a docstring: mutating them changes nothing that runs."""
    skip = set()
    for node in ast.walk(tree):
        roots = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            roots += [a.annotation for a in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]]
            roots += [node.returns, node.args.vararg and node.args.vararg.annotation,
                      node.args.kwarg and node.args.kwarg.annotation]
        if isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
        for r in roots:
            if r is not None:
                skip |= {id(n) for n in ast.walk(r)}
    return skip


def _spots(tree: ast.AST) -> list[tuple[ast.AST, str, object]]:
    """(node, what, how) for every mutation of the tree, in ast.walk order."""
    skip, out = _annotation_ids(tree), []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            new = BINOPS[type(node.op)]
            out.append((node, f"{type(node.op).__name__} -> {new.__name__}", ("op", new)))
        elif isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                if type(op) in CMPOPS:
                    new = CMPOPS[type(op)]
                    out.append((node, f"{type(op).__name__} -> {new.__name__}", ("cmp", k, new)))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            out.append((node, f"{type(node.op).__name__} -> {new.__name__}", ("op", new)))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            out.append((node, f"{type(node.op).__name__} x -> x", ("drop",)))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            v = node.value
            new = (not v) if isinstance(v, bool) else v + 1 if isinstance(v, int) else (2 * v if v else 1.0)
            out.append((node, f"{v!r} -> {new!r}", ("const", new)))
    return out


class _Apply(ast.NodeTransformer):
    def __init__(self, target_index: int):
        self.n, self.target = -1, target_index

    def run(self, tree: ast.AST) -> ast.AST:
        spots = _spots(tree)
        node, _, how = spots[self.target]
        if how[0] == "op":
            node.op = how[1]()
        elif how[0] == "cmp":
            node.ops[how[1]] = how[2]()
        elif how[0] == "const":
            node.value = how[1]
        else:  # drop a unary operator: replace the node in its parent
            for parent in ast.walk(tree):
                for name, value in ast.iter_fields(parent):
                    if value is node:
                        setattr(parent, name, node.operand)
                    elif isinstance(value, list):
                        value[:] = [node.operand if v is node else v for v in value]
        return ast.fix_missing_locations(tree)


def mutants(path: Path) -> list[Mutant]:
    return [Mutant(i, node.lineno, what) for i, (node, what, _) in enumerate(_spots(ast.parse(path.read_text())))]


def _module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _install(path: Path, mutant: Mutant) -> None:
    """Compile the mutated module and point every module that imported a name from the original at its copy."""
    name = _module_name(str(path.relative_to(ROOT)))
    old = sys.modules[name]
    tree = _Apply(mutant.index).run(copy.deepcopy(ast.parse(path.read_text())))
    code = compile(tree, str(path), "exec")
    new_ns = {"__name__": name, "__file__": str(path), "__package__": name.rpartition(".")[0]}
    exec(code, new_ns)
    originals = {id(v): k for k, v in vars(old).items() if not k.startswith("__")}
    for mod in list(sys.modules.values()):  # squeeze's modules and the tests (pytest names them `test_x`)
        d = getattr(mod, "__dict__", None)
        if not d or not str(getattr(mod, "__file__", None) or "").startswith(str(ROOT)):
            continue
        for k, v in list(d.items()):
            if id(v) in originals and originals[id(v)] in new_ns and not isinstance(v, type(sys)):
                d[k] = new_ns[originals[id(v)]]
    vars(old).update({k: v for k, v in new_ns.items() if not k.startswith("__")})


def _pytest_args(target: str) -> list[str]:
    return MODULES[target]


def _run_one(path: Path, tests: list[str], mutant: Mutant, timeout: float) -> bool:
    """True when a test fails on the mutant (killed)."""
    import pytest
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            _install(path, mutant)
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests])
        except BaseException:  # noqa: BLE001 - a mutant that does not even compile or import is killed
            code = 3
        os._exit(int(code))
    t0 = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) != 0
        if time.monotonic() - t0 > timeout:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return True
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="modules (paths) to mutate; default: all of MODULES")
    ap.add_argument("--list", action="store_true", help="list the mutants and stop")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds one mutant's tests may run")
    a = ap.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    import pytest
    targets = a.only or list(MODULES)
    for t in targets:  # everything the tests and pytest's plugins import, once, in this process
        importlib.import_module(_module_name(t))
        for test in (a for a in MODULES[t] if a.endswith(".py")):
            importlib.import_module(_module_name(test))
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *_pytest_args(t)])
    total_killed = total = 0
    for t in targets:
        path = ROOT / t
        ms = mutants(path)
        lines = path.read_text().splitlines()
        if a.list:
            for m in ms:
                print(f"{t}:{m.line}: {m.what}   {lines[m.line - 1].strip()}")
            continue
        t0, survivors = time.monotonic(), []
        for m in ms:
            if not _run_one(path, _pytest_args(t), m, a.timeout):
                survivors.append(m)
        killed = len(ms) - len(survivors)
        total_killed, total = total_killed + killed, total + len(ms)
        print(f"{t}: {killed} of {len(ms)} mutants killed ({100 * killed / max(len(ms), 1):.1f}%) in "
              f"{time.monotonic() - t0:.0f} s", flush=True)
        for m in survivors:
            print(f"  survived {t}:{m.line}: {m.what}   {lines[m.line - 1].strip()}", flush=True)
    if total:
        print(f"all: {total_killed} of {total} killed ({100 * total_killed / total:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

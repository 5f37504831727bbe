#!/usr/bin/env python3
"""Library below, commands above: an ast check of squeeze's imports (nothing is imported or run).

    python tools/check_layers.py            (from the project root; .ci/run and tests/test_layers.py run it)

Fails (exit 1, one line per problem) when
- squeeze's modules import each other in a circle (a strongly connected component of the module import graph), or
- a module outside the command package `squeeze.cli` imports argparse or the command package, defines a function
  named `add_*_parser` or `cmd_*`, or takes a parameter annotated `argparse.Namespace`.
A package's `__init__` is not counted as imported by its submodules' imports (Python runs it, but it is no edge of
the design). Prints `layers: ok (N modules)` otherwise.
"""
import ast
import sys
from pathlib import Path

COMMANDS = "squeeze.cli"


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


def check(root: Path) -> list[str]:
    files = {module_name(root, f): f for f in sorted(root.rglob("*.py"))}
    edges, problems = {}, []
    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        named = imports(tree, mod, path.name == "__init__.py")
        edges[mod] = {n for n in named if n in files and n != mod and not mod.startswith(n + ".")}
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

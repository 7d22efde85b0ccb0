"""The layering of DESIGN.md, checked on the source: no import cycle (not even through imports
inside functions), packages import each other only downwards (theory <- simulators <- bounds <-
paper_figs) and only through public names, and the notebooks import public names only. (Two
benchmarks time internal stages of the library, e.g. the inverse-CDF search variants, and import
them on purpose.) Every "THEORY.md section N" cited in the code names a section of the shipped
THEORY.md.
"""

from __future__ import annotations

import ast
import collections
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "simulators", "bounds", "paper_figs")
LAYER = {name: i for i, name in enumerate(PACKAGES)}  # a package may import lower layers only


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> list[tuple[str, int]]:
    """Every imported name (``pkg.mod`` and ``pkg.mod.name`` for ``from`` imports), anywhere in
    the file, with its line."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            out += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
    return [(t, line) for t, line in out if t.split(".")[0] in PACKAGES]


def _library_files():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _private_part(target: str) -> bool:
    return any(part.startswith("_") for part in target.split(".")[1:])


def test_packages_import_only_lower_layers():
    wrong = []
    for path in _library_files():
        own = path.relative_to(ROOT).parts[0]
        for target, line in _imports(path):
            other = target.split(".")[0]
            if LAYER[other] > LAYER[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_private_imports_across_packages_or_in_notebooks():
    files = list(_library_files()) + sorted((ROOT / "notebooks").glob("*.py"))
    wrong = []
    for path in files:
        own = path.relative_to(ROOT).parts[0]
        for target, line in _imports(path):
            if target.split(".")[0] != own and _private_part(target):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "import public names instead:\n" + "\n".join(sorted(set(wrong)))


def _module_graph() -> dict[str, set[str]]:
    modules = {_module_name(p) for p in _library_files()}
    graph = collections.defaultdict(set)
    for path in _library_files():
        module = _module_name(path)
        for target, _ in _imports(path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # A package's own __init__ re-exporting its modules is not an edge back into them.
            if target and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_cycles():
    assert _cycles(_module_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _theory_sections() -> set[str]:
    text = (ROOT / "THEORY.md").read_text()
    return set(re.findall(r"^## (\d+)\.", text, flags=re.M))


@pytest.mark.parametrize("folder", [*PACKAGES, "benchmarks", "notebooks", "tests"])
def test_theory_md_citations_name_existing_sections(folder):
    sections = _theory_sections()
    assert sections == {str(i) for i in range(1, 9)}
    cite = re.compile(r"THEORY\.md,? (?:sections?|§) ?(\d+)")
    wrong = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            missing = [s for s in cite.findall(line) if s not in sections]
            wrong += [f"{path.relative_to(ROOT)}:{i}: section {s}" for s in missing]
    assert not wrong, wrong

"""The house rules (DESIGN.md section 2, docs/house.md), checked on the source itself.

- Layers import only downward: ``firmware.common`` <- ``device`` and ``firmware.core`` <-
  ``calibration``, ``firmware.edge`` and ``dashboard`` <- ``firmware.app`` (table ``MAY_IMPORT``).
- No import cycle between the project's modules.
- At most ten imports inside functions, each with its reason in a comment on its line.
- No class over 400 lines.
- One home for each contract: a topic, a format name or the envelope's version is spelled in
  ``firmware/common/wire.py`` alone, and the helpers every layer shares are defined once.

Every rule is checked by walking the syntax trees (``ast``), so a comment or a string that
merely mentions a module does not count, and an import inside ``if TYPE_CHECKING:`` does.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("firmware", "device", "calibration", "dashboard")

# layer -> the layers it may import (itself included); the longest matching prefix names a
# module's layer
MAY_IMPORT: dict[str, set[str]] = {
    "firmware.common": {"firmware.common"},
    "device": {"firmware.common", "device"},
    "firmware.core": {"firmware.common", "firmware.core"},
    "calibration": {"firmware.common", "firmware.core", "device", "calibration"},
    "firmware.edge": {"firmware.common", "firmware.core", "firmware.edge"},
    "dashboard": {"firmware.common", "firmware.core", "dashboard"},
    "firmware.app": {"firmware", "firmware.common", "firmware.core", "firmware.edge",
                     "firmware.app", "device", "calibration", "dashboard"},
    "firmware": {"firmware"},
}
MAX_FUNCTION_IMPORTS = 10
MAX_CLASS_LINES = 400
WIRE = "firmware.common.wire"
# helpers that must have one home: name -> the module that defines it
ONE_HOME = {name: WIRE for name in ("utc_now_iso", "utc_iso", "envelope", "finite_float", "finite_or_none",
                                  "clean_json", "dumps", "topic")}
# string constants of the contracts (DESIGN.md section 3) that only WIRE may spell
CONTRACT_PREFIXES = ("rollsense/", "rollsense-summary/", "rollsense-recording/")


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def layer_of(module: str) -> str:
    best = ""
    for layer in MAY_IMPORT:
        if (module == layer or module.startswith(layer + ".")) and len(layer) > len(best):
            best = layer
    return best


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement loads."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            here = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            here = here[: len(here) - (node.level - 1)]
            base = ".".join(here + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return [n for n in names if n.split(".")[0] in PACKAGES]


def _imports():
    """(module, line, target, inside_a_function) for every project import."""
    for module, tree in TREES.items():
        in_function: set[int] = set()
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                in_function.update(id(n) for n in ast.walk(fn) if n is not fn)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets = _targets(module, node) or [None]  # None: a third-party import
                for target in targets:
                    yield module, node.lineno, target, id(node) in in_function


IMPORTS = list(_imports())


def test_every_module_has_a_layer():
    assert [m for m in MODULES if not layer_of(m)] == []


def test_no_import_against_the_flow():
    against = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t} ({layer_of(m)} may import "
               f"{', '.join(sorted(MAY_IMPORT[layer_of(m)]))})"
               for m, line, t, _ in IMPORTS
               if t is not None and layer_of(t) not in MAY_IMPORT[layer_of(m)]]
    assert against == []


def test_no_import_cycle():
    graph = defaultdict(set)
    for m, _, t, _ in IMPORTS:
        if t is not None and t != m and not m.startswith(t + "."):  # a package's own parent
            graph[m].add(t)
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(MODULES):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_few_imports_inside_functions_each_with_its_reason():
    inner = sorted({(m, line) for m, line, _, inside in IMPORTS if inside})
    listed = [f"{MODULES[m].relative_to(ROOT)}:{line}" for m, line in inner]
    assert len(inner) <= MAX_FUNCTION_IMPORTS, "\n".join(listed)
    unexplained = [where for (m, line), where in zip(inner, listed, strict=True)
                   if "#" not in MODULES[m].read_text().splitlines()[line - 1]]
    assert unexplained == []


def test_no_class_over_400_lines():
    big = [f"{MODULES[m].relative_to(ROOT)}:{n.lineno} {n.name}: {n.end_lineno - n.lineno + 1} lines"
           for m, tree in TREES.items() for n in ast.walk(tree)
           if isinstance(n, ast.ClassDef) and n.end_lineno - n.lineno + 1 > MAX_CLASS_LINES]
    assert big == []


@pytest.mark.parametrize("name", sorted(ONE_HOME))
def test_shared_helpers_have_one_home(name):
    homes = sorted(m for m, tree in TREES.items() for n in tree.body
                   if isinstance(n, ast.FunctionDef) and n.name == name)
    assert homes == [ONE_HOME[name]]


def test_contract_strings_are_spelled_in_the_wire_module_alone():
    def leading_text(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            return node.values[0].value
        return None

    elsewhere = []
    for m, tree in TREES.items():
        if m == WIRE:
            continue
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and n.body and isinstance(n.body[0], ast.Expr)}
        for node in ast.walk(tree):
            text = leading_text(node)
            if text and id(node) not in docstrings and text.startswith(CONTRACT_PREFIXES):
                elsewhere.append(f"{MODULES[m].relative_to(ROOT)}:{node.lineno} {text!r}")
    assert elsewhere == []

"""The package's layers import only downwards, and nothing of the package at import time goes upwards.

Each subpackage has a rank; a module may import (at run time, outside ``if TYPE_CHECKING:``) only modules of
its own subpackage or of a lower rank. The top-level modules (``__init__``, ``cli``, ``__main__``) sit on
top. This rules out import cycles between subpackages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lightning_optim
from lightning_optim.declaring import specs
from lightning_optim.training.mixin import ConfigurableOptimizersMixin

PACKAGE = Path(lightning_optim.__file__).parent

#: Bottom first. Subpackages of the same rank may not import each other.
LAYERS: dict[str, int] = {
    "utilities": 0,
    "schedules": 1,
    "optimizers": 1,
    "registry": 2,
    "groups": 3,
    "declaring": 4,
    "building": 5,
    "training": 6,
    "monitor": 7,
    "tools": 8,
}
TOP = 9


def _layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1], LAYERS[parts[1]]
    return "top", TOP


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(tree: ast.Module, package: str) -> list[str]:
    """The package modules imported outside ``if TYPE_CHECKING:`` blocks."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{package}: use absolute imports (found a relative one)")
            if node.module.startswith("lightning_optim"):
                found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("lightning_optim"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path: Path) -> None:
    name = _module_name(path)
    own, rank = _layer(name)
    tree = ast.parse(path.read_text())
    for imported in _runtime_imports(tree, name):
        layer, imported_rank = _layer(imported)
        allowed = imported_rank < rank or layer == own
        assert allowed, (
            f"{name} (layer `{own}`, rank {rank}) imports {imported} (layer `{layer}`, rank {imported_rank})"
        )


def test_every_subpackage_has_a_layer() -> None:
    subpackages = {p.parent.relative_to(PACKAGE).parts[0] for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(LAYERS)


def test_the_scheduler_rules_never_import_the_records() -> None:
    # the records (``registry/schedulers.py``) import their rules, one concept a module; never the other way,
    # not even for type checking
    rules = sorted((PACKAGE / "registry").glob("scheduler_*.py"))
    assert rules, "no registry/scheduler_*.py"
    records = "lightning_optim.registry.schedulers"
    for path in rules:
        named = [
            f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        ]
        assert not [name for name in named if name == records or name.startswith(f"{records}.")], path


def test_the_descriptor_finds_the_mixin_by_its_attributes() -> None:
    # ``OptimizerSpec`` knows the mixin only by these two attribute names (no import of the mixin module)
    assert getattr(ConfigurableOptimizersMixin, specs.DECLARES_OPTIMIZERS) is True
    assert callable(getattr(ConfigurableOptimizersMixin, specs.LIVE_OPTIMIZER))

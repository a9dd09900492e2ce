"""What is public: the ``__all__`` of four modules. Every other module is internal and may be renamed.

The README says so; these tests hold the README, the guides and the examples to it, so that no reader learns
an internal import path, and hold each public module to its ``__all__``.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ("lightning_optim", "lightning_optim.cli", "lightning_optim.optimizers", "lightning_optim.schedules")
READER_FACING = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "examples").rglob("*.py")),
]
_IMPORT = re.compile(
    r"^\s*(?:from\s+(lightning_optim[\w.]*)\s+import\s+([^#\n]+)|import\s+(lightning_optim[\w.]*))", re.M
)


@pytest.mark.parametrize("path", READER_FACING, ids=lambda p: str(p.relative_to(ROOT)))
def test_readers_import_only_public_names(path: Path) -> None:
    for found in _IMPORT.finditer(path.read_text()):
        module = found.group(1) or found.group(3)
        assert module in PUBLIC, f"{path.relative_to(ROOT)} imports the internal module {module}"
        if found.group(2) and not found.group(2).strip().startswith("("):
            names = [n.strip().split(" as ")[0] for n in found.group(2).split(",") if n.strip()]
            exported = importlib.import_module(module).__all__
            assert set(names) <= set(exported), (
                f"{path.relative_to(ROOT)}: {set(names) - set(exported)} not public"
            )


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_exists(module: str) -> None:
    imported = importlib.import_module(module)
    assert imported.__all__, module
    for name in imported.__all__:
        value = getattr(imported, name)
        assert value is not None, f"{module}.{name}"


def test_the_readme_names_the_public_modules() -> None:
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{module}`" in readme for module in PUBLIC)


@pytest.mark.parametrize(
    "package", sorted(p.name for p in (ROOT / "lightning_optim").iterdir() if (p / "__init__.py").is_file())
)
def test_every_other_subpackage_says_it_is_internal(package: str) -> None:
    module = importlib.import_module(f"lightning_optim.{package}")
    if module.__name__ in PUBLIC:
        return
    assert "Internal: import the public names from ``lightning_optim``" in (module.__doc__ or ""), (
        module.__name__
    )
    assert not hasattr(module, "__all__"), f"{module.__name__} is internal: no __all__ of its own"


def _modules() -> list[str]:
    package = ROOT / "lightning_optim"
    return sorted(
        ".".join(("lightning_optim", *p.relative_to(package).with_suffix("").parts)).removesuffix(".__init__")
        for p in package.rglob("*.py")
        if p.name != "__main__.py"
    )


def test_no_public_name_hides_a_module_of_its_package() -> None:
    """A public name equal to a submodule's (the function ``declarations`` beside a subpackage of that name)
    makes ``import lightning_optim.<submodule>.x as y`` fail: the attribute is the name, not the module."""
    modules = set(_modules())
    for module in PUBLIC:
        hidden = [n for n in importlib.import_module(module).__all__ if f"{module}.{n}" in modules]
        assert not hidden, f"{module}: the public names {hidden} hide submodules of the same name"


def test_every_module_imports_by_its_dotted_name() -> None:
    """``import lightning_optim.a.b as m`` in a fresh interpreter, which walks the attributes of the parents."""
    code = "\n".join(f"import {m} as _" for m in _modules())
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

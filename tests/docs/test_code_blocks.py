"""Every ```` ```python ```` and ```` ```pycon ```` block of the README and of the docs site runs (see ``code_blocks``).

One test per page; its blocks run in order in one namespace, in a fresh working directory (files an example
writes land there), with the repository root importable (``from examples.schedules import ...``). A failure's
traceback names the Markdown file and line.
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import pytest

from lightning_optim.utilities import compat
from tests.docs.code_blocks import Block, python_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
WITH_CODE = [page for page in PAGES if python_blocks(page)]


def test_the_pages_are_found() -> None:
    assert ROOT / "README.md" in WITH_CODE and len(PAGES) > 10
    assert sum(len(python_blocks(page)) for page in PAGES) > 15


@pytest.mark.parametrize("page", WITH_CODE, ids=[str(p.relative_to(ROOT)) for p in WITH_CODE])
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runnable = [
        block
        for block in python_blocks(page)
        if block.skip is None and (block.needs_torch is None or compat.torch_at_least(block.needs_torch))
    ]
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setattr(sys, "argv", [str(page)])  # as a fresh interpreter running the page would have
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    sys.modules.pop(namespace["__name__"], None)
    for block in runnable:
        if block.language == "pycon":
            _run_session(block, namespace)
            continue
        if block.raises is None:
            exec(block.compiled(), namespace)
            continue
        expected = _exception(block.raises)
        with pytest.raises(expected):
            exec(block.compiled(), namespace)


def _run_session(block: Block, namespace: dict[str, object]) -> None:
    """A ``pycon`` block as a doctest in the page's namespace: every printed line must match."""
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block.code, namespace, block.path.name, str(block.path), block.line - 1)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    runner.run(test, out=failures.append, clear_globs=False)
    assert not failures, "".join(failures)
    namespace.update(test.globs)  # the doctest ran on a copy; later blocks see what the session defined


def _exception(name: str) -> type[BaseException]:
    import builtins

    found = getattr(builtins, name, None)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ValueError(f"docs-test: Expected `raises` to name a built-in exception but got {name!r}.")
    return found

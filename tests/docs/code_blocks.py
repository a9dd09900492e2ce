"""The ```` ```python ```` and ```` ```pycon ```` blocks of a Markdown page, found the way a reader sees them.

A page's blocks run in order in one namespace, as a reader types them into one session: a later block may use
what an earlier one defined. A ``pycon`` block is an interpreter session (``>>>`` lines and the output they
print) and runs as a doctest, so its output is checked. A block that truly cannot run (a fragment of a class body, a script's
``if __name__ == "__main__":`` entry point) is marked by an HTML comment on the line just above its fence,
``<!-- docs-test: skip (why) -->``; the reason is required. A block that shows a mistake and the error it gets
is marked ``<!-- docs-test: raises TypeError -->``: it must raise that exception. A block of a feature that
needs a newer torch than the lowest supported one is marked ``<!-- docs-test: needs torch>=2.9 -->``: it is
left out on an older torch (the compat rows of ``docs/compat.md``). The comments are invisible on GitHub and
on the docs site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")
_DIRECTIVE = re.compile(
    r"^\s*<!--\s*docs-test:\s*(?:skip\s*\((?P<why>[^)]+)\)|raises\s+(?P<raises>[A-Za-z_.]+)"
    r"|needs\s+torch\s*>=\s*(?P<torch>[0-9.]+))\s*-->\s*$"
)
_MARKER = re.compile(r"docs-test")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts (the 1-based line of its first code line) and its code."""

    path: Path
    line: int
    language: str
    code: str
    skip: str | None  # the reason given in the skip marker, if any
    raises: str | None  # the exception the block must raise, if any
    needs_torch: str | None = None  # the lowest torch the block runs on, if it needs a newer one

    def compiled(self) -> object:
        """The code compiled with the page's line numbers, so a traceback points into the Markdown file."""
        return compile("\n" * (self.line - 1) + self.code, str(self.path), "exec")


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, with the directive on the line above it.

    Example:
        >>> import tempfile
        >>> page = Path(tempfile.mkdtemp()) / "page.md"
        >>> _ = page.write_text(
        ...     "Text\\n```python\\nx = 1\\n```\\n<!-- docs-test: skip (a fragment) -->\\n```python\\nx +=\\n```\\n"
        ... )
        >>> [(b.line, b.code, b.skip, b.raises) for b in blocks(page)]
        [(3, 'x = 1\\n', None, None), (7, 'x +=\\n', 'a fragment', None)]
        >>> _ = page.write_text("<!-- docs-test: needs torch>=2.9 -->\\n```python\\nx = 1\\n```\\n")
        >>> [b.needs_torch for b in blocks(page)]
        ['2.9']
    """
    lines = path.read_text().split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            if _MARKER.search(lines[i]) and not (
                _DIRECTIVE.match(lines[i]) and i + 1 < len(lines) and _FENCE.match(lines[i + 1])
            ):
                raise ValueError(
                    f"{path}:{i + 1}: Expected `<!-- docs-test: skip (why) -->`, `<!-- docs-test: raises "
                    f"Error -->` or `<!-- docs-test: needs torch>=2.9 -->` on the line just above a code fence "
                    f"but got {lines[i]!r}."
                )
            i += 1
            continue
        indent, ticks = opening["indent"], opening["ticks"]
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(ticks):
            end += 1
        body = [
            line[len(indent) :] if line.startswith(indent) else line.lstrip() for line in lines[i + 1 : end]
        ]
        above = _DIRECTIVE.match(lines[i - 1]) if i > 0 else None
        skip, raises, needs = (above["why"], above["raises"], above["torch"]) if above else (None, None, None)
        code = "\n".join(body) + "\n"
        found.append(Block(path, i + 2, opening["info"].lower(), code, skip, raises, needs))
        i = end + 1
    return found


#: The languages that run: Python source, and interpreter sessions checked as doctests.
RUNNABLE = ("python", "py", "pycon")


def python_blocks(path: Path) -> list[Block]:
    """The blocks of ``path`` that run: ```` ```python ```` (``py``) and ```` ```pycon ```` sessions."""
    return [block for block in blocks(path) if block.language in RUNNABLE]

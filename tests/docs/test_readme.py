"""The README stays a landing page: at most 300 lines, and every link in it leads somewhere.

The guides live in ``docs/`` (built by ``make docs``, which checks their links); the README's own links are
checked here, since the site build does not read it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 300

_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def test_the_readme_has_at_most_300_lines() -> None:
    lines = README.read_text().count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; move a section into docs/ (at most {MAX_LINES})"


def test_every_relative_link_of_the_readme_exists() -> None:
    targets = [m["target"] for m in _LINK.finditer(README.read_text())]
    local = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    assert len(local) > 10
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_the_readme_links_every_guide() -> None:
    guides = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs" / "guides").glob("*.md"))
    text = README.read_text()
    assert [g for g in guides if f"({g})" not in text] == []

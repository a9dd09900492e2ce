"""A griffe extension for the API reference: read this package's ``Example:`` sections as ``Examples:``.

The package's Google docstrings head their doctests ``Example:`` (Google style allows both spellings);
griffe only knows ``Examples:`` and would render the doctests as plain text. Loaded by ``mkdocs.yml``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub("Examples:", obj.docstring.value)

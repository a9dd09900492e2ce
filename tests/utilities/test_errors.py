"""Near-miss suggestions: the candidate a user meant, as the declaration errors show it; the messages' voice."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import lightning_optim
from lightning_optim import OptimizerSpec
from tests.helpers import declared


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # a swap of two neighbouring letters is one edit: `adam`, not `adamax` (difflib's pick)
        (
            "adma",
            "Expected a known optimizer name or a dotted import path but got 'adma' (did you mean `adam`?).",
        ),
        # the attribute that differs only in case, as Python's own AttributeError suggests
        ("torch.optim.adamw", "module `torch.optim` has no attribute `adamw` (did you mean `AdamW`?)"),
        ("torch.optim.SDG", "module `torch.optim` has no attribute `SDG` (did you mean `SGD`?)"),
    ],
)
def test_a_misspelt_optimizer_name_suggests_the_one_meant(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"Declared.optimizer: {message}")):
        declared(OptimizerSpec(name, lr=0.1))


def _texts(tree: ast.AST) -> list[str]:
    """Every string literal of ``tree`` (adjacent literals as one, an f-string's fields as ``{}``)."""
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return texts + [
        "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in n.values)
        for n in ast.walk(tree)
        if isinstance(n, ast.JoinedStr)
    ]


def test_no_message_glues_its_expected_sentence_after_a_semicolon() -> None:
    """The voice is `Where: Expected ... but got ...: why.`; was: "...after every optimizer step; Expected
    `frequency` to be 1 but got 2." and five more, a capital after a semicolon."""
    package = Path(lightning_optim.__file__).parent
    glued = [
        f"{path.relative_to(package)}: {text}"
        for path in sorted(package.rglob("*.py"))
        for text in _texts(ast.parse(path.read_text(encoding="utf-8")))
        if "; Expected" in text
    ]
    assert glued == []

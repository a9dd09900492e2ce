"""Tests of the scheduler's class in a module's ``lr_scheduler_step`` override, refused when the class is defined.

Lightning hands the hook the scheduler of each config ``configure_optimizers`` returned, and the mixin returns the
``Schedule`` of each declared scheduler (``schedules/schedule.py``), a torch ``LRScheduler`` that builds the declared
one when the run is known, never an instance of the declared class. So an override that tests the class takes the
wrong branch for a declared scheduler the test would match in a hand-written module: ``if isinstance(scheduler,
StepLR): scheduler.step()`` never steps the declared ``StepLR``, without a word, and the common dispatch ``if
isinstance(scheduler, ReduceLROnPlateau): scheduler.step(metric) else: scheduler.step()`` steps a declared plateau
without its metric. Only such a test is refused: one whose answer is right for every declared scheduler (the
plateau dispatch of a shared base on a module declaring no plateau, a test of ``SWALR``, which Lightning's
``StochasticWeightAveraging`` hands the hook) trains as it would hand-written. The tested class is read from the
override's source and resolved as its code would (its globals, closure and the modules it imports); where there is
no source, or a name is not resolved, nothing is refused, as the package's other reads of source do.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, NamedTuple

from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.utilities.errors import listing

#: The comparisons of ``type(scheduler)`` with a class, or with a collection of classes
_COMPARISONS = (ast.Is, ast.IsNot, ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def never_a_schedule(value: Any) -> bool:
    """Whether ``value`` is a scheduler class that the mixin's ``Schedule`` is not an instance of.

    Example:
        >>> from torch.optim.lr_scheduler import StepLR
        >>> never_a_schedule(StepLR), never_a_schedule(LRScheduler), never_a_schedule(int)
        (True, False, False)
    """
    return (
        isinstance(value, type)
        and issubclass(value, (LRScheduler, ReduceLROnPlateau))
        and not issubclass(Schedule, value)
    )


class ClassTest(NamedTuple):
    """A test of the class of the hook's scheduler argument."""

    #: the test as written
    text: str
    #: the scheduler classes it tests against that a ``Schedule`` is not
    classes: list[type]
    #: whether it compares the class itself (``type(scheduler) is X``) rather than testing a subclass
    exact: bool
    #: the class names it compares the class's name with (``type(scheduler).__name__ == "StepLR"``)
    names: tuple[str, ...] = ()

    def matched_by(self, declared: type) -> list[type]:
        """The tested classes a scheduler of the ``declared`` class matches: where the mixin's schedule, which
        matches none, gets the other answer than the declared scheduler in a hand-written module.

        Example:
            >>> from torch.optim.lr_scheduler import StepLR
            >>> class MyStepLR(StepLR): ...
            >>> ClassTest("isinstance(scheduler, StepLR)", [StepLR], exact=False).matched_by(MyStepLR)
            [<class 'torch.optim.lr_scheduler.StepLR'>]
            >>> ClassTest("type(scheduler) is StepLR", [StepLR], exact=True).matched_by(MyStepLR)
            []
        """
        return [
            tested
            for tested in self.classes
            if declared is tested or (not self.exact and issubclass(declared, tested))
        ] + ([declared] if declared.__name__ in self.names else [])


def class_tests(hook: Any) -> list[ClassTest]:
    """The tests of the class of ``hook``'s scheduler argument (its second) against scheduler classes a
    ``Schedule`` is not: ``isinstance(scheduler, X)``, ``issubclass(type(scheduler), X)``, ``type(scheduler) is X``
    (``==``, ``in``, and their negations), ``scheduler.__class__`` for ``type(scheduler)``, ``X`` a class or a
    tuple of them; and comparisons of the class's name (``type(scheduler).__name__ == "StepLR"``), exact.

    Example:
        >>> from torch.optim.lr_scheduler import StepLR
        >>> def lr_scheduler_step(self, scheduler, metric):
        ...     if isinstance(scheduler, (StepLR, LRScheduler)) or scheduler.__class__ is not ReduceLROnPlateau:
        ...         scheduler.step()
        >>> [(t.text, [c.__name__ for c in t.classes], t.exact) for t in class_tests(lr_scheduler_step)]
        [('isinstance(scheduler, (StepLR, LRScheduler))', ['StepLR'], False), ('scheduler.__class__ is not ReduceLROnPlateau', ['ReduceLROnPlateau'], True)]
    """
    hook = inspect.unwrap(hook)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(hook)))
        names = inspect.getclosurevars(hook)
    except (OSError, TypeError, SyntaxError, ValueError):  # no source (compiled), or not cut out whole
        return []
    definition = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None
    )
    if definition is None:  # a lambda
        return []
    positional = [*definition.args.posonlyargs, *definition.args.args]
    if len(positional) < 2:
        return []
    scope = {**names.builtins, **hook.__globals__, **names.nonlocals, **_imported(definition)}
    found = []
    for node in ast.walk(definition):
        tested, exact = _tested(node, positional[1].arg)
        classes = [value for expr in tested for value in _values(expr, scope) if never_a_schedule(value)]
        named = tuple(name for expr in _named(node, positional[1].arg) for name in _strings(expr))
        if classes or named:
            found.append(ClassTest(ast.unparse(node), classes, exact or bool(named), named))
    return found


def _named(node: ast.AST, argument: str) -> list[ast.expr]:
    """The expressions ``node`` compares the name of ``argument``'s class with (``type(scheduler).__name__ ==
    "StepLR"``, ``scheduler.__class__.__name__ in (...)``), none if it compares no such name."""
    if not isinstance(node, ast.Compare) or not all(isinstance(op, _COMPARISONS) for op in node.ops):
        return []
    operands = [node.left, *node.comparators]
    is_name = [
        isinstance(o, ast.Attribute)
        and o.attr in ("__name__", "__qualname__")
        and _is_class_of(o.value, argument)
        for o in operands
    ]
    return [o for o, name in zip(operands, is_name) if not name] if any(is_name) else []


def _strings(expr: ast.expr) -> list[str]:
    """The string literals ``expr`` is or holds (a tuple, list or set of them)."""
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return [text for item in expr.elts for text in _strings(item)]
    return [expr.value] if isinstance(expr, ast.Constant) and isinstance(expr.value, str) else []


def _tested(node: ast.AST, argument: str) -> tuple[list[ast.expr], bool]:
    """The expressions ``node`` tests the class of ``argument`` against (none if it tests no class of it), and
    whether it compares the class itself rather than testing a subclass."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 2:
        if node.func.id == "isinstance" and _is_name(node.args[0], argument):
            return [node.args[1]], False
        if node.func.id == "issubclass" and _is_class_of(node.args[0], argument):
            return [node.args[1]], False
    if isinstance(node, ast.Compare) and all(isinstance(op, _COMPARISONS) for op in node.ops):
        operands = [node.left, *node.comparators]
        if any(_is_class_of(operand, argument) for operand in operands):
            return [operand for operand in operands if not _is_class_of(operand, argument)], True
    return [], False


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_class_of(node: ast.AST, argument: str) -> bool:
    """Whether ``node`` is ``type(argument)`` or ``argument.__class__``."""
    if isinstance(node, ast.Attribute):
        return node.attr == "__class__" and _is_name(node.value, argument)
    return (
        isinstance(node, ast.Call)
        and _is_name(node.func, "type")
        and len(node.args) == 1
        and _is_name(node.args[0], argument)
    )


def _values(expr: ast.expr, scope: dict[str, Any]) -> list[Any]:
    """What ``expr`` (a name, an attribute chain, a tuple or list of them) stands for in ``scope``, a tuple's
    items each; nothing for what it cannot resolve without running code."""
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return [value for item in expr.elts for value in _values(item, scope)]
    missing = object()
    value: Any = missing
    if isinstance(expr, ast.Name):
        value = scope.get(expr.id, missing)
    elif isinstance(expr, ast.Attribute):
        owners = _values(expr.value, scope)
        value = getattr(owners[0], expr.attr, missing) if len(owners) == 1 else missing
    if value is missing:
        return []
    return list(value) if isinstance(value, tuple) else [value]


def _imported(definition: ast.AST) -> dict[str, Any]:
    """The names the imports inside ``definition`` bind, from modules imported already (nothing is imported)."""
    names: dict[str, Any] = {}
    for node in ast.walk(definition):
        if isinstance(node, ast.ImportFrom) and node.module is not None and not node.level:
            module = sys.modules.get(node.module)
            for alias in node.names:
                if module is not None and hasattr(module, alias.name):
                    names[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.name if alias.asname else alias.name.partition(".")[0]
                if bound in sys.modules:
                    names[alias.asname or bound] = sys.modules[bound]
    return names


def refuse_class_tests(owner: str, definer: type, hook: Any, schedulers: Sequence[ResolvedScheduler]) -> None:
    """Refuse ``definer``'s ``lr_scheduler_step`` ``hook`` (used by the class ``owner``) if it tests the scheduler's
    class (``class_tests``) against a class one of the declared ``schedulers`` matches, while the mixin hands it
    their schedules, which match none."""
    for test in class_tests(hook):
        wrong_for = [s for s in schedulers if test.matched_by(s.cls)]
        if not wrong_for:
            continue
        where = "" if definer.__qualname__ == owner else f" (in `{definer.__qualname__}`)"
        declared = ", ".join(f"`{s.where}`'s `{s.cls.__name__}`" for s in wrong_for)
        classes = {tested for s in wrong_for for tested in test.matched_by(s.cls)}
        raise TypeError(
            f"{owner}.lr_scheduler_step: Expected no test of the scheduler's class but got `{test.text}`{where}: "
            "the scheduler this hook receives is the mixin's schedule (a torch `LRScheduler`) of each declared "
            f"scheduler, never an instance of {listing(sorted({c.__name__ for c in classes}))}, so the "
            f"test has the wrong answer for {declared}. The mixin steps each declared scheduler itself (a plateau "
            "with its `monitor` metric): remove the override, or call `super().lr_scheduler_step(scheduler, "
            "metric)` in it."
        )

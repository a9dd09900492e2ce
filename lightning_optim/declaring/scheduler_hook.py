"""Tests of the scheduler's class in a module's ``lr_scheduler_step`` override, refused when the class is defined.

Lightning hands the hook the scheduler of each config ``configure_optimizers`` returned, and the mixin returns the
``Schedule`` of each declared scheduler (``schedules/schedule.py``), a torch ``LRScheduler`` that builds the declared
one when the run is known, never an instance of the declared class. So an override that tests the class takes the
wrong branch for a declared scheduler the test would match in a hand-written module: ``if isinstance(scheduler,
StepLR): scheduler.step()`` never steps the declared ``StepLR``, without a word, and the common dispatch ``if
isinstance(scheduler, ReduceLROnPlateau): scheduler.step(metric) else: scheduler.step()`` steps a declared plateau
without its metric. Only a test whose answer for the schedule differs from its answer for the scheduler a
hand-written module holds (the declared class, or the class its library builds: transformers' functions return a
``LambdaLR``) is refused: one answered alike (the plateau dispatch of a shared base on a module declaring no plateau,
a test of ``SWALR``, which Lightning's ``StochasticWeightAveraging`` hands the hook, ``isinstance(scheduler,
(LRScheduler, ReduceLROnPlateau))``, which the schedule passes as an ``LRScheduler``) trains as it would
hand-written. So each test is answered by running it with each class in place of the scheduler's. The tested classes
are read from the override's source and resolved as its code would (its globals, closure and the modules it imports);
where there is no source, or a name is not resolved, nothing is refused, as the package's other reads of source do.
"""

from __future__ import annotations

import ast
import functools
import inspect
import operator
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.utilities.errors import listing

#: The comparisons a test of ``type(scheduler)`` (or of its name) may make, each as it compares
_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda item, collection: item in collection,
    ast.NotIn: lambda item, collection: item not in collection,
}

#: The string methods a test may call on the class's name before comparing it (``.__name__.lower()``)
_NAME_METHODS = ("lower", "upper", "casefold")

#: What stands for an expression that cannot be resolved without running code
_UNRESOLVED = object()

#: A test's answer for a scheduler of the given class
Answer = Callable[[type], bool]


class ClassTest(NamedTuple):
    """A test of the class of the hook's scheduler argument."""

    #: the test as written
    text: str
    #: its answer for a scheduler of the given class (``None`` where running it with that class raises)
    answer_for: Callable[[type], bool | None]

    def misjudged(self, held: type) -> bool:
        """Whether the test answers otherwise for the mixin's schedule than for a scheduler of the class ``held``.

        Example:
            >>> from torch.optim.lr_scheduler import LRScheduler, StepLR
            >>> def lr_scheduler_step(self, scheduler, metric):
            ...     return isinstance(scheduler, StepLR), isinstance(scheduler, (StepLR, LRScheduler))
            >>> [test.misjudged(StepLR) for test in class_tests(lr_scheduler_step)]
            [True, False]
        """
        schedule, hand_written = self.answer_for(Schedule), self.answer_for(held)
        return schedule is not None and hand_written is not None and schedule != hand_written


def class_tests(hook: Any) -> list[ClassTest]:
    """The tests of the class of ``hook``'s scheduler argument (its second), each resolved enough to be answered
    for any class: ``isinstance(scheduler, X)``, ``issubclass(type(scheduler), X)``, ``type(scheduler) is X``
    (``==``, ``in``, and their negations), ``scheduler.__class__`` for ``type(scheduler)``, ``X`` a class, a tuple of
    them or a collection for ``in``; and comparisons of the class's name (``type(scheduler).__name__ == "StepLR"``,
    ``.__name__.lower()``).

    Example:
        >>> from torch.optim.lr_scheduler import StepLR
        >>> def lr_scheduler_step(self, scheduler, metric):
        ...     if scheduler.__class__ is not StepLR or type(scheduler).__name__.lower() in ("steplr",):
        ...         scheduler.step()
        >>> [(t.text, t.answer_for(StepLR), t.answer_for(Schedule)) for t in class_tests(lr_scheduler_step)]
        [('scheduler.__class__ is not StepLR', False, True), ("type(scheduler).__name__.lower() in ('steplr',)", True, False)]
    """
    read = _read(hook)
    if read is None:
        return []
    definition, argument, scope = read
    found = []
    for node in ast.walk(definition):
        answer = _answer(node, argument, scope)
        if answer is not None:
            found.append(ClassTest(ast.unparse(node), _unless_raising(answer)))
    return found


def calls_super(hook: Any) -> bool:
    """Whether ``hook`` calls ``super().lr_scheduler_step(...)`` (so the mixin steps the declared schedulers).

    Example:
        >>> def lr_scheduler_step(self, scheduler, metric):
        ...     super().lr_scheduler_step(scheduler, metric)
        >>> calls_super(lr_scheduler_step), calls_super(lambda self, scheduler, metric: None)
        (True, False)
    """
    read = _read(hook)
    return read is not None and any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "lr_scheduler_step"
        and isinstance(node.func.value, ast.Call)
        and _is_name(node.func.value.func, "super")
        for node in ast.walk(read[0])
    )


def _read(hook: Any) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, str, dict[str, Any]] | None:
    """``hook``'s definition, the name of its scheduler argument and the names its code sees; ``None`` where it has
    no source (compiled, ``exec``), is a lambda or takes no scheduler."""
    hook = inspect.unwrap(hook)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(hook)))
        names = inspect.getclosurevars(hook)
    except (OSError, TypeError, SyntaxError, ValueError):  # no source (compiled), or not cut out whole
        return None
    definition = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None
    )
    if definition is None:  # a lambda
        return None
    positional = [*definition.args.posonlyargs, *definition.args.args]
    if len(positional) < 2:
        return None
    scope = {**names.builtins, **hook.__globals__, **names.nonlocals, **_imported(definition)}
    return definition, positional[1].arg, scope


def _unless_raising(answer: Answer) -> Callable[[type], bool | None]:
    """``answer``, ``None`` where it raises (``isinstance`` of a list, an ``==`` of an object that refuses)."""

    def answered(cls: type) -> bool | None:
        try:
            return bool(answer(cls))
        except Exception:
            return None

    return answered


def _answer(node: ast.AST, argument: str, scope: dict[str, Any]) -> Answer | None:
    """The answer of ``node`` for a scheduler of a given class, if it tests the class of ``argument`` against
    values resolved in ``scope``; ``None`` otherwise."""
    if isinstance(node, ast.Call) and _is_name(node.func, "isinstance") and len(node.args) == 2:
        tested = _value(node.args[1], scope)
        if _is_name(node.args[0], argument) and tested is not _UNRESOLVED:
            return lambda cls: issubclass(cls, tested)
    if isinstance(node, ast.Call) and _is_name(node.func, "issubclass") and len(node.args) == 2:
        tested = _value(node.args[1], scope)
        if _is_class_of(node.args[0], argument) and tested is not _UNRESOLVED:
            return lambda cls: issubclass(cls, tested)
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARISONS for op in node.ops):
        operands = [node.left, *node.comparators]
        readings = [_of_class(operand, argument) for operand in operands]
        values = [_value(operand, scope) for operand in operands]
        if any(readings) and all(r is not None or v is not _UNRESOLVED for r, v in zip(readings, values)):
            compares = [_COMPARISONS[type(op)] for op in node.ops]

            def answer(cls: type) -> bool:
                sides = [v if r is None else r(cls) for r, v in zip(readings, values)]
                return all(compare(a, b) for compare, a, b in zip(compares, sides, sides[1:]))

            return answer
    return None


def _of_class(node: ast.AST, argument: str) -> Callable[[type], Any] | None:
    """How ``node`` reads the class of ``argument`` (``type(argument)``, ``argument.__class__``), its name
    (``.__name__``, ``.__qualname__``) or its name changed by a string method (``.lower()``); ``None`` if it reads
    none of them."""
    steps: list[Callable[[Any], Any]] = []  # from the outermost in
    while not _is_class_of(node, argument):
        if isinstance(node, ast.Attribute) and node.attr in ("__name__", "__qualname__"):
            steps.append(operator.attrgetter(node.attr))
            node = node.value
        elif (
            isinstance(node, ast.Call)
            and not node.args
            and not node.keywords
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _NAME_METHODS
        ):
            steps.append(operator.methodcaller(node.func.attr))
            node = node.func.value
        else:
            return None
    return lambda cls: functools.reduce(lambda value, step: step(value), reversed(steps), cls)


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


def _value(expr: ast.expr, scope: dict[str, Any]) -> Any:
    """What ``expr`` (a name, an attribute chain, a constant, a tuple, list or set of them) stands for in
    ``scope``; ``_UNRESOLVED`` for what it cannot resolve without running code."""
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        items = [_value(item, scope) for item in expr.elts]
        if any(item is _UNRESOLVED for item in items):
            return _UNRESOLVED
        return tuple(items) if isinstance(expr, ast.Tuple) else items  # a set's items compare as a list's
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, ast.Name):
        return scope.get(expr.id, _UNRESOLVED)
    if isinstance(expr, ast.Attribute):
        owner = _value(expr.value, scope)
        return _UNRESOLVED if owner is _UNRESOLVED else getattr(owner, expr.attr, _UNRESOLVED)
    return _UNRESOLVED


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
    class (``class_tests``) with another answer for the mixin's schedule than for the scheduler one of the declared
    ``schedulers`` is in a hand-written module (``hand_written``)."""
    for test in class_tests(hook):
        wrong_for = [s for s in schedulers if any(test.misjudged(held) for held in hand_written(s))]
        if not wrong_for:
            continue
        where = "" if definer.__qualname__ == owner else f" (in `{definer.__qualname__}`)"
        declared = ", ".join(f"`{s.where}`'s `{s.cls.__name__}`" for s in wrong_for)
        held = {cls.__name__ for s in wrong_for for cls in hand_written(s) if test.misjudged(cls)}
        answer = test.answer_for(Schedule)
        advice = (
            ", and this override calls `super().lr_scheduler_step(scheduler, metric)` already: remove the test (the "
            "schedule passes reads of the declared scheduler's attributes through to it)."
            if calls_super(hook)
            else ": remove the override, or call `super().lr_scheduler_step(scheduler, metric)` in it."
        )
        raise TypeError(
            f"{owner}.lr_scheduler_step: Expected no test of the scheduler's class but got `{test.text}`{where}: "
            "the scheduler this hook receives is the mixin's schedule (a torch `LRScheduler`) of each declared "
            f"scheduler, so the test is {answer} for the schedule of {declared} but {not answer} for the "
            f"{listing(sorted(held))} a hand-written module holds. The mixin steps each declared scheduler itself "
            f"(a plateau with its `monitor` metric){advice}"
        )


def hand_written(scheduler: ResolvedScheduler) -> tuple[type, ...]:
    """The classes a hand-written module's scheduler for the declared ``scheduler`` is: the declared class, and the
    class its library builds where the package's class ports it (``SchedulerInfo.hand_written_class``)."""
    library = scheduler.info.hand_written_class
    return (scheduler.cls,) if library is None else (scheduler.cls, library)

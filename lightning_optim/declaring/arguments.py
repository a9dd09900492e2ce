"""Keyword arguments checked against a class's signature, for optimizers and schedulers alike.

The mixin fills one argument itself (an optimizer's parameters, a scheduler's ``optimizer``); every other
declared keyword must be one the class accepts. A class taking ``**kwargs`` (many in ``pytorch_optimizer``)
silently drops what it does not read, so such a keyword must at least be named in its source (quoted as a key,
or as an identifier standing for one: a ``dict(...)`` keyword, a parameter filled from an unpacked mapping), and
not only as an argument a method of its own takes from its step (``AdaFactor``'s ``init_group(group,
beta1=...)``): the declared value would sit unread in the param groups. The keys that stand for its options (its
defaults' quoted keys, those its constructor reads from its ``**kwargs`` or its step from a param group) and those
it names by identifier are listed and suggested with the signature's, so that a misspelling of one is told the
name meant. A constructor handing its ``**kwargs`` on to a call (``Magma``'s inner ``AdamW``, a helper method of a
user's own) may read any name there: every name is accepted, as nothing here can tell which. Merged into a dict of
its own (``defaults.update(kwargs)``), they are not handed on: they land in the param groups as ``{**kwargs}``,
unless that dict is handed on in turn (``AdamW(params, **options)``).

The values are handed to each optimizer and scheduler built as its own copies (``own_values``): torch's schedulers
write a tensor option in place (a tensor ``lr``, ``betas``' first element under a ``param="beta1"`` schedule), and
a declaration is a class attribute every fit of the class builds from. A numpy number among them (a sweep's grid)
is handed over as the Python number it stands for, which the checks here take it as: torch type-checks some
(``OneCycleLR``'s ``total_steps`` and ``pct_start``, ``Adam``'s ``betas``) and would refuse it.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch

from lightning_optim.declaring.hparam import contains_hparam
from lightning_optim.declaring.specs import OPTION_MEANINGS, OptimizerSpec, SchedulerSpec, spec_options
from lightning_optim.registry.optimizers import is_optimizer_class, optimizer_info
from lightning_optim.registry.precision import option_arguments
from lightning_optim.registry.schedulers import is_scheduler_class, scheduler_info
from lightning_optim.utilities.errors import did_you_mean, listing, option_meant, prefixed
from lightning_optim.utilities.numeric import is_int, python_number
from lightning_optim.utilities.typecheck import check_type, type_mismatch


@functools.cache
def accepted_arguments(cls: type) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(all keyword arguments, required ones, whether ``**kwargs`` is accepted), without what the mixin passes.

    The mixin passes the parameters (an optimizer's first argument) or the optimizer (a scheduler's
    ``optimizer`` argument, which ``ChainedScheduler`` takes second, after ``schedulers``). Cached: a
    declaration reading ``HParam``s is resolved again at every ``fit``, and reading signatures was most of it.
    """
    parameters = list(inspect.signature(cls).parameters.values())
    # the parameter the mixin fills itself: a scheduler's `optimizer`, else the first one
    takes_optimizer = any(p.name == "optimizer" for p in parameters) and is_scheduler_class(cls)
    supplied = "optimizer" if takes_optimizer else parameters[0].name
    parameters = [p for p in parameters if p.name != supplied]
    names = tuple(p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    required = tuple(
        p.name
        for p in parameters
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    var_keyword = any(p.kind is p.VAR_KEYWORD for p in parameters)
    return names, required, var_keyword


def own_values(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with each tensor among its values cloned (also inside a tuple or list: ``betas``), on its
    device and of its dtype, and each numpy number as the Python number it stands for; a param group's
    ``"params"`` stay the parameters.

    Example:
        >>> import numpy as np
        >>> lr = torch.tensor(0.1)
        >>> options = own_values({"lr": lr, "betas": (torch.tensor(0.9), 0.999)})
        >>> _ = options["lr"].fill_(0.5); lr, options["betas"]
        (tensor(0.1000), (tensor(0.9000), 0.999))
        >>> own_values({"total_steps": np.int64(8), "betas": (np.float32(0.5), np.float64(0.25))})
        {'total_steps': 8, 'betas': (0.5, 0.25)}
    """
    return {key: value if key == "params" else _own(value) for key, value in options.items()}


def _own(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if type(value) in (tuple, list):
        return type(value)(_own(v) for v in value)
    return python_number(value)


def check_minimums(where: str, cls: type, options: Mapping[str, Any]) -> None:
    """The record's checks of the arguments (its ``check_arguments``, its ``minimums``)."""
    info = optimizer_info(cls)
    if info.check_arguments is not None and not contains_hparam(options):
        with prefixed(where):
            info.check_arguments(cls, options)
    for key, value in options.items():
        minimum = info.minimums.get(key)
        if minimum is not None and is_int(value) and value < minimum:
            raise ValueError(
                f"{where}: Expected `{key}` of `{cls.__name__}` to be an int >= {minimum} but got {value!r}."
            )


#: Other optimizers' names for an argument, with how an optimizer taking the other one writes it: Adam's
#: family keeps its momentum as ``betas[0]``, SGD's family as ``momentum``. Suggested by meaning, where no
#: spelling is close.
OTHER_OPTIMIZERS_NAMES: Mapping[str, str] = MappingProxyType(
    {"momentum": "betas=(<momentum>, <beta2>)", "betas": "momentum=<betas[0]>"}
)


#: Options whose name every user knows, with what to tell where an optimizer takes none: suggesting a name
#: spelled close to it would be another option (``layer_decay`` for ``weight_decay``).
NOT_TAKEN: Mapping[str, str] = MappingProxyType(
    {
        "weight_decay": "takes no weight decay: leave it out, or declare an optimizer that takes `weight_decay`, "
        "such as `adamw` or `sgd`"
    }
)


#: Options that are declared elsewhere than where they were given, with the argument that tells where they were
#: given and what to tell there: no name spelled close to them is what they mean (``T_max``, a length, for
#: ``eta_max``; an optimizer takes no multiplier, a group of its does).
DECLARED_ELSEWHERE: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "lr_mult": (
            "groups",
            "is a `ParamGroup` option scaling the optimizer's `lr` for the parameters it selects: "
            "declare it in `groups=[ParamGroup(<select>, lr_mult=...)]`",
        ),
        "decay_mult": (
            "groups",
            "is a `ParamGroup` option scaling the optimizer's `weight_decay` for the parameters "
            "it selects: declare it in `groups=[ParamGroup(<select>, decay_mult=...)]`",
        ),
        "eta_max": (
            "eta_min",
            "is not an option: the schedule's peak is the optimizer's `lr`, declared in the `OptimizerSpec`",
        ),
    }
)


def meant(key: str, accepted: Sequence[str], known_as: Mapping[str, str]) -> str:
    """The ``" (did you mean ...?)"`` for an unexpected argument: its ``known_as`` entry (another library's or
    optimizer's name for an argument of this class) where that argument is ``accepted``, else the closest
    spelling that may be the option meant (``option_meant``), else where it is declared (``DECLARED_ELSEWHERE``).

    Example:
        >>> accepted = ["num_warmup_steps", "num_training_steps", "warmup"]
        >>> meant("warmup_ratio", accepted, {"warmup_ratio": "num_warmup_steps=<fraction>"})
        ' (did you mean `num_warmup_steps=<fraction>`?)'
        >>> meant("momentum", ["lr", "betas"], OTHER_OPTIMIZERS_NAMES), meant("momentum", ["lr"], OTHER_OPTIMIZERS_NAMES)
        (' (did you mean `betas=(<momentum>, <beta2>)`?)', '')
        >>> meant("warmpu", accepted, {}), meant("lr_decay", ["weight_decay", "no_decay"], {})
        (' (did you mean `warmup`?)', '')
        >>> meant("eta_max", ["T_max", "eta_min"], {})
        " (`eta_max` is not an option: the schedule's peak is the optimizer's `lr`, declared in the `OptimizerSpec`)"
    """
    known = known_as.get(key) or OTHER_OPTIMIZERS_NAMES.get(key)
    if known is not None and known.split("=")[0] in accepted:
        return f" (did you mean `{known}`?)"
    hint = option_meant(key, accepted)
    beside, elsewhere = DECLARED_ELSEWHERE.get(key, ("", ""))
    return f" (`{key}` {elsewhere})" if not hint and beside in accepted else hint


def _optimizer_meant(cls: type, key: str, accepted: Sequence[str]) -> str | None:
    """The hint for an argument ``key`` an optimizer ``cls`` does not take, where the registry knows better than a
    spelling: the argument that gives that option to a half of ``cls`` (``MuonWithAdamW``'s ``adamw_betas`` for
    ``betas``), or that it takes no such option (``NOT_TAKEN``); else ``None``."""
    if not is_optimizer_class(cls):
        return None
    halves = [argument for argument in option_arguments(cls, key) if argument != key and argument in accepted]
    if halves:
        return f" (did you mean `{halves[0]}`?)"
    if key in NOT_TAKEN:
        return f" (`{cls.__name__}` {NOT_TAKEN[key]})"
    return None


def check_arguments(
    where: str,
    cls: type,
    kwargs: Mapping[str, Any],
    extra: tuple[str, ...],
    per_group: frozenset[str] = frozenset(),
    known_as: Mapping[str, str] = MappingProxyType({}),
) -> list[str]:
    """Reject unknown keyword arguments (suggesting the argument meant, see ``meant``); return the required ones
    that are missing."""
    names, required, var_keyword = accepted_arguments(cls)
    if not var_keyword:
        accepted = [*names, *extra]
        for key in kwargs:
            if key not in names:
                hint = _optimizer_meant(cls, key, accepted)
                if hint is None:
                    hint = meant(key, accepted, known_as)
                raise TypeError(
                    f"{where}: `{cls.__name__}` got an unexpected argument `{key}`{hint}. "
                    f"Accepted arguments: {listing(accepted)}."
                )
    for key, value in kwargs.items():
        if key == "schedulers" and is_scheduler_class(cls) and scheduler_info(cls).composite:
            continue  # SchedulerSpecs, resolved one by one by `resolve_scheduler`
        if contains_hparam(value):
            continue  # an HParam without default: its value is checked when `fit` reads it
        if key in per_group and isinstance(value, Mapping):
            value = list(value.values())  # one value per group by name: checked like a list
        if key in per_group and isinstance(value, (list, tuple)) and _each_fits(cls, key, value):
            continue
        check_type(where, cls, key, value)
    return [name for name in required if name not in kwargs]


def check_option_clashes(where: str, cls: type, spec: OptimizerSpec | SchedulerSpec) -> None:
    """Refuse an option of ``spec`` given by keyword (set to other than its default) whose name is also an
    argument of the declared class ``cls`` that ``spec.kwargs`` does not give: ``SchedulerSpec(Cls, warmup=4)``
    would add this package's warmup and leave the class's own ``warmup`` at its default, silently.
    """
    names = accepted_arguments(cls)[0]
    given = {
        option: getattr(spec, option)
        for option, default in spec_options(type(spec)).items()
        if option in names and option not in spec.kwargs and getattr(spec, option) != default
    }
    if given:
        raise TypeError(option_clash(where, type(spec).__name__, cls.__name__, given))


def option_clash(where: str, kind: str, name: str, given: Mapping[str, Any]) -> str:
    """The message refusing the options ``given`` of a ``kind`` spec whose class ``name`` has arguments of the
    same names: which one each keyword means cannot be told.

    Example:
        >>> print(option_clash("M.opt.scheduler", "SchedulerSpec", "CosineWarmup", {"warmup": 4}))
        M.opt.scheduler: Expected `warmup=4` to name either an argument of `CosineWarmup` or an option of the SchedulerSpec but got a name that is both (`warmup`: a linear warmup this package adds before the schedule) (did you mean `kwargs={'warmup': 4}`? An argument in the mapping `kwargs=` always goes to `CosineWarmup`; to use the SchedulerSpec option too, give the argument beside it: `warmup=..., kwargs={'warmup': ...}`).
    """
    written = ", ".join(f"{key}={value!r}" for key, value in given.items())
    meanings = "; ".join(f"`{key}`: {OPTION_MEANINGS[key]}" for key in given)
    options = ", ".join(f"{key}=..." for key in given)
    placeholders = "{" + ", ".join(f"{key!r}: ..." for key in given) + "}"
    return (
        f"{where}: Expected `{written}` to name either an argument of `{name}` or an option of the {kind} but got "
        f"{'a name that is' if len(given) == 1 else 'names that are'} both ({meanings}) (did you mean "
        f"`kwargs={dict(given)!r}`? An argument in the mapping `kwargs=` always goes to `{name}`; to use the "
        f"{kind} option too, give the argument beside it: `{options}, kwargs={placeholders}`)."
    )


def _each_fits(cls: type, key: str, values: Sequence[Any]) -> bool:
    """Whether each of a per-group argument's values fits ``cls``'s annotation for ``key``: torch's ``CyclicLR``
    takes one momentum per group, as the other per-group arguments, though its signature annotates one ``float``.

    Example (torch 2.4 leaves ``CyclicLR``'s momentum unannotated, so a class of the same signature stands for it):
        >>> class Cyclic:
        ...     def __init__(self, optimizer: object, base_momentum: float = 0.8) -> None: ...
        >>> _each_fits(Cyclic, "base_momentum", [0.8, 0.85]), _each_fits(Cyclic, "base_momentum", [0.8, "a"])
        (True, False)
    """
    return all(type_mismatch(cls, key, value) is None for value in values)


def check_swallowed(where: str, cls: type, kwargs: Mapping[str, Any]) -> None:
    """An optimizer with ``**kwargs`` (many in ``pytorch_optimizer``) silently drops what it does not read:
    refuse an argument that is not a named parameter and that its source never names, as a string or as an
    identifier standing for a key (``identifier_reads``).

    Landing in the param groups is no sign of a read: ``{'lr': lr, **kwargs}`` puts a misspelling there too."""
    names, _, var_keyword = accepted_arguments(cls)
    unknown = [key for key in kwargs if key not in names]
    if not var_keyword or not unknown:
        return
    source = _class_sources(cls)
    if forwards_kwargs(source):
        return  # whatever it is handed to may read any name
    reads = key_reads(source)
    by_identifier = identifier_reads(source)
    for key in unknown:
        uses = [(function, own) for function, name, own in reads if name == key]
        # read only from the `**kwargs` of a method other than the constructor (`init_group`, which the step
        # calls with values of its own): the declared value lands in the param groups and nothing reads it
        helper_only = bool(uses) and all(own and function != "__init__" for function, own in uses)
        if key in by_identifier or (not helper_only and (f"'{key}'" in source or f'"{key}"' in source)):
            continue
        accepted = [
            *names,
            *dict.fromkeys(name for name in [*option_keys(source), *by_identifier] if name not in names),
        ]
        why = (
            f"reads `{key}` only as an argument of its own `{uses[0][0]}`, never from the declaration"
            if helper_only
            else f"never reads `{key}`"
        )
        raise TypeError(
            f"{where}: `{cls.__name__}` got an unexpected argument `{key}`{did_you_mean(key, accepted)} "
            f"(it takes `**kwargs` but {why}). Accepted arguments: {listing(accepted)}."
        )


def forwards_kwargs(source: str) -> bool:
    """Whether a constructor of ``source`` hands its ``**kwargs`` on to a call, unpacked or whole (into
    ``dict(...)`` or a dict's ``.update(...)`` only, it lands in the param groups as a dict literal's ``**kwargs``
    does: not handed on), or a dict it filled from them (``_kwargs_dicts``): unpacked into any call, or whole
    into one other than its base's ``__init__`` (``super().__init__(params, defaults)``, the param groups).

    Example:
        >>> forwards_kwargs("def __init__(self, params, **kwargs):\\n    self._configure(**kwargs)")
        True
        >>> forwards_kwargs("def __init__(self, params, **kw):\\n    self.inner = load(AdamW, params, kw)")
        True
        >>> forwards_kwargs("def __init__(self, params, **kwargs):\\n    super().__init__(params, {'lr': 1, **kwargs})")
        False
        >>> forwards_kwargs("def __init__(self, params, **kwargs):\\n    defaults = dict(lr=1, **kwargs)")
        False
        >>> forwards_kwargs("def __init__(self, params, **kwargs):\\n    defaults = {'lr': 1}\\n    defaults.update(kwargs)")
        False
        >>> forwards_kwargs("def __init__(self, params, **kwargs):\\n    self.update(**kwargs)")  # a method of its own
        True
        >>> forwards_kwargs("def __init__(self, params, **kwargs):\\n    options = {**kwargs}\\n    self.inner = AdamW(params, **options)")
        True
    """
    tree = _parsed(source)
    if tree is None:
        return False
    for function in ast.walk(tree):
        if (
            not isinstance(function, ast.FunctionDef)
            or function.name != "__init__"
            or function.args.kwarg is None
        ):
            continue
        kwargs = function.args.kwarg.arg
        dicts = _dict_names(function)
        filled = _kwargs_dicts(function, kwargs, dicts)
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or _fills_a_dict(node, dicts):
                continue
            if any(_is_name(value, kwargs) for value in _arguments(node)):
                return True
            unpacked = [keyword.value for keyword in node.keywords if keyword.arg is None]
            handed = unpacked if _is_base_init(node) else _arguments(node)
            if any(isinstance(value, ast.Name) and value.id in filled for value in handed):
                return True
    return False


def _kwargs_dicts(function: ast.FunctionDef, kwargs: str, dicts: set[str]) -> set[str]:
    """The names of the dicts ``function`` fills from its ``**kwargs``, named ``kwargs``: ``x = {**kwargs}``,
    ``x = dict(lr=lr, **kwargs)``, ``x.update(kwargs)`` of one of its ``dicts``, ``x |= kwargs``.

    Example:
        >>> source = "def __init__(self, params, **kw):\\n    a = {**kw}\\n    b = {}\\n    b.update(kw)\\n    c = {}\\n    c |= kw"
        >>> function = ast.parse(source).body[0]
        >>> sorted(_kwargs_dicts(function, "kw", _dict_names(function)))
        ['a', 'b', 'c']
    """
    filled = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign | ast.AnnAssign) and _holds(node.value, kwargs):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            filled |= {target.id for target in targets if isinstance(target, ast.Name)}
        elif (
            isinstance(node, ast.AugAssign)
            and isinstance(node.op, ast.BitOr)
            and isinstance(node.target, ast.Name)
            and _is_name(node.value, kwargs)
        ):
            filled.add(node.target.id)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and _fills_a_dict(node, dicts)
            and any(_is_name(value, kwargs) for value in _arguments(node))
        ):
            filled.add(node.func.value.id)
    return filled


def _holds(value: ast.AST | None, kwargs: str) -> bool:
    """Whether ``value`` makes a dict holding the mapping named ``kwargs``: ``{**kwargs}``, ``dict(**kwargs)``."""
    if isinstance(value, ast.Dict):
        return any(key is None and _is_name(item, kwargs) for key, item in zip(value.keys, value.values))
    return (
        isinstance(value, ast.Call)
        and _is_dict_call(value)
        and any(_is_name(v, kwargs) for v in _arguments(value))
    )


def _arguments(call: ast.Call) -> list[ast.expr]:
    """What ``call`` is given: its positional arguments and its keywords' values, unpacked ones included."""
    return [*call.args, *(keyword.value for keyword in call.keywords)]


def _is_base_init(call: ast.Call) -> bool:
    """Whether ``call`` is a base's ``__init__`` (``super().__init__(...)``, ``Optimizer.__init__(self, ...)``)."""
    return isinstance(call.func, ast.Attribute) and call.func.attr == "__init__"


def _dict_names(function: ast.FunctionDef) -> set[str]:
    """The names ``function`` binds to a dict it makes (``defaults = {...}``, ``= dict(...)``)."""
    bound = [
        (target, node.value)
        for node in ast.walk(function)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
    ]
    return {
        target.id
        for target, value in bound
        if isinstance(target, ast.Name)
        and (isinstance(value, ast.Dict | ast.DictComp) or _is_dict_call(value))
    }


def _fills_a_dict(call: ast.Call, dicts: set[str]) -> bool:
    """Whether ``call`` puts what it is given in a dict: ``dict(...)``, or ``.update(...)`` of one of ``dicts``."""
    method = call.func
    updates = (
        isinstance(method, ast.Attribute)
        and method.attr == "update"
        and isinstance(method.value, ast.Name)
        and method.value.id in dicts
    )
    return updates or _is_dict_call(call)


def _is_dict_call(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"


def identifier_reads(source: str) -> list[str]:
    """The keys ``source`` names by identifier: each keyword of a ``dict(...)`` (as a dict literal's quoted key),
    and each parameter of a function of ``source`` that a call fills from a mapping it unpacks
    (``self._update(p, state, **hyper)`` reads ``_update``'s parameters after ``p`` and ``state`` from ``hyper``
    by name; after ``self`` too, unless it is a ``staticmethod``).

    Example:
        >>> source = '''
        ... def __init__(self, params, lr=0.1, **kwargs):
        ...     super().__init__(params, dict(lr=lr, momentum=0.0))
        ... def step(self):
        ...     for group in self.param_groups:
        ...         self._update(group["params"], **group)
        ... def _update(self, params, lr, dampening, *, nesterov=False):
        ...     pass
        ... '''
        >>> identifier_reads(source)
        ['lr', 'momentum', 'lr', 'dampening', 'nesterov']
    """
    tree = _parsed(source)
    if tree is None:
        return []
    unpacking: dict[str, list[ast.Call]] = {}
    reads = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if _is_dict_call(node):
            reads += [keyword.arg for keyword in node.keywords if keyword.arg is not None]
        elif any(keyword.arg is None for keyword in node.keywords):
            callee = (
                node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            )
            if callee is not None:
                unpacking.setdefault(callee, []).append(node)
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or function.name not in unpacking:
            continue
        bound = not any(getattr(d, "id", None) == "staticmethod" for d in function.decorator_list)
        positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
        for call in unpacking[function.name]:
            skipped = len(call.args) + (bound and isinstance(call.func, ast.Attribute))
            given = {keyword.arg for keyword in call.keywords}
            filled = [*positional[skipped:], *(a.arg for a in function.args.kwonlyargs)]
            reads += [name for name in filled if name not in given]
    return reads


def key_reads(source: str) -> list[tuple[str, str, bool]]:
    """(function, key, whether from the function's own ``**kwargs``) for each key a function of ``source`` reads
    from a mapping by name (``group['key']``, ``kwargs.get('key')``, ``.pop``, ``.setdefault``, ``'key' in
    kwargs``) or writes in a dict literal (``{'key': ...}``).

    Example:
        >>> source = '''
        ... def __init__(self, params, **kwargs):
        ...     defaults = {"use_palm": kwargs.get("use_palm", False)}
        ... def init_group(self, group, **options):
        ...     beta1 = options["beta1"] if "step" in group else 0.9
        ... '''
        >>> sorted(key_reads(source))
        [('__init__', 'use_palm', False), ('__init__', 'use_palm', True), ('init_group', 'beta1', True),
         ('init_group', 'step', False)]
    """
    tree = _parsed(source)
    if tree is None:
        return []
    reads = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        kwargs = function.args.kwarg.arg if function.args.kwarg is not None else None
        reads += [(function.name, key, _is_name(mapping, kwargs)) for mapping, key in _quoted_keys(function)]
    return reads


def option_keys(source: str) -> list[str]:
    """The quoted keys of ``source`` that stand for options, listed and suggested with the signature's: those its
    constructor writes in a dict literal (its defaults' ``{'nesterov': False}``) or reads from its ``**kwargs``
    (``kwargs.get('use_palm')``), and those read from a param group (``group['nesterov']`` in a loop over
    ``self.param_groups``); less those it writes itself, a state (``group['step'] += 1``, ``state['exp_avg'] =
    ...``), and the ``params`` torch keeps in each group.

    Example:
        >>> source = '''
        ... def __init__(self, params, lr=0.1, **kwargs):
        ...     super().__init__(params, {"lr": lr, "nesterov": False, "step": 0, **kwargs})
        ... def step(self):
        ...     for group in self.param_groups:
        ...         group["step"] += 1
        ...         self.state[group["params"][0]]["buf"] = group.get("dampening", 0.0)
        ... '''
        >>> option_keys(source)
        ['lr', 'nesterov', 'dampening']
    """
    tree = _parsed(source)
    if tree is None:
        return []
    written = {
        node.slice.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.slice, ast.Constant)
    }
    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "__init__":
            kwargs = node.args.kwarg.arg if node.args.kwarg is not None else None
            keys += [
                key for mapping, key in _quoted_keys(node) if mapping is None or _is_name(mapping, kwargs)
            ]
        elif (group := _param_group_name(node)) is not None:
            keys += [key for mapping, key in _quoted_keys(node) if _is_name(mapping, group)]
    return [key for key in dict.fromkeys(keys) if key not in written and key != "params"]


def _param_group_name(node: ast.AST) -> str | None:
    """The name of each param group in ``node`` where it is a loop over them (``for group in self.param_groups:``)."""
    if (
        isinstance(node, ast.For)
        and isinstance(node.target, ast.Name)
        and isinstance(node.iter, ast.Attribute)
        and node.iter.attr == "param_groups"
    ):
        return node.target.id
    return None


def _is_name(node: ast.AST | None, name: str | None) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _quoted_keys(tree: ast.AST) -> list[tuple[ast.AST | None, str]]:
    """(mapping, key) for each string key read or written in ``tree`` (see ``_keys``)."""
    return [
        (mapping, key.value)
        for node in ast.walk(tree)
        for mapping, key in _keys(node)
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    ]


def _keys(node: ast.AST) -> list[tuple[ast.AST | None, ast.AST | None]]:
    """(mapping, key) for each key ``node`` reads from a mapping or writes in a dict literal (mapping ``None``)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        if node.func.attr in ("get", "pop", "setdefault"):
            return [(node.func.value, node.args[0])]
    elif isinstance(node, ast.Subscript):
        return [(node.value, node.slice)]
    elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
        return [(node.comparators[0], node.left)]
    elif isinstance(node, ast.Dict):
        return [(None, key) for key in node.keys]
    return []


def _parsed(source: str) -> ast.Module | None:
    """``source`` (dedented: a class defined in a function is indented) parsed, ``None`` where it does not parse (a
    source ``inspect`` could not cut out whole)."""
    try:
        return ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None


@functools.cache
def _class_sources(cls: type) -> str:
    """The source of ``cls`` and of its bases up to torch's ``Optimizer`` (empty where unavailable), one
    class's source after another, each dedented (a class defined in a function is indented)."""
    sources = []
    for klass in cls.__mro__:
        if klass in (torch.optim.Optimizer, object):
            break
        try:
            sources.append(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
    return "\n".join(sources)

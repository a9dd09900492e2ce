"""Selectors: which of a module's trainable parameters a ``params=``/``ParamGroup`` selector takes.

Every selector is evaluated in one pass over the module's ``named_parameters()`` (linear in the number of
parameter tensors), always on the user's own names: ``configure_optimizers`` runs on the
``LightningModule`` itself, never on a strategy's wrapper, so a DDP ``module.`` prefix never enters a match;
and the segments that in-place wrappers insert inside the module (FSDP's ``_fsdp_wrapped_module``,
activation checkpointing's ``_checkpoint_wrapped_module``, ``torch.compile``'s ``_orig_mod``) are removed
from every name before matching, so ``"encoder.layers.0"`` means the same with or without them.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from lightning_optim.utilities.errors import closest, did_you_mean, listing
from lightning_optim.utilities.lazy import ShapeUnknownError, call_refusing_shape

#: What ``params`` and ``ParamGroup.select`` accept: a submodule path (``"encoder.layers.0"``), an exact
#: parameter name, a glob over ``named_parameters()`` names (``"*.bias"``), a callable
#: ``(name, param) -> bool``, or a list of these (their union).
Selector = str | Callable[[str, torch.nn.Parameter], bool] | Sequence[Any]

_GLOB_CHARACTERS = re.compile(r"[*?\[]")

#: ``torch.nn.utils.parametrize``'s name for a parametrized tensor's original(s): ``original``, or
#: ``original0``, ``original1``, ... where ``right_inverse`` returns several (``weight_norm``'s g and v).
_PARAMETRIZED = re.compile(r"(?:(?P<path>.*)\.)?parametrizations\.(?P<attribute>[^.]+)\.original\d*")

#: Name segments inserted by wrappers that replace a submodule in place; never part of the user's names.
WRAPPER_SEGMENTS = ("_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod")
_WRAPPER_PATTERN = re.compile(r"(^|\.)(?:" + "|".join(WRAPPER_SEGMENTS) + r")(?=\.|$)")


def user_name(name: str) -> str:
    """A parameter or module name without wrapper segments, as the user wrote the model.

    Example:
        >>> user_name("encoder._fsdp_wrapped_module.layers.0._checkpoint_wrapped_module.weight")
        'encoder.layers.0.weight'
        >>> user_name("_orig_mod")
        ''
    """
    return _WRAPPER_PATTERN.sub("", name).lstrip(".")


@dataclass(frozen=True)
class NamedParameters:
    """A module's trainable parameters and its submodules, by the user's names (see ``user_name``).

    A parameter shared by several modules (a tied ``lm_head.weight = embed.weight``) is one item, under the
    first name ``named_parameters()`` gives it; ``aliases`` keeps its other names, which select it too. A
    submodule registered under several paths (``self.dec = self.enc``) is listed once in ``modules``, under
    its first path; ``module_aliases`` maps each other path to that first one, and every path is a selectable
    submodule (``submodules``), as its parameters' other names are aliases. ``frozen`` holds the parameters with
    ``requires_grad=False``, which no selector takes: only read to word an error.
    """

    items: Sequence[tuple[str, torch.nn.Parameter]]
    submodules: frozenset[str]
    modules: Sequence[tuple[str, torch.nn.Module]] = ()
    aliases: Mapping[int, Sequence[str]] = field(default_factory=dict)
    module_aliases: Mapping[str, str] = field(default_factory=dict)
    frozen: Sequence[tuple[str, torch.nn.Parameter]] = ()

    @classmethod
    def of(cls, module: torch.nn.Module) -> NamedParameters:
        items = [(user_name(name), p) for name, p in module.named_parameters() if p.requires_grad]
        modules = [(user_name(name), m) for name, m in module.named_modules()]
        first = {id(p): name for name, p in items}
        aliases: dict[int, list[str]] = {}
        for name, p in module.named_parameters(remove_duplicate=False):
            if id(p) in first and user_name(name) != first[id(p)]:
                aliases.setdefault(id(p), []).append(user_name(name))
        paths = {name for name, _ in modules}
        first_path = {id(m): name for name, m in modules}
        module_aliases = {
            user_name(name): first_path[id(m)]
            for name, m in module.named_modules(remove_duplicate=False)
            if user_name(name) not in paths
        }
        submodules = frozenset(name for name in (*paths, *module_aliases) if name)
        frozen = [(user_name(name), p) for name, p in module.named_parameters() if not p.requires_grad]
        return cls(items, submodules, modules, aliases, module_aliases, frozen)


def _callable_name(function: Any) -> str:
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    return f"`{name}`" if isinstance(name, str) else repr(function)


def _module_given(selector: Any) -> str | None:
    """How to name ``selector`` in an error if it is an ``nn.Module`` or an ``nn.Module`` class, else ``None``.

    Example:
        >>> _module_given(torch.nn.Tanh())
        'an `nn.Module`, `Tanh()`'
        >>> _module_given(torch.nn.Sequential(torch.nn.Tanh()))
        'an `nn.Module`, a `Sequential`'
        >>> _module_given(torch.nn.Linear)
        'the `nn.Module` class `Linear`'
        >>> _module_given(lambda name, param: True) is None
        True
    """
    if isinstance(selector, type) and issubclass(selector, torch.nn.Module):
        return f"the `nn.Module` class `{selector.__name__}`"
    if not isinstance(selector, torch.nn.Module):
        return None
    shown = repr(selector)
    return (
        f"an `nn.Module`, `{shown}`"
        if "\n" not in shown
        else f"an `nn.Module`, a `{type(selector).__name__}`"
    )


def check_callable_selector(where: str, option: str, function: Callable[..., Any]) -> None:
    """A callable selector must accept ``(name, param)``; a signature that cannot is an error now.

    Callables whose signature Python cannot read (some builtins) are accepted as they are. An ``nn.Module`` (or
    its class) is callable too, but as a selector it would be called with each parameter and fail at ``fit``:
    it is refused, asking for its attribute path.

    Example:
        >>> check_callable_selector("Model.optimizer.groups[0]", "select", lambda name, param: True)
        >>> check_callable_selector("Model.optimizer.groups[0]", "select", lambda name: True)
        Traceback (most recent call last):
        ...
        TypeError: Model.optimizer.groups[0]: Expected the `select` callable to take (name, param) -> bool but `<lambda>` has the signature (name); ...
        >>> check_callable_selector("Model.optimizer", "params", torch.nn.Linear(1, 1))
        Traceback (most recent call last):
        ...
        TypeError: Model.optimizer: Expected `params` to be a submodule path (a string), ... but got an `nn.Module`, `Linear(in_features=1, out_features=1, bias=True)`; ...
    """
    module = _module_given(function)
    if module is not None:
        raise TypeError(
            f"{where}: Expected `{option}` to be a submodule path (a string), a parameter name, a glob or a "
            f"callable (name, param) -> bool but got {module}; a selector names the module's parameters, so give "
            f'the submodule\'s attribute path as a string, e.g. `{option}="encoder"` for `self.encoder` '
            f'(`"encoder.layers.0"` for a nested one).'
        )
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind("name", None)
    except TypeError:
        raise TypeError(
            f"{where}: Expected the `{option}` callable to take (name, param) -> bool but "
            f"{_callable_name(function)} has the signature {signature}; it is called with each trainable "
            'parameter\'s name and the parameter. Write e.g. `lambda name, param: name.startswith("head")`.'
        ) from None


def _matcher(
    selector: Selector, named: NamedParameters, where: str, option: str
) -> Callable[[str, torch.nn.Parameter], bool]:
    if isinstance(selector, str):
        if selector in named.submodules:
            prefix = selector + "."
            return lambda name, _: name.startswith(prefix)
        if _GLOB_CHARACTERS.search(selector):
            pattern = re.compile(fnmatch.translate(selector))
            return lambda name, _: pattern.match(name) is not None
        return lambda name, _: name == selector
    if callable(selector):
        function = selector
        check_callable_selector(where, option, function)

        def call(name: str, param: torch.nn.Parameter) -> bool:
            try:
                result = call_refusing_shape(
                    function,
                    name,
                    param,
                    f"the `{option}` callable {_callable_name(function)}",
                    "select it by name (a parameter name, a glob such as `'*.bias'` or a submodule path)",
                )
            except ShapeUnknownError as err:  # a shape rule (`is_matrix`) met a lazy module's parameter
                raise ShapeUnknownError(f"{where}: {err}") from None
            except Exception as err:
                raise ValueError(
                    f"{where}: the `{option}` callable {_callable_name(function)} raised "
                    f"{type(err).__name__}: {err} for ({name!r}, param); it is called with each trainable "
                    "parameter's name and the parameter, and must return a bool."
                ) from err
            if not isinstance(result, bool):
                raise TypeError(
                    f"{where}: Expected the `{option}` callable to return a bool for ({name!r}, param) "
                    f"but got {result!r}."
                )
            return result

        return call
    matchers = [_matcher(item, named, where, option) for item in selector]
    return lambda name, p: any(m(name, p) for m in matchers)


def select(
    named: NamedParameters,
    selector: Selector,
    *,
    where: str,
    option: str,
    among: Sequence[tuple[str, torch.nn.Parameter]] | None = None,
) -> list[tuple[str, torch.nn.Parameter]]:
    """The parameters ``selector`` takes, in ``named_parameters()`` order.

    Args:
        named: the module's trainable parameters.
        selector: what the user declared.
        where: the declaring attribute, for messages.
        option: the option's name (``params`` or ``select``), for messages.
        among: restrict the match to these parameters (a param group within its optimizer).

    Raises:
        ValueError: the selector takes no trainable parameter; the message names it and suggests a near miss.
    """
    chosen = select_or_none(named, selector, where=where, option=option, among=among)
    if not chosen:
        raise ValueError(no_match_message(named, selector, where, option, among=among))
    return chosen


def select_or_none(
    named: NamedParameters,
    selector: Selector,
    *,
    where: str,
    option: str,
    among: Sequence[tuple[str, torch.nn.Parameter]] | None = None,
) -> list[tuple[str, torch.nn.Parameter]]:
    """Like ``select``, but taking no parameter gives ``[]`` instead of an error."""
    matches = _matcher(selector, named, where, option)
    candidates = named.items if among is None else among
    aliases = named.aliases
    return [
        (name, p)
        for name, p in candidates
        if matches(name, p) or any(matches(alias, p) for alias in aliases.get(id(p), ()))
    ]


def names_matched(
    named: NamedParameters,
    selector: Selector,
    name: str,
    param: torch.nn.Parameter,
    *,
    where: str,
    option: str,
) -> list[str]:
    """Under which of its names (``name``, then its tied ``aliases``) ``selector`` takes ``param``.

    Example:
        >>> module = torch.nn.ModuleDict({"embed": torch.nn.Embedding(4, 2), "head": torch.nn.Linear(2, 4)})
        >>> module.head.weight = module.embed.weight
        >>> named = NamedParameters.of(module)
        >>> names_matched(named, "head", "embed.weight", module.embed.weight, where="Model.opt", option="params")
        ['head.weight']
    """
    matches = _matcher(selector, named, where, option)
    return [n for n in (name, *named.aliases.get(id(param), ())) if matches(n, param)]


def list_items(selector: Selector) -> Sequence[Any]:
    """The items of a list selector; a string or a callable is no list.

    Example:
        >>> list_items(["*.bias", "head"]), list_items("head")
        (['*.bias', 'head'], ())
    """
    return () if isinstance(selector, str) or callable(selector) else selector


def is_pattern(item: Any) -> bool:
    """Whether a selector item is a glob over names (``"*.bias"``): a rule over whatever names it meets, where a
    name (``"dec.0.bias"``) or a submodule path (``"dec"``) means the parameters it names.

    Example:
        >>> is_pattern("*norm.weight"), is_pattern("blocks.?.fc"), is_pattern("dec.0.bias"), is_pattern("dec")
        (True, True, False, False)
    """
    return isinstance(item, str) and _GLOB_CHARACTERS.search(item) is not None


def check_items(named: NamedParameters, selector: Selector, *, where: str, option: str) -> None:
    """Each item of a list selector must take a trainable parameter of the module: a dead item (a misspelt
    name) would leave what it meant to another group or optimizer without a word. (An item whose parameters an
    earlier group or another optimizer holds is not refused: a shared no-decay list, a general list after a
    specific group.)

    Example:
        >>> named = NamedParameters.of(torch.nn.Linear(2, 2))
        >>> check_items(named, ["bias", "wieght"], where="Model.optimizer", option="params")
        Traceback (most recent call last):
        ...
        ValueError: Model.optimizer: Expected every item of `params=['bias', 'wieght']` to match a trainable parameter but the item 'wieght' matches none (did you mean `weight`?). ...
    """
    for item in list_items(selector):
        if not select_or_none(named, item, where=where, option=option):
            raise ValueError(item_no_match_message(named, selector, item, where, option))


def item_no_match_message(
    named: NamedParameters,
    selector: Selector,
    item: Any,
    where: str,
    option: str,
    *,
    among: Sequence[tuple[str, torch.nn.Parameter]] | None = None,
    trained_by: Mapping[int, str] | None = None,
) -> str:
    """Why ``item`` of the list ``selector`` takes no trainable parameter of the module: it matches none, or
    only frozen ones (``among``, ``trained_by``: see ``no_match_message``)."""
    frozen = _frozen_matches(named, item, where, option)
    if frozen:
        return (
            f"{where}: Expected every item of `{option}={selector!r}` to match a trainable parameter but the "
            f"item {item!r} matches only frozen parameters (`requires_grad=False`): {listing(frozen, limit=4)}. "
            f"{_frozen_advice(where)}"
        )
    return (
        f"{where}: Expected every item of `{option}={selector!r}` to match a trainable parameter but the "
        f"item {item!r} matches none{_hint(named, item, among, trained_by)}. Correct it or remove it from the list."
    )


#: What to do about a selector that takes only frozen parameters (docs/guides/several-optimizers.md).
_FROZEN_ADVICE = (
    "The optimizers are built from the parameters trainable when `fit` starts (after the callbacks' `setup`, "
    "where `BackboneFinetuning` freezes its backbone), so these would be trained by none. Unfreeze them "
    "before `fit` to train them from the start; to unfreeze them later, leave them out of "
    "the declarations and unfreeze them with Lightning's `BackboneFinetuning` (or "
    "`BaseFinetuning.unfreeze_and_add_param_group`), which adds them to an optimizer as it unfreezes them."
)


def _frozen_advice(where: str) -> str:
    """``_FROZEN_ADVICE``, with the way to fit a stage that trains without the frozen parameters (a linear probe
    of a module whose declarations train them in another stage): a class declaring without them.

    Example:
        >>> _frozen_advice("Model.optimizer.groups[0]").endswith(
        ...     "`Probe = with_declarations(Model, optimizer=OptimizerSpec(...))` declaring `optimizer` without "
        ...     "them, its weights loaded with `Probe().load_state_dict(model.state_dict())`."
        ... )
        True
    """
    head = where.split(".groups[")[0]
    if "." not in head:
        return _FROZEN_ADVICE
    owner, attribute = head.rsplit(".", 1)
    name = owner.rsplit(".", 1)[-1]
    return (
        f"{_FROZEN_ADVICE} For a stage of training with them frozen (a linear probe), fit a module of "
        f"`Probe = with_declarations({name}, {attribute}=OptimizerSpec(...))` declaring `{attribute}` without "
        "them, its weights loaded with `Probe().load_state_dict(model.state_dict())`."
    )


def _frozen_matches(named: NamedParameters, selector: Selector, where: str, option: str) -> list[str]:
    """The frozen parameters ``selector`` would take, if it takes no trainable one of the module."""
    if not named.frozen or select_or_none(named, selector, where=where, option=option):
        return []
    try:
        frozen = select_or_none(named, selector, where=where, option=option, among=named.frozen)
    except Exception:  # a callable selector that fails on a frozen parameter: wording an error, not selecting
        return []
    return [name for name, _ in frozen]


def _holding_paths(names: Sequence[str]) -> list[str]:
    """The submodule paths that hold one of the parameters ``names``, parents first: the submodules worth
    suggesting (a parameterless ``nn.Tanh`` or a frozen submodule selects nothing).

    Example:
        >>> _holding_paths(["backbone.0.weight", "backbone.0.bias", "head.weight"])
        ['backbone', 'backbone.0', 'head']
    """
    paths: dict[str, None] = {}
    for name in names:
        parts = name.split(".")[:-1]
        for end in range(1, len(parts) + 1):
            paths[".".join(parts[:end])] = None
    return list(paths)


def layer_name(name: str, modules: Mapping[str, nn.Module]) -> str:
    """The name of the layer's tensor that the parameter ``name`` is computed into, by the modules' paths
    (``modules``); else ``name``. torch's reparametrizations keep the layer's attribute (``head.bias``) and hand
    the optimizer a parameter of another name:

    - ``torch.nn.utils.parametrize`` (``parametrizations.spectral_norm``, ``weight_norm``, ``orthogonal``,
      ``register_parametrization``): ``head.parametrizations.bias.original``, or ``original0``/``original1``
      where it keeps several (``weight_norm``'s g and v, both standing for the tensor);
    - pruning (``torch.nn.utils.prune``, which Lightning's ``ModelPruning(make_pruning_permanent=False)`` leaves
      in place): ``head.bias_orig`` beside a ``bias_mask`` buffer; the old ``torch.nn.utils.spectral_norm``:
      ``head.bias_orig`` beside ``bias_u``/``bias_v`` buffers;
    - the old ``torch.nn.utils.weight_norm``: ``head.bias_g`` and ``head.bias_v``, ``bias`` no longer a parameter.

    Example:
        >>> head = nn.Linear(2, 2)
        >>> _ = torch.nn.utils.prune.l1_unstructured(head, "bias", amount=0.5)
        >>> _ = torch.nn.utils.parametrizations.weight_norm(head, "weight")
        >>> [layer_name(n, {"head": head}) for n in ("head.bias_orig", "head.parametrizations.weight.original0")]
        ['head.bias', 'head.weight']
        >>> layer_name("head.bias_orig", {"head": nn.Linear(2, 2)})  # no mask: a parameter so named by its author
        'head.bias_orig'
    """
    match = _PARAMETRIZED.fullmatch(name)
    if match is not None:
        path, attribute = match["path"] or "", match["attribute"]
        holder = modules.get(path)
        if holder is not None and parametrize.is_parametrized(holder, attribute):
            return f"{path}.{attribute}" if path else attribute
        return name
    path, _, leaf = name.rpartition(".")
    holder = modules.get(path)
    if holder is None:
        return name
    stem = leaf.removesuffix("_orig")
    if stem == leaf:
        stem = leaf[:-2] if leaf.endswith(("_g", "_v")) else leaf
        parameters = dict(holder.named_parameters(recurse=False))
        renamed = stem != leaf and {f"{stem}_g", f"{stem}_v"} <= parameters.keys() and stem not in parameters
    else:
        renamed = bool({f"{stem}_mask", f"{stem}_u"} & dict(holder.named_buffers(recurse=False)).keys())
    return (f"{path}.{stem}" if path else stem) if renamed else name


def _reparametrized(named: NamedParameters, selector: str) -> str | None:
    """The trainable parameters torch's reparametrizations made of the tensor ``selector`` names, as a selector
    (their name, or a glob over their names), else ``None``: the tensor is the layer's (``layer_name``), where the
    optimizer gets ``enc.parametrizations.weight.original0``/``original1`` (``torch.nn.utils.parametrize``'s
    ``weight_norm``), ``enc.weight_orig`` (pruning, the old ``spectral_norm``) or ``enc.weight_g``/``enc.weight_v``
    (the old ``weight_norm``). A selector with one of those suffixes (``enc.weight_g``) names the tensor too.

    Example:
        >>> head = nn.Linear(2, 2)
        >>> _ = torch.nn.utils.prune.l1_unstructured(head, "weight", amount=0.5)
        >>> _ = torch.nn.utils.parametrizations.weight_norm(head, "bias")
        >>> named = NamedParameters.of(nn.ModuleDict({"head": head}))
        >>> _reparametrized(named, "head.weight"), _reparametrized(named, "head.bias")
        ('head.weight_orig', 'head.parametrizations.bias.*')
    """
    path, _, leaf = selector.rpartition(".")
    stem = leaf.removesuffix("_orig")
    stem = stem[:-2] if stem == leaf and leaf.endswith(("_g", "_v")) else stem
    prefix = f"{path}." if path else ""
    tensors = {selector, f"{prefix}{stem}"}
    modules = dict(named.modules)
    found = [
        name
        for name in _names(named, named.items)
        if name.startswith(prefix) and name not in tensors and layer_name(name, modules) in tensors
    ]
    if len(found) <= 1:
        return found[0] if found else None
    first, last = min(found), max(found)  # the common prefix of the extremes is every name's
    shared = first[: next((i for i, (a, b) in enumerate(zip(first, last)) if a != b), len(first))]
    glob = shared[: max(shared.rfind("."), shared.rfind("_")) + 1] + "*"
    selected = _names(named, select_or_none(named, glob, where="", option="select"))
    return glob if set(selected) == set(found) else None


def _names(named: NamedParameters, pairs: Sequence[tuple[str, torch.nn.Parameter]]) -> list[str]:
    """The names of the parameters ``pairs``, then their tied ``aliases``."""
    aliases = [alias for _, p in pairs for alias in named.aliases.get(id(p), ())]
    return [*(name for name, _ in pairs), *aliases]


def _hint(
    named: NamedParameters,
    selector: Selector,
    among: Sequence[tuple[str, torch.nn.Parameter]] | None = None,
    trained_by: Mapping[int, str] | None = None,
) -> str:
    """The ``did you mean`` of a string selector that takes nothing: a trainable parameter's name, a submodule
    holding one, or the parameters a reparametrization made of the tensor it names (``_reparametrized``).

    With ``among`` (a param group's: its optimizer's parameters) a near miss that selects none of them is not
    suggested, since the group would be refused again: it is said to be another optimizer's (``trained_by``),
    or the nearest of ``among`` is suggested.
    """
    if not isinstance(selector, str):
        return ""
    near = _reparametrized(named, selector)
    if near is None:
        trainable = _names(named, named.items)
        near = closest(selector, [*_holding_paths(trainable), *trainable])
    if near is None:
        return ""
    if among is None or select_or_none(named, near, where="", option="select", among=among):
        return f" (did you mean `{near}`?)"
    trained_by = trained_by or {}
    theirs = select_or_none(named, near, where="", option="select")
    owners = list(dict.fromkeys(trained_by[id(p)] for _, p in theirs if id(p) in trained_by))
    if owners:
        optimizers = "optimizer " + listing(owners) if len(owners) == 1 else "optimizers " + listing(owners)
        return f" (`{near}` is trained by {optimizers})"
    own = _names(named, among)
    return did_you_mean(selector, [*_holding_paths(own), *own])


def no_match_message(
    named: NamedParameters,
    selector: Selector,
    where: str,
    option: str,
    *,
    among: Sequence[tuple[str, torch.nn.Parameter]] | None = None,
    trained_by: Mapping[int, str] | None = None,
) -> str:
    """Why ``selector`` takes nothing: the trainable parameters it missed, or the frozen ones it takes.

    ``among`` restricts the near miss and the parameters listed to one optimizer's (a param group's);
    ``trained_by`` (``id(param)`` to the attribute of the optimizer that trains it) names the optimizer of a
    near miss outside them.
    """
    frozen = _frozen_matches(named, selector, where, option)
    if frozen:
        return (
            f"{where}: `{option}={selector!r}` matches only frozen parameters (`requires_grad=False`): "
            f"{listing(frozen, limit=4)}. {_frozen_advice(where)}"
        )
    scope = (
        "this optimizer's trainable parameters" if among is not None else "the module's trainable parameters"
    )
    hint = _hint(named, selector, among, trained_by)
    candidates = named.items if among is None else among
    shown = ", ".join(name for name, _ in candidates[:8]) + (", ..." if len(candidates) > 8 else "")
    listed = "this optimizer's trainable parameters" if among is not None else "trainable parameters"
    return (
        f"{where}: `{option}={selector!r}` matches none of {scope}{hint}. "
        f"A selector is a submodule path, a parameter name, a glob over parameter names or a callable; "
        f"{listed} include: {shown or '(none)'}."
    )

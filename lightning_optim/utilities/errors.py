"""Error messages in one voice: who declared it, what was expected, what was given, and a near miss."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from lightning_optim.utilities.numeric import is_int

#: Words users write for one of this package's choices that are not spelled like it (Lightning's and other
#: libraries' vocabulary): suggested when the choice is among the candidates and no spelling is closer.
KNOWN_CONFUSIONS: dict[str, str] = {
    "batch": "step",
    "batches": "step",
    "iteration": "step",
    "iterations": "step",
    "iter": "step",
    "update": "step",
    "optimizer_step": "step",
    "global_step": "step",
    "train_epoch": "epoch",
}


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean `x`?)"`` suffix for the closest candidate (see ``closest``), or ``""`` when none is
    close.

    Example:
        >>> did_you_mean("stpe", ["step", "epoch"])
        ' (did you mean `step`?)'
        >>> did_you_mean("batch", ["step", "epoch"])
        ' (did you mean `step`?)'
        >>> did_you_mean("head", ["head", "body"])
        ''
        >>> did_you_mean("nanoGPT", ["transformers", "timm", "nanogpt"])
        ' (did you mean `nanogpt`?)'
        >>> did_you_mean("adma", ["adamax", "adam", "nadam"]), did_you_mean("adamw", ["Adam", "AdamW"])
        (' (did you mean `adam`?)', ' (did you mean `AdamW`?)')
    """
    match = closest(value, candidates)
    return f" (did you mean `{match}`?)" if match is not None else ""


def closest(value: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``value``, or ``None`` when none is close: what ``did_you_mean`` suggests.

    A candidate equal to ``value`` is never suggested; one that differs only in case is, before any other
    (``"nanoGPT"`` for ``"nanogpt"``, ``"AdamW"`` for ``"adamw"``). Otherwise the candidate fewest edits away
    wins, a swap of two neighbouring letters counting as one edit (``"adma"`` is one edit from ``adam``, two from
    ``adamax``), among those that ``difflib`` finds close or that are at most a third of ``value``'s length in
    edits away. A known synonym (``"batch"`` for ``"step"``, see ``KNOWN_CONFUSIONS``) is suggested when no
    candidate is spelled close to ``value``.

    Example:
        >>> closest("dec.bais", ["enc.bias", "dec.bias"]), closest("head", ["body"])
        ('dec.bias', None)
    """
    options = [c for c in dict.fromkeys(candidates) if c != value]
    if not isinstance(value, str):
        matches = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
        return matches[0] if matches else None
    spelled = [c for c in options if isinstance(c, str)]
    matches = [c for c in spelled if c.lower() == value.lower()][:1]
    if not matches:
        close = difflib.get_close_matches(value, spelled, n=max(1, len(spelled)), cutoff=0.6)
        edits = {c: edit_distance(value.lower(), c.lower()) for c in spelled}
        near = [*close, *(c for c in spelled if c not in close and edits[c] <= len(value) // 3)]
        matches = sorted(near, key=lambda c: edits[c])[:1]  # stable: difflib's order among equals
    if not matches:
        synonym = KNOWN_CONFUSIONS.get(value.lower())
        matches = [synonym] if synonym is not None and synonym in options else []
    return matches[0] if matches else None


#: Words that, added to an option's name or left out of it, make another kind of option: ``no_decay`` leaves the
#: decay out (``weight_decay`` for timm's ``no_weight_decay`` is its opposite), ``layer_decay`` decays the lr layer
#: by layer, ``decay_mult`` scales a decay (``weight_decay`` for ``weight_decay_mult`` is an absolute value, not a
#: factor), ``last_epoch`` is where a schedule resumes (not a number of ``epochs``).
_OTHER_KIND = ("no", "not", "layer", "mult", "last")
#: Words naming a rate (an lr, a factor of one) and words naming a length (of a schedule, in steps or epochs): a
#: name with one of each kind that the other lacks is another quantity (``T_max`` for ``eta_max``).
_RATES = ("lr", "eta", "rate", "gamma", "factor", "momentum", "decay", "mult", "scale")
_LENGTHS = ("t", "steps", "iters", "epochs", "size", "total", "milestones", "patience", "cooldown")
#: Abbreviations read as the words they stand for (``no_wd`` is ``no_decay``'s, ``decoupled_wd`` is
#: ``decoupled_weight_decay``'s).
_ABBREVIATIONS = MappingProxyType({"wd": "weight_decay"})


def same_option(value: str, candidate: str) -> bool:
    """Whether ``candidate`` may be the option ``value`` misspells: it neither puts another word in place of one of
    ``value``'s (``_``-separated; a word counts as kept when it is a few edits from one or part of the other name
    without its underscores), nor adds or leaves out a word that makes another kind of option (``_OTHER_KIND``),
    nor names a length where ``value`` names a rate or the other way round (``_RATES``, ``_LENGTHS``). Such a name
    is another option, not a misspelling: ``layer_decay`` (layer-wise lr decay) for ``weight_decay`` or ``decay``,
    ``no_decay`` for ``lr_decay`` or ``decay``, ``weight_decay`` for ``no_weight_decay`` or ``weight_decay_mult``,
    ``last_epoch`` for ``epochs``, ``T_max`` for ``eta_max``. A name that only adds another word (``step_size`` for
    ``step``) may be meant; ``wd`` reads as ``weight_decay``.

    Example:
        >>> same_option("no_decays", "no_decay"), same_option("for_each", "foreach"), same_option("step", "step_size")
        (True, True, True)
        >>> same_option("weight_decay", "layer_decay"), same_option("lr_decay", "no_decay")
        (False, False)
        >>> same_option("decay", "no_decay"), same_option("decay", "layer_decay"), same_option("lr_decay", "weight_decay")
        (False, False, False)
        >>> same_option("no_wd", "no_decay"), same_option("decoupled_wd", "decoupled_weight_decay")
        (True, True)
        >>> same_option("no_weight_decay", "weight_decay"), same_option("alfa", "alpha"), same_option("scale_func", "scale_fn")
        (False, True, True)
        >>> same_option("interval", "nesterov"), same_option("eps", "epochs"), same_option("epochs", "eps")
        (False, False, False)
        >>> same_option("weight_decay_mult", "weight_decay"), same_option("epochs", "last_epoch"), same_option("eta_max", "T_max")
        (False, False, False)
    """

    def words(name: str) -> list[str]:
        return [
            w for word in name.lower().split("_") if word for w in _ABBREVIATIONS.get(word, word).split("_")
        ]

    def kept(
        word: str, name: str
    ) -> bool:  # a word of ``name``, or it misspelt (two edits from four letters on)
        edits = max(1 if len(word) < 4 else 2, len(word) // 3)
        return word in "".join(words(name)) or any(edit_distance(word, w) <= edits for w in words(name))

    def other_quantity(one: list[str], other: list[str]) -> bool:
        rate = any(word in _RATES and word not in other for word in one)  # a rate ``other`` does not name
        return rate and any(word in _LENGTHS and word not in one for word in other)

    added = [word for word in words(candidate) if not kept(word, value)]
    dropped = [word for word in words(value) if not kept(word, candidate)]
    return (
        not (added and dropped)
        and not any(word in _OTHER_KIND for word in [*added, *dropped])
        and not other_quantity(words(value), words(candidate))
        and not other_quantity(words(candidate), words(value))
    )


#: Other libraries' names for an option, each with the option of this package or torch it means and any options
#: that must be accepted beside it for that option to be the one meant (keras' ``rho`` is RMSprop's ``alpha``, not
#: ASGD's). Their spelling is no guide: ``warmup_pct`` is spelled like ``warmup``, a warmup before OneCycleLR's
#: own, ``layer_decay_rate`` like ``layer_decay_rule``, and ``learning_rate`` like no option at all. An option
#: told with its value (``pct_start=<...>``) says how that value is made from the one given.
OPTION_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "learning_rate": ("lr",),  # keras' and transformers'
        "lr_scale": ("lr_mult",),  # timm's param groups
        "weight_decay_mult": ("decay_mult",),  # a factor of the decay, as mmengine's decay_mult
        "layer_decay_rate": ("layer_decay",),  # mmseg's LayerDecayOptimizerConstructor
        "min_scale": ("layer_decay_min_scale",),  # timm's param_groups_layer_decay
        "min_lr": ("eta_min",),  # timm's and mmengine's cosine
        "lr_min": ("eta_min",),  # timm's CosineLRScheduler
        "warmup_pct": ("pct_start",),
        "warmup_ratio": ("pct_start",),  # transformers' TrainingArguments
        # a count of OneCycleLR's rising phase: its `pct_start` is that phase's fraction of the cycle (`warmup`
        # trains a warmup of its own before the cycle)
        "warmup_steps": ("pct_start=<warmup_steps / total_steps>",),
        "warmup_epochs": ("pct_start=<warmup_epochs / epochs>",),
        "warmup_iters": ("pct_start=<warmup_iters / total_steps>",),  # mmengine's and detectron2's
        "warmup_t": ("pct_start=<warmup_t / total_steps>",),  # timm's
        "rho": ("alpha", "centered"),  # keras' RMSprop
        "skip_nan": ("skip_nonfinite",),
        "skip_nans": ("skip_nonfinite",),
    }
)


def option_meant(value: str, candidates: Iterable[str]) -> str:
    """``did_you_mean`` for an option's name: the option its ``OPTION_SYNONYMS`` entry means where the
    ``candidates`` hold it, else the closest of the ``candidates`` that may be what it misspells (``same_option``).

    Example:
        >>> option_meant("weight_decay", ["lr", "layer_decay"]), option_meant("no_decays", ["no_decay"])
        ('', ' (did you mean `no_decay`?)')
        >>> option_meant("warmup_pct", ["pct_start", "warmup"]), option_meant("warmup_pct", ["warmup"])
        (' (did you mean `pct_start`?)', ' (did you mean `warmup`?)')
        >>> option_meant("rho", ["alpha", "centered"]), option_meant("rho", ["alpha", "lambd"])
        (' (did you mean `alpha`?)', '')
        >>> option_meant("warmup_steps", ["pct_start", "warmup"]), option_meant("warmup_steps", ["warmup"])
        (' (did you mean `pct_start=<warmup_steps / total_steps>`?)', ' (did you mean `warmup`?)')
    """
    candidates = list(candidates)
    synonym = OPTION_SYNONYMS.get(value, ())
    if synonym and all(option.split("=")[0] in candidates for option in synonym):
        return f" (did you mean `{synonym[0]}`?)"
    return did_you_mean(value, [c for c in candidates if not isinstance(c, str) or same_option(value, c)])


def near_miss(given: Iterable[str], key: str) -> str:
    """A "did you mean" for the first of the ``given`` keys close to the missing ``key``, naming that key.

    Example:
        >>> near_miss({"selct": "head", "lr": 0.5}, "select")
        ' (`selct`: did you mean `select`?)'
        >>> near_miss(["lr"], "select")
        ''
    """
    for name in given:
        hint = did_you_mean(str(name), [key])
        if hint:
            return f" (`{name}`: {hint.removeprefix(' (')}"
    return ""


def edit_distance(a: str, b: str) -> int:
    """The fewest insertions, deletions, substitutions and swaps of two neighbouring characters turning ``a``
    into ``b`` (the optimal string alignment distance).

    Example:
        >>> edit_distance("adma", "adam"), edit_distance("adma", "adamax"), edit_distance("lenght", "length")
        (1, 2, 1)
    """
    previous, current = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, current = previous, current, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if before is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
    return current[len(b)]


def listing(names: Iterable[str], limit: int | None = None) -> str:
    """``a, b, c`` with each name in backticks, in the given order; past ``limit`` names, the count of the others.

    Example:
        >>> listing(["a", "b"]), listing(["p0", "p1", "p2"], limit=2)
        ('`a`, `b`', '`p0`, `p1` and 1 more')
    """
    names = list(names)
    more = 0 if limit is None else max(0, len(names) - limit)
    shown = ", ".join(f"`{name}`" for name in names[: len(names) - more])
    return shown + (f" and {more} more" if more else "")


def missing_extra(user: str, package: str, extra: str) -> ModuleNotFoundError:
    """The error for an optional package that is not installed: who needs it and the extra that installs it.

    Example:
        >>> missing_extra("`plot_schedule`", "matplotlib", "plot")
        ModuleNotFoundError('`plot_schedule` needs matplotlib; install it with `pip install lightning-optim[plot]`.')
    """
    return ModuleNotFoundError(
        f"{user} needs {package}; install it with `pip install lightning-optim[{extra}]`.", name=package
    )


def check_choice(where: str, option: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise a ``ValueError`` naming ``where`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ValueError(
            f"{where}: Expected `{option}` to be one of {listing(choices)} but got {value!r}{hint}."
        )


def check_count(where: str, name: str, value: Any, *, unlimited: tuple[Any, str] | None = None) -> None:
    """Raise unless ``value`` is an int >= 1 or the value ``unlimited`` gives with its meaning: a ``ValueError``
    for an int out of range, a ``TypeError`` for anything else.

    Example:
        >>> check_count("f", "max_names", 0, unlimited=(None, "None (all of them)"))
        Traceback (most recent call last):
        ...
        ValueError: f: Expected `max_names` to be an int >= 1 or None (all of them) but got 0.
        >>> check_count("f", "max_epochs", -1, unlimited=(-1, "-1 (no limit)"))
    """
    integer = is_int(value)
    if integer and value >= 1:
        return
    if unlimited is not None and type(value) is type(unlimited[0]) and value == unlimited[0]:
        return
    accepted = "an int >= 1" + (f" or {unlimited[1]}" if unlimited is not None else "")
    raise (ValueError if integer else TypeError)(
        f"{where}: Expected `{name}` to be {accepted} but got {value!r}."
    )


def check_keywords(where: str, given: Iterable[str], accepted: Iterable[str]) -> None:
    """Raise a ``TypeError`` for the first keyword of ``given`` that is not ``accepted``, naming them all.

    Example:
        >>> check_keywords("register_scheduler", ["lenght"], ["length", "default_interval"])
        Traceback (most recent call last):
        ...
        TypeError: register_scheduler: Expected keywords among `length`, `default_interval` but got `lenght` (did you mean `length`?).
    """
    accepted = list(accepted)
    for key in given:
        if key not in accepted:
            raise TypeError(
                f"{where}: Expected keywords among {listing(accepted)} but got `{key}`{did_you_mean(key, accepted)}."
            )


@contextmanager
def prefixed(where: str) -> Iterator[None]:
    """Re-raise a ``TypeError`` or ``ValueError`` with ``where: `` in front of its message."""
    try:
        yield
    except (TypeError, ValueError) as err:
        raise type(err)(f"{where}: {err}") from None


@contextmanager
def torch_rejects(where: str, cls: type) -> Iterator[None]:
    """Re-raise what torch raises while building ``cls`` as this package's error naming the declaration; an error
    that already names it (an inner ``torch_rejects``) passes unchanged.

    Example:
        >>> with torch_rejects("M.opt", dict), torch_rejects("M.opt", dict):
        ...     raise ValueError("bad")
        Traceback (most recent call last):
        ...
        ValueError: M.opt: `dict` rejected the declared options: bad
    """
    try:
        yield
    except Exception as err:
        if str(err).startswith(f"{where}: "):  # this package's own, or an inner `torch_rejects`
            raise
        error = TypeError if isinstance(err, TypeError) else ValueError
        raise error(f"{where}: `{cls.__name__}` rejected the declared options: {err}") from err


def user_class(module: object) -> type:
    """The class the user wrote of ``module``, the one messages name: torch's ``fully_shard`` (FSDP2) and
    ``replicate`` swap a module's class for a generated subclass, ``FSDP<Name>(FSDPModule, <Name>)``, whose name
    the user never wrote.

    Example:
        >>> class Net: ...
        >>> user_class(Net()).__qualname__
        'Net'
    """
    cls = type(module)
    while (
        len(cls.__bases__) == 2
        and cls.__bases__[0].__module__.startswith("torch.distributed.")
        and cls.__name__.endswith(cls.__bases__[1].__name__)
    ):
        cls = cls.__bases__[1]
    return cls

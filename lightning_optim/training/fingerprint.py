"""What a checkpoint remembers of the declarations that produced it, and how a changed setup is told.

The fingerprint holds, per optimizer: its attribute, class and options; its groups (name, options, scales,
parameter count, element count and a digest of the parameter names); its scheduler (class, arguments,
interval, frequency, monitor, warmup, unit, window, param; a composite's schedulers each as such a record of
its own), or a list of those for a declared list. What a
schedule derived from the run is in its own state (its ``Shape``), and the run it resumes into is checked
against it when training starts (``lifecycle.py``). A length left to the run and the same length written out
at the value it came to are one schedule, either way round: the arguments are compared as declared now, with
the saved schedule's shape made the one it has so (``lengths_as_declared``); a required length written as
``None`` is one left out, also in a checkpoint of an earlier release, which recorded it
(``_none_lengths_left_out``). A composite's record that an
earlier release wrote, its schedulers in its arguments by their repr, is read as that record
(``_previous_composite``).

An optimizer declared under another attribute is the checkpoint's when its class, options and groups are, one
to one (``renames``): its records in the checkpoint are written under its name now (``record_renamed``), so
``"continue"`` keeps its state and ``positions.Positions`` its place, and the refusal says it looks renamed.

A checkpoint without a fingerprint (written without the mixin) is checked for its structure and for what its
optimizer states tell (``hand_written.py``).

A checkpoint holding no optimizer or scheduler state (``holds_no_state``: a weights-only one, or one saved outside
``fit``), with or without a fingerprint, is no changed setup. One saved outside ``fit`` (``trainer.save_checkpoint``
after ``validate``, empty states) before its fit loop began has nothing to misplace and no position to go on
from: it is resumed as a new run from its weights, as Lightning resumes it for a hand-written module. Otherwise
``"error"`` refuses it as holding no state to resume (Lightning itself refuses a weights-only one; a fit that had
begun had optimizer state), and ``"fresh"``/``"continue"`` go on from its step as from any other setup they
rewrite.
"""

from __future__ import annotations

import copy
import hashlib
import io
import re
import tokenize
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from lightning_optim.building.build import Built
from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.declaring.specs import TRAJECTORY_NEUTRAL_OPTIONS, SchedulerSpec, spec_options
from lightning_optim.groups.plan import GroupPlan

CHECKPOINT_KEY = "lightning_optim"
#: where each optimizer stands (``positions.Positions``), apart from the fingerprint; here because a renamed
#: optimizer's record is written under its name now along with its fingerprint (``record_renamed``)
POSITIONS_KEY = "lightning_optim_positions"
FINGERPRINT_VERSION = 2

#: Marks a schedule whose length the checkpoint's declaration gave and the declaration now leaves to the run:
#: the run must derive the value it was given, also where the run is the checkpoint's
#: (``lengths_as_declared``).
GIVEN_LENGTH = "_lightning_optim_given_length"

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def stable_repr(value: Any) -> str:
    """A ``repr`` that is the same in every process: functions by qualified name, no memory addresses.

    Example:
        >>> stable_repr(stable_repr)
        'lightning_optim.training.fingerprint.stable_repr'
        >>> stable_repr([1, 0.5, "a"])
        "[1, 0.5, 'a']"
    """
    if callable(value) and hasattr(value, "__qualname__") and hasattr(value, "__module__"):
        return f"{value.__module__}.{value.__qualname__}"
    return _ADDRESS.sub("", repr(value))


def _plain(value: Any) -> Any:
    """Strings, ints and ``None`` as they are (JSON-compatible); anything else by ``stable_repr``."""
    return value if value is None or isinstance(value, (str, int)) else stable_repr(value)


def _options(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={stable_repr(value)}" for key, value in sorted(options.items()))


#: Options recorded only when not at these defaults, so that the fingerprints of schedulers without them stay
#: as they were.
_RECORDED_WHEN_SET: Mapping[str, Any] = MappingProxyType({"begin": None, "end": None, "param": "lr"})


def _scheduler(scheduler: ResolvedScheduler) -> dict[str, Any]:
    """The record of a resolved scheduler; a composite's schedulers each as a record of their own, not by their
    repr, which holds what the package knows of their class (``SchedulerInfo``, with sets whose order changes
    with the process's hash seed)."""
    spec = scheduler.spec
    resolved = {"interval": scheduler.interval, "unit": scheduler.unit}
    inner = scheduler.kwargs["schedulers"] if scheduler.info.composite else ()
    return {
        "class": stable_repr(scheduler.cls),
        "arguments": _options(
            {k: v for k, v in scheduler.kwargs.items() if not (inner and k == "schedulers")}
        ),
        **{
            option: _plain(resolved.get(option, getattr(spec, option)))
            for option in spec_options(SchedulerSpec)
            if option not in TRAJECTORY_NEUTRAL_OPTIONS
            and not (option in _RECORDED_WHEN_SET and getattr(spec, option) == _RECORDED_WHEN_SET[option])
        },
        **({"schedulers": [_scheduler(s) for s in inner]} if inner else {}),
    }


def group_fingerprint(group: GroupPlan) -> dict[str, Any]:
    return {
        "name": group.name,
        "options": _options(group.options),
        "parameters": len(group.parameters),
        "elements": sum(p.numel() for _, p in group.parameters),
        "parameter names (digest)": hashlib.sha1(
            "\n".join(n for n, _ in group.parameters).encode(), usedforsecurity=False
        ).hexdigest()[:12],
        # recipe and lr_mult/decay_mult factors of the built group's options (absent when none)
        **({"scales": _options(group.scales)} if group.scales else {}),
    }


def fingerprint(built: Sequence[Built]) -> dict[str, Any]:
    """The fingerprint of the built optimizers and schedulers (JSON-compatible, stable across processes)."""
    optimizers = [
        {
            "attribute": b.declared.attribute,
            "class": stable_repr(b.declared.cls),
            "options": _options(b.declared.kwargs),
            "groups": [group_fingerprint(g) for g in b.groups],
            # recorded only when set, so that fingerprints without it stay as they were
            **({"every": b.declared.spec.every} if b.declared.spec.every != 1 else {}),
            # one declared scheduler (or none), or a declared list
            **(
                {"schedulers": [_scheduler(s) for s in b.declared.schedulers]}
                if b.declared.listed
                else {"scheduler": next(map(_scheduler, b.declared.schedulers), None)}
            ),
        }
        for b in built
    ]
    return {"version": FINGERPRINT_VERSION, "optimizers": optimizers}


def _flatten(
    value: Any, path: str, into: dict[str, Any], at: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """``value``'s entries by path into ``into``; an optimizer named in ``at`` at the position given there."""
    if isinstance(value, Mapping):
        if path:
            into[path] = "declared"
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), into, at)
    elif isinstance(value, (list, tuple)) and path.endswith(("groups", "optimizers", "schedulers")):
        into[f"{path} (count)"] = len(value)
        for index, item in enumerate(value):
            name = item.get("attribute") if isinstance(item, Mapping) else None  # groups: by position
            position = (
                (at or {}).get(name, index) if path == "optimizers" and isinstance(name, str) else index
            )
            _flatten(item, f"{path}[{position}{' ' + repr(name) if name else ''}]", into)
    else:
        into[path] = value
    return into


def differences(
    saved: Mapping[str, Any], current: Mapping[str, Any], renamed: Mapping[str, str] | None = None
) -> list[str]:
    """What changed between two fingerprints, one readable line per changed entry; ``renamed``: the optimizers
    ``renames`` found, ``{attribute now: attribute in the checkpoint}``.

    Example:
        >>> a = {"optimizers": [{"attribute": "optimizer", "options": "lr=0.1"}]}
        >>> b = {"optimizers": [{"attribute": "optimizer", "options": "lr=0.2"}]}
        >>> differences(a, b)
        ["optimizers[0 'optimizer'].options: 'lr=0.1' in the checkpoint, 'lr=0.2' now"]

        An optimizer declared in both is compared with its namesake wherever it stands; the same optimizers in
        another order (Lightning restores their states by position) are one line:

        >>> swapped = {"optimizers": [{"attribute": "gen"}, {"attribute": "dis"}]}
        >>> differences(swapped, {"optimizers": [{"attribute": "dis"}, {"attribute": "gen"}]})
        ["optimizers (order): ['gen', 'dis'] in the checkpoint, ['dis', 'gen'] now"]
        >>> differences(swapped, {"optimizers": [{"attribute": "dis"}, {"attribute": "g"}]}, {"g": "gen"})[0]
        "optimizers (order): ['gen', 'dis'] in the checkpoint, ['dis', 'g'] now"
        >>> for line in differences({"optimizers": [{"attribute": "a"}, *swapped["optimizers"]]}, swapped):
        ...     print(line)
        optimizers (count): 3 in the checkpoint, 2 now
        optimizers[0 'a']: 'declared' in the checkpoint, absent now
    """
    lines = []
    order = optimizer_attributes(saved), optimizer_attributes(current)
    at: dict[str, int] = {}
    if all(len(set(names)) == len(names) for names in order):  # named optimizers
        # the attributes now as the checkpoint's, renamed ones by their name there
        in_checkpoint = [(renamed or {}).get(a, a) for a in order[1]]
        kept = [a for a in order[0] if a in in_checkpoint]
        if kept != [a for a in in_checkpoint if a in order[0]]:
            lines.append(f"optimizers (order): {order[0]} in the checkpoint, {order[1]} now")
        at = {a: order[1].index(a) for a in order[0] if a in order[1]}
    old, new = _flatten(saved, "", {}, at), _flatten(current, "", {})
    missing = object()
    changed = [
        k
        for k in [*old, *(k for k in new if k not in old)]
        if _alike(old.get(k, missing)) != _alike(new.get(k, missing))
    ]
    for key in changed:
        if any(key.startswith((other + ".", other + "[")) for other in changed if other != key):
            continue  # inside an entry that changed as a whole (a scheduler added or removed)
        before, after = (
            "absent" if v is missing else repr(v) for v in (old.get(key, missing), new.get(key, missing))
        )
        lines.append(f"{key}: {before} in the checkpoint, {after} now")
    return lines


def optimizer_attributes(fingerprint: Mapping[str, Any]) -> list[str]:
    """The attribute names of a fingerprint's optimizers, in their order."""
    optimizers = fingerprint.get("optimizers")  # a structure-only fingerprint counts them
    return (
        [str(o.get("attribute")) for o in optimizers if isinstance(o, Mapping)]
        if isinstance(optimizers, list)
        else []
    )


def _alike(value: Any) -> Any:
    """A fingerprint's entry with its tuples written as lists, the rest as it is.

    The same values read back from a config (``DeclarativeCLI``, ``with_declarations`` of a dict: lists) and
    declared in code (often tuples) are one setup, and checkpoints keep the repr they were written with (either),
    so the two spellings are made alike when compared: ``betas=(0.9, 0.95)`` as ``betas=[0.9, 0.95]``,
    ``(1,)`` as ``[1]``. Quoted strings are left alone.

    Example:
        >>> _alike("betas=(0.9, 0.95), milestones=(1,), name='(a)'") == _alike("betas=[0.9, 0.95], milestones=[1], name='(a)'")
        True
    """
    if not isinstance(value, str) or not any(bracket in value for bracket in "()[]"):
        return value
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(value).readline) if t.string]
    except (tokenize.TokenError, SyntaxError):
        return value
    spelled: list[str] = []
    for token in tokens:
        text = (
            {"(": "[", ")": "]"}.get(token.string, token.string)
            if token.type == tokenize.OP
            else token.string
        )
        if text == "]" and spelled and spelled[-1] == ",":
            spelled.pop()  # a one-element tuple's comma
        spelled.append(text)
    return " ".join(spelled)


def alike_values(a: Any, b: Any) -> bool:
    return bool(_alike(stable_repr(a)) == _alike(stable_repr(b)))


#: What makes a fingerprint's optimizer the same one under another attribute: its class, options and groups.
_IDENTITY = ("class", "options")
_GROUP_IDENTITY = ("name", "parameters", "elements", "parameter names (digest)")


def _identity(optimizer: Mapping[str, Any]) -> Any:
    groups = optimizer.get("groups")
    return (
        *(_alike(optimizer.get(key)) for key in _IDENTITY),
        tuple(tuple(g.get(key) for key in _GROUP_IDENTITY) for g in groups if isinstance(g, Mapping))
        if isinstance(groups, list)
        else None,
    )


def renames(
    saved: Mapping[str, Any], current: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The optimizers of ``current`` whose attribute ``saved`` lacks that are, one to one, an optimizer of ``saved``
    whose attribute ``current`` lacks, with the same class, options and groups (names, parameter and element
    counts, the digest of the parameter names): renamed, ``{attribute now: attribute in the checkpoint}``; and
    those alike several (or one alike with another): not guessed, ``{attribute now: those it is alike}``.

    Example:
        >>> adam = {"class": "Adam", "options": "lr=0.1", "groups": [{"name": None, "parameters": 2}]}
        >>> saved = {"optimizers": [{"attribute": "gen_opt", **adam}, {"attribute": "dis_opt", **adam, "class": "SGD"}]}
        >>> now = {"optimizers": [{"attribute": "generator_opt", **adam}, {"attribute": "dis_opt", **adam}]}
        >>> renames(saved, now)
        ({'generator_opt': 'gen_opt'}, {})
        >>> twins = {"optimizers": [{"attribute": "a", **adam}, {"attribute": "b", **adam}, saved["optimizers"][1]]}
        >>> renames(twins, now)
        ({}, {'generator_opt': ['a', 'b']})
    """
    old, new = (
        {str(o.get("attribute")): o for o in f.get("optimizers", ()) if isinstance(o, Mapping)}
        for f in (saved, current)
    )
    alike = {
        attribute: [a for a, o in old.items() if a not in new and _identity(o) == _identity(optimizer)]
        for attribute, optimizer in new.items()
        if attribute not in old
    }
    taken = [a for candidates in alike.values() for a in candidates]
    one_to_one = {a: c[0] for a, c in alike.items() if len(c) == 1 and taken.count(c[0]) == 1}
    return one_to_one, {a: c for a, c in alike.items() if c and a not in one_to_one}


def rename_hints(
    renamed: Mapping[str, str], ambiguous: Mapping[str, list[str]], now: Sequence[str]
) -> list[str]:
    """One line for each optimizer ``renames`` found (``now``: the attributes in their order now).

    Example:
        >>> for line in rename_hints({"opt": "optimizer"}, {"g": ["a", "b"]}, ["g", "opt"]):
        ...     print(line)
        optimizers[0 'g']: alike 'a' and 'b' of the checkpoint (the same class, options and param groups), not one to one: taken for no rename (`resume_changed_setup = 'continue'` starts it afresh)
        optimizers[1 'opt']: 'optimizer' of the checkpoint renamed? (the same class, options and param groups; `resume_changed_setup = 'continue'` keeps its optimizer state and where it stands)
    """
    same = "the same class, options and param groups"
    return [
        f"optimizers[{now.index(a)} {a!r}]: {renamed[a]!r} of the checkpoint renamed? ({same}; "
        "`resume_changed_setup = 'continue'` keeps its optimizer state and where it stands)"
        if a in renamed
        else f"optimizers[{now.index(a)} {a!r}]: alike {' and '.join(map(repr, ambiguous[a]))} of the checkpoint "
        f"({same}), not one to one: taken for no rename (`resume_changed_setup = 'continue'` starts it afresh)"
        for a in now
        if a in renamed or a in ambiguous
    ]


def record_renamed(checkpoint: dict[str, Any], renamed: Mapping[str, str]) -> Mapping[str, Any]:
    """Write the checkpoint's records of the ``renamed`` optimizers (``renames``) under their attributes now: its
    fingerprint, which ``"continue"`` keeps their state by (``takeover.kept_state``), and where they stand
    (``POSITIONS_KEY``, ``positions.Positions``); the fingerprint."""
    back = {old: new for new, old in renamed.items()}
    saved = checkpoint[CHECKPOINT_KEY]
    optimizers = [
        {**o, "attribute": back.get(o.get("attribute"), o.get("attribute"))} for o in saved["optimizers"]
    ]
    checkpoint[CHECKPOINT_KEY] = {**saved, "optimizers": optimizers}
    positions = checkpoint.get(POSITIONS_KEY)
    if isinstance(positions, Mapping):
        checkpoint[POSITIONS_KEY] = {back.get(key, key): entry for key, entry in positions.items()}
    return checkpoint[CHECKPOINT_KEY]


#: A checkpoint's schedule that is not one declared now but for where its length comes from.
_OTHER = object()


def _length_as_declared(scheduler: ResolvedScheduler, arguments: Any, state: Mapping[str, Any]) -> Any:
    """The length a checkpoint's schedule (its ``state``, declared with ``arguments``) has as ``scheduler`` now
    declares it, where its declaration is ``scheduler``'s but for that length, left to the run on one side and
    written out on the other at the value it came to: ``None`` when it is written out now (the derived one
    was that), the value written out when it is left to the run now; ``_OTHER`` for any other declaration."""
    shape = state.get("shape")
    if not isinstance(shape, Mapping):
        return _OTHER
    name = scheduler.derived_length
    if name is None:  # written out now: the checkpoint's was derived, at this value
        info = scheduler.info
        for key in dict.fromkeys(k for k in (info.length, info.window_length, info.per_epoch_argument) if k):
            rest = {k: v for k, v in scheduler.kwargs.items() if k != key}
            if (
                key in scheduler.kwargs
                and _alike(_options(rest)) == _alike(arguments)
                and shape.get("length") is not None
                and alike_values(scheduler.kwargs[key], shape["length"])
            ):
                return None
        return _OTHER
    # left to the run now: the checkpoint's was written out, at the value its torch scheduler holds
    value = (state.get("inner") or {}).get(name)
    if (
        shape.get("length") is None
        and value is not None
        and _alike(_options({**scheduler.kwargs, name: value})) == _alike(arguments)
    ):
        return value
    return _OTHER


def saved_schedules(entries: Sequence[Mapping[str, Any]], index: int, states: Sequence[Any]) -> list[Any]:
    """The saved states of the schedules the checkpoint's optimizer ``index`` declared, each with its
    fingerprint."""
    declared = [
        e["schedulers"] if "schedulers" in e else [e["scheduler"]] if e["scheduler"] else [] for e in entries
    ]
    offset = sum(len(records) for records in declared[:index])
    return list(zip(declared[index], states[offset:]))


def lengths_as_declared(
    saved: Mapping[str, Any], checkpoint: dict[str, Any], built: Sequence[Built]
) -> Mapping[str, Any]:
    """The fingerprint ``saved`` with the arguments of each scheduler whose length was left to the run and is now
    written out at the value it came to, or the other way round, as declared now: one schedule, not a changed
    setup. The checkpoint's state of such a schedule gets the shape it has as declared now (its length derived
    or not, ``_length_as_declared``); a length it was given and that is now left to the run is marked
    (``GIVEN_LENGTH``): the run must derive it when training starts (``lifecycle.py``). A length left to the run
    that the declaration now writes out at another value (or where it now leaves another length to the run) is
    written into the arguments at the value it came to, so that the refusal tells it (``_told_derived``). A
    required length that an earlier release recorded as ``None`` is read as left out (``_none_lengths_left_out``). A
    composite's record of the same schedulers that an earlier release wrote is read as the record now
    (``_previous_composite``)."""
    entries = copy.deepcopy(saved.get("optimizers"))
    states = checkpoint.get("lr_schedulers", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) and "attribute" in e for e in entries):
        return saved
    for b in built:
        index = next((i for i, e in enumerate(entries) if e["attribute"] == b.declared.attribute), None)
        if index is None:
            continue
        for (record, state), scheduler in zip(saved_schedules(entries, index, states), b.declared.schedulers):
            now = _scheduler(scheduler)
            if (
                not isinstance(record, dict)
                or not isinstance(state, dict)
                or record.get("class") != now["class"]
            ):
                continue
            if _previous_composite(record, scheduler):
                record.update(arguments=now["arguments"], schedulers=now["schedulers"])
            if "arguments" in record:
                record["arguments"] = _none_lengths_left_out(record, scheduler)
            if _alike(record.get("arguments")) == _alike(now["arguments"]):
                continue
            length = _length_as_declared(scheduler, record.get("arguments"), state)
            if length is _OTHER:
                record["arguments"] = _told_derived(record, state, scheduler)
                continue
            record["arguments"] = now["arguments"]
            state["shape"] = {**state["shape"], "length": length}
            if length is not None:
                state[GIVEN_LENGTH] = True
    return {**saved, "optimizers": entries}


def _previous_composite(record: Mapping[str, Any], scheduler: ResolvedScheduler) -> bool:
    """Whether a checkpoint's ``record`` of a composite scheduler is of ``scheduler`` as the release before (up to
    commit c7d5c7d) recorded it: its inner schedulers in its arguments by the repr of their resolved schedulers,
    not each in a record of its own (``_scheduler``). Their sets are compared sorted (``_sets_sorted``), so such a
    checkpoint resumes in any process, as long as what the package knows of their classes is as it was."""
    arguments = record.get("arguments")
    return (
        scheduler.info.composite
        and "schedulers" not in record
        and isinstance(arguments, str)
        and _alike(_sets_sorted(arguments)) == _alike(_sets_sorted(_options(scheduler.kwargs)))
    )


_SET = re.compile(r"frozenset\(\{([^{}]*)\}\)")


def _sets_sorted(text: str) -> str:
    """``text`` with the elements of each ``frozenset`` written in it sorted: a set's repr has them in an order
    that changes with the process's hash seed.

    Example:
        >>> _sets_sorted("a=frozenset({'max_lr', 'base_lr'}), b=frozenset()")
        "a=frozenset({'base_lr', 'max_lr'}), b=frozenset()"
    """
    return _SET.sub(lambda m: f"frozenset({{{', '.join(sorted(_entries(m[1])))}}})", text)


def _told_derived(record: Mapping[str, Any], state: Mapping[str, Any], scheduler: ResolvedScheduler) -> Any:
    """The arguments of a checkpoint's schedule (its fingerprint ``record`` and ``state``, of ``scheduler``'s
    class) with the length its declaration left to the run at the value it came to, marked so, where
    ``scheduler`` does not leave that length to the run: what the checkpoint trained with, not an argument
    missing from it. Other arguments, and one length left to the run on both sides, as recorded."""
    arguments, shape = record.get("arguments"), state.get("shape")
    value = shape.get("length") if isinstance(shape, Mapping) else None
    if not isinstance(arguments, str) or value is None:
        return arguments
    entries = _entries(arguments)
    name = scheduler.info.derived_length(_recorded(arguments), windowed=_windowed(record))
    if name is None or name == scheduler.derived_length:
        return arguments
    told = [*entries, f"{name}={value!r} (derived from the run)"]
    return ", ".join(sorted(told, key=lambda entry: entry.partition("=")[0]))


def _windowed(record: Mapping[str, Any]) -> bool:
    return any(option in record for option in ("begin", "end"))  # recorded only when set


def _recorded(arguments: str) -> dict[str, Any]:
    """A fingerprint's arguments (``_options``) by name, each as its recorded text, or ``None`` where that is
    ``None``.

    Example:
        >>> _recorded("epochs=None, max_lr=0.1")
        {'epochs': None, 'max_lr': '0.1'}
    """
    parts = (entry.partition("=") for entry in _entries(arguments))
    return {key: None if value == "None" else value for key, _, value in parts}


def _none_lengths_left_out(record: Mapping[str, Any], scheduler: ResolvedScheduler) -> Any:
    """A checkpoint's scheduler ``record``'s arguments without a required length, or what describes it, recorded
    as ``None``, which a declaration now leaves out (``SchedulerInfo.declared_lengths``) and the fingerprint
    records so: an earlier release recorded ``OneCycleLR(total_steps=12, epochs=None, steps_per_epoch=None)``
    with its ``None``s, and such a checkpoint resumes as the same setup.

    Example:
        >>> from lightning_optim import SchedulerSpec
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> onecycle = resolve_scheduler("M.opt.scheduler", SchedulerSpec("onecycle", max_lr=0.1, total_steps=12))
        >>> _none_lengths_left_out({"arguments": "epochs=None, max_lr=0.1, steps_per_epoch=None, total_steps=12"}, onecycle)
        'max_lr=0.1, total_steps=12'
    """
    arguments = record.get("arguments")
    if not isinstance(arguments, str):
        return arguments
    kept = scheduler.info.declared_lengths(_recorded(arguments), windowed=_windowed(record))
    return ", ".join(entry for entry in _entries(arguments) if entry.partition("=")[0] in kept)


def _entries(arguments: str) -> list[str]:
    """The ``key=value`` entries of a fingerprint's arguments (``_options``), split at the commas between them.

    Example:
        >>> _entries("milestones=[1, 2], name='a, b', gamma=0.5")
        ['milestones=[1, 2]', "name='a, b'", 'gamma=0.5']
        >>> _entries("")
        []
    """
    entries, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(arguments):
        if quote:
            quote = "" if char == quote and arguments[index - 1] != "\\" else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and arguments.startswith(", ", index):
            entries.append(arguments[start:index])
            start = index + 2
    return [*entries, arguments[start:]] if arguments else []


#: An ``HParam`` the declarations read whose value differs from the checkpoint's ``hyper_parameters``: its name,
#: where it stands (``optimizer.lr``), its value in the checkpoint and now
ChangedHParam = tuple[str, Sequence[str], Any, Any]


def _hparam_lines(owner: str, hparams: Sequence[ChangedHParam]) -> tuple[list[str], str]:
    """The lines naming each changed hyperparameter, and the fix that resumes the run with the checkpoint's values.

    Example:
        >>> lines, fix = _hparam_lines("Model", [("lr", ["optimizer.lr"], 0.0015, 0.1)])
        >>> print(lines[0])
        hparam `lr` (`optimizer.lr`): 0.0015 in the checkpoint (its `hyper_parameters`), 0.1 now; `fit(ckpt_path=...)` restores no hyperparameters
        >>> print(fix)
        Build the module with the checkpoint's hyperparameters, `Model(lr=0.0015)`, or `Model.load_from_checkpoint(path)` to resume the run, or
    """
    if not hparams:
        return [], ""
    lines = [
        f"hparam `{name}` ({', '.join(f'`{path}`' for path in paths)}): {saved!r} in the checkpoint (its "
        f"`hyper_parameters`), {now!r} now; `fit(ckpt_path=...)` restores no hyperparameters"
        for name, paths, saved, now in hparams
    ]
    arguments = ", ".join(f"{name}={saved!r}" for name, _, saved, _ in hparams)
    fix = (
        f"Build the module with the checkpoint's hyperparameters, `{owner}({arguments})`, or "
        f"`{owner}.load_from_checkpoint(path)` to resume the run, or"
    )
    return lines, fix


def refusal(owner: str, changes: Sequence[str], hparams: Sequence[ChangedHParam] = ()) -> ValueError:
    """The error refusing to resume a checkpoint of a changed setup, naming what changed; a value the declarations
    read from a hyperparameter that differs from the checkpoint's (``hparams``) is named with the fix that resumes
    the run."""
    hparam_lines, hparam_fix = _hparam_lines(owner, hparams)
    shown = [
        *changes[:12],
        *([f"... and {len(changes) - 12} more"] if len(changes) > 12 else []),
        *hparam_lines,
    ]
    resume = f"{hparam_fix} resume" if hparam_fix else "Resume"
    return ValueError(
        f"{owner}: Expected the checkpoint being resumed to come from the same optimizer and scheduler "
        "declarations, in a run of the same shape (the Trainer settings a derived length or the steps per epoch "
        "come from), but got a changed setup; Lightning would restore the saved states by position into the "
        "new ones. Changed:\n  " + "\n  ".join(shown) + f"\n{resume} with the original declarations and "
        "Trainer settings, or set `resume_changed_setup = 'fresh'` on the class to keep the weights and the "
        "loop's progress but start every optimizer and schedule afresh, or `resume_changed_setup = 'continue'` "
        "to also keep the optimizer state of unchanged groups and evaluate the new schedules at the resumed step."
    )


def holds_no_state(checkpoint: Mapping[str, Any]) -> bool:
    """Whether ``checkpoint`` holds no optimizer or scheduler state: a weights-only one (no ``optimizer_states``,
    Lightning's own test for ``save_weights_only=True``), or one saved outside ``fit`` (``trainer.save_checkpoint``
    after ``validate``: empty ``optimizer_states`` and ``lr_schedulers``).

    Example:
        >>> holds_no_state({}), holds_no_state({"optimizer_states": [], "lr_schedulers": []})
        (True, True)
        >>> holds_no_state({"optimizer_states": [{"state": {}, "param_groups": []}], "lr_schedulers": []})
        False
    """
    return not checkpoint.get("optimizer_states") and not checkpoint.get("lr_schedulers")


def weights_only_refusal(owner: str, checkpoint: Mapping[str, Any]) -> ValueError:
    """The error refusing to resume a checkpoint that holds no optimizer or scheduler state (``holds_no_state``),
    which is no changed setup."""
    kind = (
        "weights-only checkpoint (`ModelCheckpoint(save_weights_only=True)` or "
        "`trainer.save_checkpoint(path, weights_only=True)`)"
        if "optimizer_states" not in checkpoint
        else "checkpoint with empty `optimizer_states` and `lr_schedulers` (saved outside `fit`, or with the states "
        "taken out) of a fit that had begun"
    )
    return ValueError(
        f"{owner}: Expected a checkpoint holding the optimizer and scheduler states to resume from but got a {kind}: "
        "it holds the weights and the loop's progress "
        f"(global step {checkpoint.get('global_step', '?')}), no optimizer or scheduler state. To train from its "
        f"weights, `{owner}.load_from_checkpoint(path)` and `fit` without `ckpt_path`; to go on from its step, set "
        "`resume_changed_setup = 'fresh'` on the class (every optimizer and schedule starts afresh from the "
        "checkpoint's step) or `resume_changed_setup = 'continue'` (the optimizers start afresh, every schedule "
        "is evaluated at the checkpoint's step)."
    )

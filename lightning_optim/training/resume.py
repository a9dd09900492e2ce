"""Safe resume: a checkpoint remembers the declarations that produced it, and a changed setup is refused.

Lightning restores optimizer and scheduler states by position: after a changed declaration, the state of
one optimizer lands in another, a scheduler keeps its old ``T_max`` or milestones (torch restores every
attribute), an Adam state is loaded into SGD's groups. Instead the mixin writes a *fingerprint* of the
declarations into every checkpoint (``checkpoint["lightning_optim"]``) and compares it when ``fit`` starts,
before Lightning restores any optimizer or scheduler state. The fingerprint holds, per optimizer: its
attribute, class and options; its groups (name, options, scales, parameter count, element count and a digest of the
parameter names); its scheduler (class, arguments, interval, frequency, monitor, warmup, unit, window, param),
or a list of those for a declared list. What a schedule derived from the run is in its own state (its
``Shape``), and the run it resumes into is checked against it when training starts (``lifecycle.py``). A length
left to the run and the same length written out at the value it came to are one schedule, either way round: the
arguments are compared as declared now, with the saved schedule's shape made the one it has so (``_written_out``).

``resume_changed_setup`` says what a changed setup does: ``"error"`` refuses it, naming what changed;
``"fresh"`` keeps the weights and the loop's progress and starts every optimizer and schedule anew;
``"continue"`` (Megatron's ``override_opt_param_scheduler``) keeps the optimizer state of every group whose
name and parameters match (moments, momentum buffers, schedule-free's ``k`` in the group; a new or changed
group starts empty) under the new options, and evaluates every schedule at the resumed step, built for the
whole run as now declared. torch starts a parameter's state only when it is empty, so a kept state lacking what
the new options need (``amsgrad``'s ``max_exp_avg_sq``) would fail its first step: it is completed as a fresh
optimizer starts that state, with zeros, or the group starts afresh where a fresh one starts it otherwise
(``_take_over``; torch's optimizers tell, ``trial.first_state``); a state whose length an option sets is fitted to
it (``fitted``: ``LBFGS``'s history keeps its most recent ``history_size`` entries), and a group whose state an
option that changed shapes starts afresh (``OptimizerInfo.shaping_options``: ``DASH``'s ``block_size``), as does
one whose kept state has another precision than its state options now give it (``OptimizerInfo.state_misfit``:
bitsandbytes' ``optim_bits``, which the group does not hold). A
``ReduceLROnPlateau`` has no value at a step: it continues from its group's lr (its reductions so far applied to
the lr now declared), with its counters anew. An optimizer declared under another attribute is the checkpoint's
when its class, options and groups are, one to one (``renames``): its records in the checkpoint are written under
its name now (``_record_renamed``), so ``"continue"`` keeps its state and ``Positions`` its place, and the refusal
says it looks renamed.

Both checks run from places a user cannot switch off by overriding a hook without ``super()``: the
checkpoint is already loaded when ``configure_optimizers`` runs (Lightning restores the module first), and a
callback the mixin inserts writes the fingerprint (``on_save_checkpoint``) and checks again for strategies
that load the checkpoint only after ``configure_optimizers`` (``on_load_checkpoint``).

Lightning steps a ``ReduceLROnPlateau`` of ``interval="epoch"`` after the epoch-end checkpoint is written and
does not replay that step on resume (the metric is not in the checkpoint). The callback therefore also saves
the monitored value of each plateau scheduler, and the resumed run takes the missing step with it at the
start of its first epoch, so a resumed plateau schedule continues exactly. A per-step plateau is stepped
after the batch-end and validation checkpoints, likewise: its update is taken at the resumed run's first
batch (in manual optimization, where the mixin steps it at the same point, the updates it owed, ``OWED``).
Whether Lightning owed it is told by the checkpoint's loop progress (written at a batch's end, before the loop
left the batch: ``compat.batch_left_unfinished``; inside an epoch, before its end was completed:
``compat.epoch_left_unfinished``) and the scheduler's frequency, not by the updates the scheduler has taken,
which miss those skipped with ``strict=False`` while the metric was not logged.
The saved value is what the update reads only where the resumed run has not logged the metric again: a
mid-epoch checkpoint's epoch goes on in the resumed run, whose later batches, validation and end hooks log it
as the uninterrupted run's did, and ``callback_metrics`` holds their value at the next epoch's start; a manual
per-step plateau watching a metric logged on some batches only reads the saved value until it is logged again.
A checkpoint of an epoch's last batch is resumed into the next epoch without the ended one's end hooks, so the
update that needs no metric (a warmup's) is taken when training starts, and the one reading the metric is not
(the value it would read is logged after the checkpoint); Lightning restarts in that next epoch and skips its
plateau update too, which is taken as a mid-epoch checkpoint's epoch's is.

Lightning calls no ``on_train_epoch_start`` for the epoch a fit resumes in from a checkpoint written inside it (or
at the last batch of the one before), where a ``GradientAccumulationScheduler`` sets its factor: that epoch would
train at the Trainer's own factor. The first batch of a resumed fit checks the factor in force against the
callback's for the epoch, and a fit at another one is refused (``_accumulation_not_set``); a callback's
``on_train_start`` that sets the factor comes before that batch.

Each checkpoint also records where each optimizer stands (``POSITIONS_KEY``, apart from the fingerprint, which
is compared): its applied steps and the updates it skipped in all and in a row, by attribute (``Positions``).
Lightning's global step cannot tell that after a change: it counts the steps asked for, skipped ones included; in manual
optimization it counts every optimizer's steps together (with several, the batches stand in: ``loop_steps``), and a
switch between automatic and manual optimization (the mixin switches with the optimizer count) reads the
other mode's counter, 0. Where the batches stand in, the record counts each optimizer's steps that ran (the
stepping callback's count, which its post-step hook takes anyway), as a GAN's generator stepped every
``n_critic`` batches takes fewer than the batches. ``"continue"`` evaluates a schedule of an optimizer the
record holds at its applied steps, as a plain resume does (a per-step schedule waits for an applied step,
``outcomes.py``); a schedule of an optimizer added since stands where the run's batches stand. A checkpoint
without the record (written without the mixin, or by an older one) is continued at ``loop_steps``, as before.

A group added after the build (``BaseFinetuning.unfreeze_and_add_param_group``) is no declaration: the
fingerprint leaves it out, and the callback that added it puts it back into the optimizer when the resumed fit
starts (``BaseFinetuning`` restores its groups as it added them, in ``on_fit_start``), before Lightning loads the
optimizer state. A rewritten state holds only the declared groups, so a load pre-hook (``_added_groups``) gives
it each added group that is back: ``"fresh"`` with the settings it was restored with (as it was added) and no
state, ``"continue"`` with the checkpoint's settings and state. The hook also records those restored settings,
where ``"fresh"`` starts an added group again when a changed run shape restarts the schedules
(``restart_added``); ``"continue"`` keeps its settings and state, and the schedules, re-evaluated for the whole
run, take it from where it stands (``Schedule.advance``), as in the run it joined. A group the module's own hook
added (``add_param_group`` in ``on_train_epoch_start``) is put back by nothing unless the module adds it again in
``on_fit_start``: a checkpoint holding one that is not back is refused as its state loads, under every choice
(a rewritten state holds the declared groups only, and would leave its parameters untrained silently), unless
a declaration now selects as many parameters (its parameters in a ``ParamGroup``, ``_left_out``). It is not
restored from the checkpoint: its state tells the group's settings and its parameters' positions, not which of
the module's parameters they are, nor would a restored group train parameters the module froze again.

A checkpoint without a fingerprint (written without the mixin) is checked for its structure: the number of
optimizers and schedulers and the parameter count of every group; then for what its optimizer states tell,
group by group in order (``_hand_written``): the options (another optimizer class has other keys; an option a
declared schedule drives is not compared), the lr the group started from (under a plateau, which scales every
group's lr alike, the lrs' ratios), and the parameters' shapes where their state tells them (the state a fresh
optimizer holds in the parameter's shape, ``trial.shaped_state``, of any dimensions; none where it holds none,
as ``Adafactor`` and ``LBFGS``). A difference is a changed setup like a changed fingerprint (``"continue"`` keeps the
state of a group of the same class and shapes at its position, also when the schedulers changed). The torch scheduler states of a hand-written
module's checkpoint are set aside, and taken over when training starts if they are the declared schedulers'
(``foreign.py``). A weights-only checkpoint (no ``optimizer_states``: Lightning's own test for
``save_weights_only=True``) is no changed setup: ``"error"`` refuses it as holding no state to resume, and
``"fresh"``/``"continue"`` go on from its step as from any other setup they rewrite.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import io
import logging
import math
import re
import tokenize
import weakref
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.optim.lr_scheduler import ReduceLROnPlateau
from typing_extensions import override

from lightning_optim.building.build import Built
from lightning_optim.building.length import (
    ACCUMULATION,
    BATCHES,
    accumulation_scheduler,
    batches_stand_in,
    driven_everies,
    loop_steps,
    manual_optimization,
    run_facts,
    steps_within,
    windows_reaching,
)
from lightning_optim.declaring.scheduler import ResolvedScheduler, cycles_momentum
from lightning_optim.declaring.specs import TRAJECTORY_NEUTRAL_OPTIONS, SchedulerSpec, spec_options
from lightning_optim.declaring.trial import first_state, shaped_state
from lightning_optim.groups.plan import GroupPlan
from lightning_optim.registry.deque_state import rebound, recent
from lightning_optim.registry.implementation import IMPLEMENTATION_ARGUMENTS, loading_optimizer
from lightning_optim.registry.optimizers import SizedState, optimizer_info
from lightning_optim.schedules.param_view import target_of
from lightning_optim.schedules.schedule import Schedule, in_window
from lightning_optim.training import callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.training.foreign import set_aside
from lightning_optim.training.outcomes import outcomes_of
from lightning_optim.training.stepping import EPOCHS, OWED, ManualSchedulerStepping, Scheduled
from lightning_optim.utilities import compat
from lightning_optim.utilities.step_rule import steps_at

CHECKPOINT_KEY = "lightning_optim"
METRICS_KEY = "lightning_optim_plateau_metrics"
STEP_METRICS_KEY = "lightning_optim_step_plateau_metrics"
#: The epoch cut short (``max_steps``, ``trainer.should_stop``) at whose end the checkpoint was written: it owed
#: no per-epoch plateau update unless the resumed run goes on with it
CUT_KEY = "lightning_optim_cut_epoch"
POSITIONS_KEY = "lightning_optim_positions"
#: the Trainer's run the checkpoint was written in (``length.run_facts``)
RUN_KEY = "lightning_optim_run"
FINGERPRINT_VERSION = 2

#: What ``ConfigurableOptimizersMixin.resume_changed_setup`` accepts.
RESUME_CHOICES = ("error", "fresh", "continue")
ResumeChoice = Literal["error", "fresh", "continue"]

log = logging.getLogger("lightning_optim")

#: Marks a schedule to be built for the whole run and advanced to where the run stands (``"continue"``).
CONTINUES = "_lightning_optim_continues"
#: Marks a schedule whose length the checkpoint's declaration gave and the declaration now leaves to the run:
#: the run must derive the value it was given, also where the run is the checkpoint's (``_written_out``).
GIVEN_LENGTH = "_lightning_optim_given_length"

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

#: The settings of each group added to an optimizer after the build when the resumed checkpoint was loaded into
#: it: those the callback that added the group restored (``_added_groups``), where ``"fresh"`` starts it again.
_RESTORED_ADDED: weakref.WeakKeyDictionary[torch.optim.Optimizer, list[dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def stable_repr(value: Any) -> str:
    """A ``repr`` that is the same in every process: functions by qualified name, no memory addresses.

    Example:
        >>> stable_repr(stable_repr)
        'lightning_optim.training.resume.stable_repr'
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
    spec = scheduler.spec
    resolved = {"interval": scheduler.interval, "unit": scheduler.unit}
    return {
        "class": stable_repr(scheduler.cls),
        "arguments": _options(scheduler.kwargs),
        **{
            option: _plain(resolved.get(option, getattr(spec, option)))
            for option in spec_options(SchedulerSpec)
            if option not in TRAJECTORY_NEUTRAL_OPTIONS
            and not (option in _RECORDED_WHEN_SET and getattr(spec, option) == _RECORDED_WHEN_SET[option])
        },
    }


def _group(group: GroupPlan) -> dict[str, Any]:
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
            "groups": [_group(g) for g in b.groups],
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
    order = _attributes(saved), _attributes(current)
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


def _attributes(fingerprint: Mapping[str, Any]) -> list[str]:
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


def _rename_hints(
    renamed: Mapping[str, str], ambiguous: Mapping[str, list[str]], now: Sequence[str]
) -> list[str]:
    """One line for each optimizer ``renames`` found (``now``: the attributes in their order now).

    Example:
        >>> for line in _rename_hints({"opt": "optimizer"}, {"g": ["a", "b"]}, ["g", "opt"]):
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


def _record_renamed(checkpoint: dict[str, Any], renamed: Mapping[str, str]) -> Mapping[str, Any]:
    """Write the checkpoint's records of the ``renamed`` optimizers (``renames``) under their attributes now: its
    fingerprint, which ``"continue"`` keeps their state by (``_kept_state``), and where they stand
    (``POSITIONS_KEY``, ``Positions``); the fingerprint."""
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
                and _alike_values(scheduler.kwargs[key], shape["length"])
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


def _written_out(
    saved: Mapping[str, Any], checkpoint: dict[str, Any], built: Sequence[Built]
) -> Mapping[str, Any]:
    """The fingerprint ``saved`` with the arguments of each scheduler whose length was left to the run and is now
    written out at the value it came to, or the other way round, as declared now: one schedule, not a changed
    setup. The checkpoint's state of such a schedule gets the shape it has as declared now (its length derived
    or not, ``_length_as_declared``); a length it was given and that is now left to the run is marked
    (``GIVEN_LENGTH``): the run must derive it when training starts (``lifecycle.py``). A length left to the run
    that the declaration now writes out at another value (or where it now leaves another length to the run) is
    written into the arguments at the value it came to, so that the refusal tells it (``_told_derived``)."""
    entries = copy.deepcopy(saved.get("optimizers"))
    states = checkpoint.get("lr_schedulers", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) and "attribute" in e for e in entries):
        return saved
    for b in built:
        index = next((i for i, e in enumerate(entries) if e["attribute"] == b.declared.attribute), None)
        if index is None:
            continue
        for (record, state), scheduler in zip(_old_schedules(entries, index, states), b.declared.schedulers):
            now = _scheduler(scheduler)
            if (
                not isinstance(record, dict)
                or not isinstance(state, dict)
                or record.get("class") != now["class"]
            ):
                continue
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
    windowed = any(option in record for option in ("begin", "end"))  # recorded only when set
    name = scheduler.info.derived_length([e.partition("=")[0] for e in entries], windowed=windowed)
    if name is None or name == scheduler.derived_length:
        return arguments
    told = [*entries, f"{name}={value!r} (derived from the run)"]
    return ", ".join(sorted(told, key=lambda entry: entry.partition("=")[0]))


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


def _structure(groups: list[list[int]], schedulers: int) -> dict[str, Any]:
    """What a setup without a fingerprint is compared by: the parameters of each optimizer's groups, the
    number of schedulers."""
    return {"optimizers": len(groups), "schedulers": schedulers, "parameters per group": groups}


#: Group keys that are no option compared: the lr (by where it started), the declared name, what schedulers write
#: (torch's ``initial_lr``, ``OneCycleLR``'s and ``CyclicLR``'s bounds).
_NOT_OPTIONS = frozenset({"params", "lr", "name", "max_lr", "min_lr", "base_momentum", "max_momentum"})


def _compared_options(built: Built, group: Mapping[str, Any]) -> set[str]:
    """The keys of ``group`` (one of ``built``'s, or its checkpoint's) that are ``built``'s options: not its
    implementation (``keep_implementation`` keeps the built one), running state, or an option a declared
    schedule drives."""
    driven = {
        target_of(param, group)[0]
        for s in built.declared.schedulers
        for param in [s.spec.param, *(["momentum"] if cycles_momentum(s.cls, s.kwargs) else [])]
    }
    running = optimizer_info(built.declared.cls).running_state
    return {
        key
        for key in group
        if not key.startswith("initial_")
        and key not in _NOT_OPTIONS
        and key not in IMPLEMENTATION_ARGUMENTS
        and key not in running
        and key not in driven
    }


def _alike_values(a: Any, b: Any) -> bool:
    return bool(_alike(stable_repr(a)) == _alike(stable_repr(b)))


def _shapes_told(
    group: Mapping[str, Any],
    state: Mapping[Any, Any],
    shapes: Sequence[tuple[int, ...]],
    shaped: frozenset[str] | None,
    known: Collection[tuple[int, ...]],
) -> str:
    """The shape of each parameter of a saved ``group`` as its per-parameter ``state`` tells, else the shape now
    (``shapes``: of the parameters now at its positions). The state held in the parameter's shape (``shaped``,
    ``trial.shaped_state``: Adam's moments, a momentum buffer) tells it whatever its dimensions (a weight's state
    at a bias's position); where the trial step finds none (Adafactor's factored moments, LBFGS's flat vectors on
    the first parameter), no state tells it. Only where no trial is made (``shaped`` is ``None``: another
    library's optimizer) does a tensor of as many dimensions as the parameter now, of another shape, tell it, and
    only the shape of a parameter of the optimizer now (``known``): a factored or flattened state is of no
    parameter's shape. A parameter without state (never stepped) tells nothing.

    Example:
        >>> weight = {0: {"step": torch.tensor(8.0), "exp_avg": torch.zeros(16, 8)}}
        >>> _shapes_told({"params": [0]}, weight, [(16,)], frozenset({"exp_avg"}), [(16,), (16, 8)])
        '[(16, 8)]'
        >>> _shapes_told({"params": [0]}, weight, [(16,)], None, [(16,), (16, 8)])  # fewer dimensions
        '[(16,)]'
        >>> _shapes_told({"params": [0]}, weight, [(8, 16)], None, [(8, 16), (16, 8)])
        '[(16, 8)]'
        >>> _shapes_told({"params": [0, 1]}, weight, [(16, 8), (4,)], frozenset({"exp_avg"}), [(16, 8), (4,)])
        '[(16, 8), (4,)]'
        >>> factored = {0: {"row_var": torch.zeros(16, 1), "col_var": torch.zeros(1, 8)}}
        >>> _shapes_told({"params": [0]}, factored, [(16, 8)], frozenset(), [(16, 8)])
        '[(16, 8)]'
        >>> _shapes_told({"params": [0]}, factored, [(16, 8)], None, [(16, 8)])
        '[(16, 8)]'
    """
    told = []
    for index, shape in zip(group["params"], shapes):
        values = (state.get(index) or {}).items()
        saved = {k: tuple(v.shape) for k, v in values if isinstance(v, torch.Tensor)}
        if shaped is not None:
            other = next((s for k, s in saved.items() if k in shaped and s != shape), None)
        else:
            held = [s for s in saved.values() if len(s) == len(shape)]
            other = None if shape in held else next((s for s in held if s in known), None)
        told.append(shape if other is None else other)
    return str(told)


def _parameter_shapes(optimizer: Any) -> set[tuple[int, ...]]:
    return {tuple(p.shape) for group in optimizer.param_groups for p in group["params"]}


def _relative_lrs(
    saved: Sequence[float], declared: Sequence[float], factor: float, min_lrs: Sequence[float], eps: float
) -> tuple[int | None, dict[int, tuple[str, str]]]:
    """Each group's lr relative to a reference group's, in the checkpoint (``saved``) and now (``declared``), where
    a ``ReduceLROnPlateau`` (``factor``, ``min_lrs``, ``eps``) moved the checkpoint's: it scales the lrs of all
    groups alike, so they keep their ratios, except those it no longer moves (at their ``min_lr``, or closer to it
    than ``eps``), which are left out. The reference is the first group it moves (``None``: none); a ratio the same
    in both, up to rounding, is written alike.

    Example:
        >>> _relative_lrs([0.025, 0.05], [0.05, 0.1], 0.5, [0, 0], 1e-8)  # halved once
        (0, {1: ('2', '2')})
        >>> _relative_lrs([0.025, 0.05], [0.1, 0.05], 0.5, [0, 0], 1e-8)  # the groups in the other order
        (0, {1: ('2', '0.5')})
        >>> _relative_lrs([0.01, 0.05, 0.025], [0.1, 0.1, 0.05], 0.5, [0.01, 0, 0], 1e-8)  # group 0 at its min_lr
        (1, {2: ('0.5', '0.5')})
    """
    moving = [
        index
        for index, (lr, now, floor) in enumerate(zip(saved, declared, min_lrs))
        if now > 0 and lr - max(lr * factor, floor) > eps
    ]
    if not moving:
        return None, {}
    first, *others = moving
    told = {}
    for index in others:
        was, now = saved[index] / saved[first], declared[index] / declared[first]
        told[index] = (f"{was:.10g}", f"{was if math.isclose(was, now, rel_tol=1e-9) else now:.10g}")
    return first, told


def _plateau_lrs(
    built: Built, saved_groups: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The entries of ``_relative_lrs`` for each group of the checkpoint and of ``built``, where a declared
    ``ReduceLROnPlateau`` alone drives the lr (it tells nothing of where a group's lr started, but the lrs of the
    groups in another order have other ratios)."""
    none: list[dict[str, str]] = [{} for _ in saved_groups]
    lr_schedules = [s for s in built.declared.schedulers if s.spec.param == "lr"]
    if len(lr_schedules) != 1 or not lr_schedules[0].is_plateau:
        return none, none
    defaults = {key: p.default for key, p in inspect.signature(ReduceLROnPlateau).parameters.items()}
    arguments = {**defaults, **lr_schedules[0].kwargs}
    min_lr = arguments["min_lr"]
    min_lrs = min_lr if isinstance(min_lr, (list, tuple)) else [min_lr] * len(saved_groups)
    try:
        reference, told = _relative_lrs(
            [float(g["lr"]) for g in saved_groups],
            [float(g["lr"]) for g in built.optimizer.param_groups],
            float(arguments["factor"]),
            [float(m) for m in min_lrs],
            float(arguments["eps"]),
        )
    except (TypeError, ValueError):  # a value only `fit` gives (an HParam): nothing compared
        return none, none
    if reference is None:
        return none, none
    key = f"lr (relative to {built.group_names[reference]!r})"
    return (
        [{key: told[i][0]} if i in told else {} for i in range(len(saved_groups))],
        [{key: told[i][1]} if i in told else {} for i in range(len(saved_groups))],
    )


def _hand_written(states: Sequence[Mapping[str, Any]], built: Sequence[Built]) -> list[str]:
    """What differs between the optimizer states of a checkpoint written without the mixin (``states``, of
    the same structure) and ``built``, as ``differences`` between two fingerprint-like records: per group the
    lr it started from (a torch scheduler's ``initial_lr``; not when a declared plateau or ``OneCycleLR``
    moves it; under a plateau alone, its lr relative to the other groups', ``_plateau_lrs``), its options
    (another optimizer class has other keys; one the checkpoint lacks, from an older torch, loads as torch's
    default) and its parameters' shapes where their state tells them (``_shapes_told``)."""
    records: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    for state, b in zip(states, built):
        lr_schedules = [s for s in b.declared.schedulers if s.spec.param == "lr"]
        lr_told = not any(s.is_plateau or s.info.sets_lr_from is not None for s in lr_schedules)
        defaults = inspect.signature(b.declared.cls).parameters
        groups: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        relative = _plateau_lrs(b, state["param_groups"])
        known = _parameter_shapes(b.optimizer)
        for index, (old, new, name) in enumerate(
            zip(state["param_groups"], b.optimizer.param_groups, b.group_names)
        ):
            shapes = [tuple(p.shape) for p in new["params"]]
            options = (
                _compared_options(b, old),
                {
                    key
                    for key in _compared_options(b, new)
                    if key in old or (key in defaults and not _alike_values(defaults[key].default, new[key]))
                },
            )
            shaped = shaped_state(b.declared.cls, new)
            told = (_shapes_told(old, state["state"], shapes, shaped, known), str(shapes))
            for side, group, keys, shape, lr in zip(groups, (old, new), options, told, relative):
                side.append(
                    {
                        "attribute": name,  # names the group in each line
                        **({"lr": stable_repr(group.get("initial_lr", group["lr"]))} if lr_told else {}),
                        **lr[index],
                        "options": {key: stable_repr(group[key]) for key in sorted(keys)},
                        "parameter shapes": shape,
                    }
                )
        for record, side in zip(records, groups):
            record.append({"attribute": b.declared.attribute, "groups": side})
    return differences({"optimizers": records[0]}, {"optimizers": records[1]})


def refusal(owner: str, changes: Sequence[str]) -> ValueError:
    """The error refusing to resume a checkpoint of a changed setup, naming what changed."""
    shown = [*changes[:12], *([f"... and {len(changes) - 12} more"] if len(changes) > 12 else [])]
    return ValueError(
        f"{owner}: Expected the checkpoint being resumed to come from the same optimizer and scheduler "
        "declarations, in a run of the same shape (the Trainer settings a derived length or the steps per epoch "
        "come from), but got a changed setup; Lightning would restore the saved states by position into the "
        "new ones. Changed:\n  " + "\n  ".join(shown) + "\nResume with the original declarations and "
        "Trainer settings, or set `resume_changed_setup = 'fresh'` on the class to keep the weights and the "
        "loop's progress but start every optimizer and schedule afresh, or `resume_changed_setup = 'continue'` "
        "to also keep the optimizer state of unchanged groups and evaluate the new schedules at the resumed step."
    )


def _weights_only(owner: str, checkpoint: Mapping[str, Any]) -> ValueError:
    """The error refusing to resume a checkpoint that holds no optimizer or scheduler state (Lightning's own test of
    one written with ``weights_only=True``: no ``optimizer_states``), which is no changed setup."""
    return ValueError(
        f"{owner}: Expected a checkpoint holding the optimizer and scheduler states to resume from but got a "
        "weights-only checkpoint (`ModelCheckpoint(save_weights_only=True)` or "
        "`trainer.save_checkpoint(path, weights_only=True)`): it holds the weights and the loop's progress "
        f"(global step {checkpoint.get('global_step', '?')}), no optimizer or scheduler state. To train from its "
        f"weights, `{owner}.load_from_checkpoint(path)` and `fit` without `ckpt_path`; to go on from its step, set "
        "`resume_changed_setup = 'fresh'` on the class (every optimizer and schedule starts afresh from the "
        "checkpoint's step) or `resume_changed_setup = 'continue'` (the optimizers start afresh, every schedule "
        "is evaluated at the checkpoint's step)."
    )


def restart(schedule: Schedule, *, continues: bool) -> dict[str, Any]:
    """Make ``schedule`` one without a shape that starts where the run stands (or continues the run,
    ``CONTINUES``); its state."""
    schedule.load_state_dict(Schedule.unshaped_state())
    setattr(schedule, EPOCHS, None)  # the manual-optimization epoch count starts at the current epoch
    setattr(schedule, CONTINUES, continues)
    return schedule.state_dict()


def _old_schedules(entries: Sequence[Mapping[str, Any]], index: int, states: Sequence[Any]) -> list[Any]:
    """The saved states of the schedules the checkpoint's optimizer ``index`` declared, each with its
    fingerprint."""
    declared = [
        e["schedulers"] if "schedulers" in e else [e["scheduler"]] if e["scheduler"] else [] for e in entries
    ]
    offset = sum(len(records) for records in declared[:index])
    return list(zip(declared[index], states[offset:]))


def _plateau_starts(schedules: Sequence[Any], groups: int) -> list[Any]:
    """Each group's lr when the checkpoint's ``ReduceLROnPlateau`` (on the lr) was built, if it had one."""
    for record, state in schedules:
        if record["class"] == stable_repr(ReduceLROnPlateau) and "param" not in record:
            return list((state or {}).get("start_values") or [None] * groups)
    return [None] * groups


def _kept_state(
    saved: Mapping[str, Any], states: Sequence[Any], built: Built, schedules: Sequence[Any], where: str
) -> dict[str, Any]:
    """``built``'s optimizer state for ``"continue"``: its own (fresh) groups and options, with the saved
    per-parameter state of every group whose optimizer class, name and parameters are the checkpoint's, and
    the running state such a group holds (``OptimizerInfo.running_state``: schedule-free's ``k``).

    Such a group whose lr only a ``ReduceLROnPlateau`` drives keeps the reductions it had: its lr is the
    declared one times the checkpoint's lr over the lr the checkpoint's schedule started from (``schedules``:
    the checkpoint's scheduler states).
    """
    fresh = built.optimizer.state_dict()
    entries = saved.get("optimizers") if saved.get("version") == FINGERPRINT_VERSION else None
    found: tuple[int, Any] = next(
        ((i, e) for i, e in enumerate(entries or ()) if e.get("attribute") == built.declared.attribute),
        (len(states), None),
    )
    index, entry = found
    if index >= len(states) or entry["class"] != stable_repr(built.declared.cls):
        return fresh  # no state of it saved, or of another class
    state = states[index]
    keys = ("name", "elements", "parameter names (digest)")
    starts = _plateau_starts(_old_schedules(entries or (), index, schedules), len(state["param_groups"]))
    old_groups = {
        tuple(g[k] for k in keys): (old, start)
        for g, old, start in zip(entry["groups"], state["param_groups"], starts)
    }
    lr_schedules = [s for s in built.declared.schedulers if s.spec.param == "lr"]
    plateau = bool(lr_schedules) and all(s.is_plateau for s in lr_schedules)
    named = zip(fresh["param_groups"], built.groups, built.optimizer.param_groups, built.group_names)
    for group, plan, live, name in named:
        old, start = old_groups.get(tuple(_group(plan)[k] for k in keys), (None, None))
        if old is None:
            continue
        _take_over(fresh, group, old, state, built, live, where, name)
        if plateau:  # the lr the group started from: a torch scheduler's `initial_lr`, a plateau's start
            start = old.get("initial_lr", start if start is not None else old["lr"])
            group["lr"] = float(group["lr"]) * float(old["lr"]) / float(start)
    return fresh


def missing_state(
    saved: Sequence[Mapping[str, Any]], started: Mapping[str, bool] | None
) -> tuple[list[str], list[str]]:
    """The keys a fresh optimizer starts (``started``, ``trial.first_state``) that some of the ``saved``
    per-parameter states of a group lack: those it starts as zeros of the parameter's shape, and the others. An
    empty state lacks none (torch starts it whole).

    Example:
        >>> adam = {"step": False, "exp_avg": True, "exp_avg_sq": True, "max_exp_avg_sq": True}
        >>> missing_state([{"step": 1, "exp_avg": 0, "exp_avg_sq": 0}, {}], adam)
        (['max_exp_avg_sq'], [])
        >>> missing_state([{"step": 1}], {"step": False, "momentum_buffer": False})
        ([], ['momentum_buffer'])
    """
    started = started or {}
    lacking = sorted({key for kept in saved if kept for key in started if key not in kept})
    zeros = [key for key in lacking if started[key]]
    return zeros, [key for key in lacking if key not in zeros]


def fitted(
    saved: dict[str, Any], sized: Mapping[str, SizedState], old: Mapping[str, Any], new: Mapping[str, Any]
) -> dict[str, Any]:
    """A parameter's ``saved`` state, kept from the checkpoint's group ``old``, fitted to the group ``new`` where the
    option that sets a state's length changed (``OptimizerInfo.sized_state``): a history keeps its most recent
    entries, as the step drops the oldest first (a deque of them gets the new length as its ``maxlen``, ``recent``),
    and scratch the step starts when it is missing is left out.

    Example:
        >>> lbfgs = {"old_dirs": SizedState("history_size", "recent"), "al": SizedState("history_size", "nothing")}
        >>> saved = {"old_dirs": [1, 2, 3], "al": [None] * 3, "n_iter": 5}
        >>> fitted(saved, lbfgs, {"history_size": 3}, {"history_size": 2})
        {'old_dirs': [2, 3], 'n_iter': 5}
        >>> fitted(saved, lbfgs, {"history_size": 3}, {"history_size": 3}) is saved
        True
    """
    changed = {key: s for key, s in sized.items() if key in saved and old.get(s.option) != new.get(s.option)}
    if not changed:
        return saved
    return {
        key: value if key not in changed else recent(value, new[changed[key].option])
        for key, value in saved.items()
        if key not in changed or changed[key].keeps == "recent"
    }


def _take_over(
    fresh: dict[str, Any],
    group: dict[str, Any],
    old: Mapping[str, Any],
    state: Mapping[str, Any],
    built: Built,
    live: Mapping[str, Any],
    where: str,
    name: str,
) -> None:
    """Put the saved per-parameter state of the checkpoint's group ``old`` into ``fresh``'s ``group`` (``live``: the
    built optimizer's), with the running state the optimizer keeps in the group (schedule-free's ``k``, a group
    ``step``).

    Under options that need per-parameter state the checkpoint's optimizer did not keep (``amsgrad``'s
    ``max_exp_avg_sq``), the kept state is completed as a fresh optimizer starts it, with zeros; where a fresh one
    starts it otherwise (from the first gradient), or where an option that shapes the state changed
    (``OptimizerInfo.shaping_options``: ``DASH``'s ``block_size``), or where the kept state does not fit the state
    options now (``OptimizerInfo.state_misfit``: bitsandbytes' precision), the group starts afresh, said once. A state
    whose length an option sets is fitted to the option now (``fitted``: ``LBFGS``'s history to its
    ``history_size``).
    """
    kept = [
        (new_index, param, state["state"][old_index])
        for new_index, old_index, param in zip(group["params"], old["params"], live["params"])
        if old_index in state["state"]
    ]
    started = first_state(built.declared.cls, group) if kept else None
    zeros, others = missing_state([s for _, _, s in kept], started)
    info = optimizer_info(built.declared.cls)
    reshaped = sorted(
        key
        for key in info.shaping_options
        if kept and key in group and not _alike_values(old.get(key), group[key])
    )
    misfit = next(
        (
            m
            for _, param, saved in kept
            if info.state_misfit and (m := info.state_misfit(built.optimizer, param, saved))
        ),
        None,
    )
    if others or reshaped or misfit:
        # a state option may be in the checkpoint's group only (declared on the group then, not now)
        compared = _compared_options(built, group) | (_compared_options(built, old) & info.state_options)
        changed = ", ".join(
            f"{key}: {old.get(key)!r} in the checkpoint, {group.get(key)!r} now"
            for key in sorted(compared)
            if key not in old or key not in group or not _alike_values(old[key], group[key])
        )
        needs = (
            f"needs per-parameter state the checkpoint lacks ({', '.join(others)}), which it does not start from zeros"
            if others
            else f"shapes its per-parameter state by {', '.join(reshaped)}, so the checkpoint's does not fit it"
            if reshaped
            else "keeps its per-parameter state in another precision by its state options "
            f"({', '.join(sorted(info.state_options))}: {misfit}), so the checkpoint's does not fit it"
        )
        rank_zero_only(log.info)(  # the package's logger, as its other infos (Lightning's may not propagate)
            f"{where}: param group {name!r} starts its optimizer state afresh "
            f"(resume_changed_setup='continue'): `{built.declared.cls.__name__}` with its options now "
            f"({changed or 'as declared'}) {needs}."
        )
        return
    for new_index, param, saved in kept:
        completed = {key: torch.zeros_like(param) for key in zeros if saved and key not in saved}
        saved = fitted(saved, info.sized_state, old, group)
        fresh["state"][new_index] = {**saved, **completed} if completed else saved
    group.update({key: old[key] for key in info.running_state if key in old})


def _kept_by_position(state: Mapping[str, Any], built: Built, where: str) -> dict[str, Any]:
    """``built``'s optimizer state for ``"continue"`` from a checkpoint written without the mixin (``state``):
    its own groups and options, with the saved state of every group whose parameters' shapes, by position,
    are the checkpoint's, and whose options are all ``built``'s (none of another optimizer class)."""
    fresh = built.optimizer.state_dict()
    named = zip(fresh["param_groups"], state["param_groups"], built.optimizer.param_groups, built.group_names)
    known = _parameter_shapes(built.optimizer)
    for group, old, new, name in named:
        shapes = [tuple(p.shape) for p in new["params"]]
        same_class = _compared_options(built, old) <= set(new)
        shaped = shaped_state(built.declared.cls, group) if same_class else None
        if same_class and _shapes_told(old, state["state"], shapes, shaped, known) == str(shapes):
            _take_over(fresh, group, old, state, built, new, where, name)
    return fresh


def _added_groups(
    built: Built,
    saved: Mapping[str, Any] | None,
    continues: bool,
    written: tuple[list[Any], int] | None = None,
) -> None:
    """When the checkpoint is loaded into ``built``'s optimizer, record the settings of the groups added after
    the build that are back in it (``_RESTORED_ADDED``), and give a rewritten state (the declared groups only)
    an entry for each: ``continues``, the checkpoint's group at that position (``saved``: its optimizer state)
    with its per-parameter state, else the settings it was restored with and no state.

    A checkpoint holding a group added after the build that is not back is refused: its state as written, or
    rewritten (``written``: the groups of the optimizer's state in the checkpoint, and how many of them its
    fingerprint declared), which holds the declared groups only and would leave it out silently."""
    # the checkpoint's load only, which releases `saved` (the hook cannot remove itself while torch runs it)
    pending = [saved if continues else None]

    def hook(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any] | None:
        if not pending:
            return None
        old_state = pending.pop()
        declared = len(built.groups)
        added = optimizer.param_groups[declared:]
        settings = [{key: value for key, value in g.items() if key != "params"} for g in added]
        _RESTORED_ADDED[built.optimizer] = settings
        groups = list(state_dict.get("param_groups", ()))
        held = len(optimizer.param_groups)
        if len(groups) > held:
            raise _added_not_back(built.declared.where, groups, held=held)
        if (
            len(groups) == declared
            and written is not None
            and _left_out(written, optimizer.param_groups, len(added))
        ):
            raise _added_not_back(built.declared.where, *written, held=held, back=len(added))
        if not added or len(groups) != declared:
            return None  # nothing added, or the checkpoint's own state, which holds them
        state = dict(state_dict["state"])
        first = 1 + max((i for g in groups for i in g["params"]), default=-1)
        old_groups = list(old_state["param_groups"])[declared:] if old_state is not None else []
        for index, group in enumerate(added):
            ids = list(range(first, first + len(group["params"])))
            first += len(ids)
            old = old_groups[index] if index < len(old_groups) else None
            if old is None or len(old["params"]) != len(ids):  # fresh, or not the checkpoint's group
                groups.append({**settings[index], "params": ids})
                continue
            groups.append({**{k: v for k, v in old.items() if k != "params"}, "params": ids})
            kept = old_state["state"] if old_state is not None else {}
            state.update({new: kept[o] for new, o in zip(ids, old["params"]) if o in kept})
        return {**state_dict, "state": state, "param_groups": groups}

    loading_optimizer(built.optimizer).register_load_state_dict_pre_hook(hook, prepend=True)


def _written_groups(saved: Any, states: Sequence[Any], built: Built) -> tuple[list[Any], int] | None:
    """The param groups of the optimizer state the checkpoint holds for ``built``'s optimizer (its namesake in
    the fingerprint ``saved``), and how many of them the fingerprint declares (the others were added after the
    build); ``None`` without a fingerprint of this version or a state of that optimizer.

    Example:
        >>> saved = {"version": FINGERPRINT_VERSION, "optimizers": [{"attribute": "opt", "groups": [{}]}]}
        >>> built = type("B", (), {"declared": type("D", (), {"attribute": "opt"})})()
        >>> _written_groups(saved, [{"param_groups": [{"params": [0]}, {"params": [1]}]}], built)
        ([{'params': [0]}, {'params': [1]}], 1)
    """
    entries = (
        saved.get("optimizers")
        if isinstance(saved, Mapping) and saved.get("version") == FINGERPRINT_VERSION
        else None
    )
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        ours = isinstance(entry, Mapping) and entry.get("attribute") == built.declared.attribute
        if ours and index < len(states) and isinstance(states[index], Mapping):
            return list(states[index].get("param_groups", ())), len(entry.get("groups", ()))
    return None


def _left_out(
    written: tuple[Sequence[Mapping[str, Any]], int], groups: Sequence[Mapping[str, Any]], back: int
) -> bool:
    """Whether a state rewritten from the declarations (``"fresh"``, ``"continue"``) into an optimizer of
    ``groups`` (``back`` of them added after the build) leaves out groups the checkpoint's optimizer had added
    (``written``: its groups, and how many of them were declared): fewer are back, and the optimizer holds fewer
    parameter tensors than the checkpoint's. Their parameters cannot be told apart by name (the state holds
    positions), but a declaration that now selects them (a ``ParamGroup``) holds as many.

    Example:
        >>> written = ([{"params": [0, 1]}, {"params": [2, 3]}], 1)
        >>> _left_out(written, [{"params": ["w", "b"]}], 0), _left_out(written, [{"params": ["w", "b", "v", "c"]}], 0)
        (True, False)
    """
    saved, declared = written
    tensors = sum(len(g["params"]) for g in groups)
    return len(saved) - declared > back and tensors < sum(len(g.get("params", ())) for g in saved)


def _added_not_back(
    where: str, groups: Sequence[Mapping[str, Any]], declared: int | None = None, *, held: int, back: int = 0
) -> ValueError:
    """The refusal of a checkpoint whose optimizer state holds groups (``groups``, the first ``declared`` of
    them declared; by default those the optimizer holds) that are not back in the optimizer of ``held`` groups
    when it loads: groups added during training (``add_param_group``, ``unfreeze_and_add_param_group`` in the
    module's own hook) that nothing put back (``back`` of them are), where torch would say only "loaded state
    dict has a different number of parameter groups", or a state rewritten from the declarations
    (``resume_changed_setup``) would leave them out, untrained.

    Example:
        >>> state = [{"params": [0, 1]}, {"params": [2, 3], "name": "backbone"}]
        >>> str(_added_not_back("M.opt", state, held=1)).split(" to be back")[0]
        'M.opt: Expected the param group added to the optimizer during training that the checkpoint holds (group 1: `backbone`, 2 parameter tensors)'
        >>> str(_added_not_back("M.opt", [*state, {"params": [4]}], 1, held=2, back=1)).split(" to be")[0]
        'M.opt: Expected the param group added to the optimizer during training that the checkpoint holds (group 2: 1 parameter tensors)'
    """
    first = held if declared is None else declared + back
    missing = [
        f"group {index}: "
        + (f"`{group['name']}`, " if group.get("name") else "")
        + f"{len(group.get('params', ()))} parameter tensors"
        for index, group in enumerate(groups)
        if index >= first
    ]
    one = len(missing) == 1
    return ValueError(
        f"{where}: Expected the param group{'' if one else 's'} added to the optimizer during training that the "
        f"checkpoint holds ({'; '.join(missing)}) to be back in it before Lightning loads its state, but nothing "
        f"put {'it' if one else 'them'} back: the optimizer has {held} param group{'' if held == 1 else 's'}, the "
        f"checkpoint {len(groups)}. A group added in the module's own hook (`optimizer.add_param_group`, "
        "`BaseFinetuning.unfreeze_and_add_param_group`) is no declaration: a resumed run does not add it again, "
        "and `resume_changed_setup` 'fresh' or 'continue' rewrites the optimizer state from the declarations. "
        "Add it again in the module's `on_fit_start`, "
        "which runs before the state loads (`on_load_checkpoint` runs earlier and can tell from the checkpoint "
        "whether it holds the group, e.g. by its `epoch`), or declare its parameters in a `ParamGroup` (a changed "
        "setup, which 'fresh' and 'continue' resume), or unfreeze with Lightning's `BackboneFinetuning` "
        "callback, which puts back the groups it added."
    )


def restart_added(built: Built) -> None:
    """Give the groups added to ``built``'s optimizer after the build the settings they were restored with when
    the checkpoint was loaded (``"fresh"``: as the callback that added them restores them)."""
    added = built.optimizer.param_groups[len(built.groups) :]
    for group, settings in zip(added, _RESTORED_ADDED.get(built.optimizer, [])):
        params = group["params"]
        group.clear()
        group.update({**settings, "params": params})


def check_resume(
    owner: str, checkpoint: dict[str, Any], built: Sequence[Built], choice: ResumeChoice, *, manual: bool
) -> None:
    """Refuse, or with ``"fresh"``/``"continue"`` rewrite, the restore of a checkpoint from another setup.

    Rewritten, the checkpoint's optimizer and scheduler states are those Lightning then restores: fresh
    ones (``"continue"``: with the kept per-parameter states, and every schedule marked to continue), and
    its global step counted in this fit's optimization mode (``manual``).
    """
    if not checkpoint:
        return
    saved = checkpoint.get(CHECKPOINT_KEY)
    states = checkpoint.get("optimizer_states", [])
    for state, b in zip([*states, *[None] * len(built)], built):
        _added_groups(b, state, continues=choice == "continue", written=_written_groups(saved, states, b))
    by_position = False  # the groups correspond by position (a checkpoint without a fingerprint)
    renamed: dict[str, str] = {}
    if isinstance(saved, Mapping) and saved.get("version") == FINGERPRINT_VERSION:
        current = fingerprint(built)
        renamed, ambiguous = renames(saved, current)
        changes = differences(_written_out(saved, checkpoint, built), current, renamed)
        changes = [*_rename_hints(renamed, ambiguous, _attributes(current)), *changes] if changes else []
    else:  # no fingerprint of this version (written without the mixin, or by an older one): the structure,
        # then what the optimizer states tell (options, the lr, parameter shapes)
        if choice == "error" and saved is None and "optimizer_states" not in checkpoint:
            raise _weights_only(owner, checkpoint)
        saved_groups = [[len(g.get("params", [])) for g in s.get("param_groups", [])] for s in states]
        built_groups = [[len(g.parameters) for g in b.groups] for b in built]
        changes = differences(
            _structure(saved_groups, len(checkpoint.get("lr_schedulers", []))),
            _structure(built_groups, sum(len(b.schedules) for b in built)),
        )
        # the groups correspond by position whatever changed in the schedulers
        by_position = saved_groups == built_groups
        changes = [*changes, *(_hand_written(states, built) if by_position else [])]
        if not changes:
            set_aside(checkpoint)  # a hand-written module's scheduler states: taken over when training starts
    if not changes:
        return
    if choice == "error":
        raise refusal(owner, changes)
    if renamed:
        saved = _record_renamed(checkpoint, renamed)
    continues = choice == "continue"
    checkpoint["optimizer_states"] = [
        b.optimizer.state_dict()
        if not continues
        else _kept_by_position(state, b, f"{owner}.{b.declared.attribute}")
        if by_position
        else _kept_state(
            saved, states, b, checkpoint.get("lr_schedulers", []), f"{owner}.{b.declared.attribute}"
        )
        if isinstance(saved, Mapping)
        else b.optimizer.state_dict()
        for state, b in zip([*states, *[None] * len(built)], built)
    ]
    checkpoint["lr_schedulers"] = [restart(s, continues=continues) for b in built for s in b.schedules]
    compat.carry_global_step(checkpoint, manual)
    checkpoint.pop(METRICS_KEY, None)
    checkpoint.pop(STEP_METRICS_KEY, None)
    checkpoint.pop(CUT_KEY, None)


class Positions:
    """Where each built optimizer stands in the run: ``{attribute: {"steps": applied steps, "skipped": updates
    skipped in all, "consecutive": updates skipped in a row}}`` in every checkpoint (``POSITIONS_KEY``), read
    back from the resumed one; the skips in a row go on in the resumed run's ``StepOutcomes`` (``skip_nonfinite``
    counts them across the resume).

    The applied steps are the loops' steps of the optimizer (``loop_steps``, by this fit's configuration) since
    this fit's training started, added to where it stood then, less the updates skipped since
    (``StepOutcomes.skipped``); it stood then where the resumed checkpoint's record says, or (no record) at
    ``loop_steps``. Where the batches stand in for every optimizer's loop steps (``batches_stand_in``: several
    optimizers in the module's own manual loop), its steps since are those that ran (``stepping``'s count, from
    the post-step hook: a step a ``GradScaler`` or ``skip_nonfinite`` skipped on the host never ran) less those
    that ran and changed nothing (``StepOutcomes.ran_skipped``). An optimizer the record lacks (added since) stands where the run's batches stand, as if
    declared from the start: as ``loop_steps`` assumes, every optimizer steps once per stepping batch, so it
    has taken as many steps (applied and skipped) as the recorded ones; when the mixin writes the training step,
    the steps its ``every`` takes in the accumulation windows the recorded optimizers went through (each by
    the ``every`` the checkpoint's fingerprint records: exact when one of them stepped every window, as the
    one optimizer of automatic optimization did; else up to the last window any of them stepped in).

    The run itself is recorded too (``RUN_KEY``: the Trainer's facts a derived shape depends on), so that a
    resumed run of the same setup keeps the shapes it was saved with (``same_run``).
    """

    def __init__(self, built: Sequence[Built], stepping: ManualSchedulerStepping | None = None) -> None:
        self.built = built
        #: manual optimization's stepping callback, which counts each optimizer's steps that ran in this fit
        self.stepping = stepping
        #: the resumed checkpoint's record; ``None`` without one
        self.saved: dict[str, Any] | None = None
        #: the ``every`` of each optimizer of the resumed checkpoint's fingerprint, by attribute (1 if absent)
        self.saved_everies: dict[str, int] = {}
        #: the run the resumed checkpoint was written in (``run_facts``); ``None`` when it has no record of it
        self.run: dict[str, Any] | None = None
        #: (applied steps, loop steps, skipped updates) of each optimizer when this fit's training started
        self.began: list[tuple[int, int, int]] = []

    def take(self, checkpoint: Mapping[str, Any]) -> None:
        saved = checkpoint.get(POSITIONS_KEY)
        self.saved = dict(saved) if isinstance(saved, Mapping) else None
        declared = checkpoint.get(CHECKPOINT_KEY)
        optimizers = declared.get("optimizers") if isinstance(declared, Mapping) else None
        self.saved_everies = {
            str(o.get("attribute")): int(o.get("every", 1))
            for o in (optimizers if isinstance(optimizers, list) else [])
            if isinstance(o, Mapping)
        }
        run = checkpoint.get(RUN_KEY)
        self.run = dict(run) if isinstance(run, Mapping) else None

    def same_run(self, trainer: Any) -> bool:
        """Whether the resumed checkpoint was written in a run of these Trainer settings and data (its record
        says so)."""
        return self.run is not None and self.run == run_facts(trainer)

    def same_rate(self, trainer: Any) -> bool:
        """Whether the resumed checkpoint was written at this fit's steps per epoch: its record of its run has
        these training batches per epoch and this accumulation, and its fingerprint this ``every`` of each
        optimizer where the mixin writes the training step (not known without a record)."""
        if self.run is None:
            return False
        facts = run_facts(trainer)
        if any(self.run.get(key) != facts[key] for key in (BATCHES, ACCUMULATION)):
            return False
        everies = driven_everies(trainer) or ()
        return all(self.saved_everies.get(b.declared.attribute, 1) == e for b, e in zip(self.built, everies))

    def _entry(self, index: int) -> Mapping[str, Any] | None:
        entry = (self.saved or {}).get(self.built[index].declared.attribute)
        return entry if isinstance(entry, Mapping) else None

    def resumed_steps(self, trainer: Any, index: int) -> int | None:
        """The applied steps of the optimizer built at ``index`` when the resumed run starts, by the record;
        ``None`` without a record (the caller counts ``loop_steps``)."""
        if self.saved is None:
            return None
        entry = self._entry(index)
        if entry is not None:
            return int(entry.get("steps", 0))
        # added since: as if declared from the start, it took a step wherever the recorded optimizers took one
        asked = {
            attribute: int(e.get("steps", 0)) + int(e.get("skipped", 0))
            for attribute, e in self.saved.items()
            if isinstance(e, Mapping)
        }
        everies = driven_everies(trainer)
        if everies is None or not asked:
            return max(asked.values(), default=None)
        # the mixin's training step: those of its windows where its `every` steps it
        windows = max(
            windows_reaching(trainer, self.saved_everies.get(attribute, 1), steps)
            for attribute, steps in asked.items()
        )
        return steps_within(trainer, everies[index], windows)

    def begin(self, trainer: Any) -> None:
        """Note where each optimizer stands as this fit's training starts."""
        self.began = []
        for index in range(len(self.built)):
            loop, resumed, entry = (
                loop_steps(trainer, index),
                self.resumed_steps(trainer, index),
                self._entry(index),
            )
            skipped = int(entry.get("skipped", 0)) if entry is not None else 0
            self.began.append((loop if resumed is None else resumed, loop, skipped))
            outcomes = outcomes_of(self.built[index].optimizer)
            if outcomes is not None:  # a run of skips goes on across the resume (none in an older record)
                outcomes.consecutive = int(entry.get("consecutive", 0)) if entry is not None else 0

    def record(self, trainer: Any) -> dict[str, dict[str, int]]:
        if len(self.began) != len(self.built):
            self.begin(trainer)
        record = {}
        ran = (
            self.stepping.optimizer_steps if self.stepping is not None and batches_stand_in(trainer) else None
        )
        for index, (b, (applied, loop, skipped)) in enumerate(zip(self.built, self.began)):
            outcomes = outcomes_of(b.optimizer)
            now = outcomes.skipped if outcomes is not None else 0
            since = (
                loop_steps(trainer, index) - loop - now
                if ran is None
                else ran[index] - (outcomes.ran_skipped if outcomes is not None else 0)
            )
            record[b.declared.attribute] = {
                "steps": applied + since,
                "skipped": skipped + now,
                "consecutive": outcomes.consecutive if outcomes is not None else 0,
            }
        return record


Plateaus = list[tuple[str, Scheduled]]


def _plateaus(built: Sequence[Built], interval: str) -> Plateaus:
    """The plateau schedulers stepped at ``interval``, each with its position as a checkpoint key."""
    return [
        (str(index) if position == 0 else f"{index}[{position}]", scheduled)
        for index, b in enumerate(built)
        for position, scheduled in enumerate(Scheduled.all_of([b]))
        if scheduled.declared.is_plateau and scheduled.declared.interval == interval
    ]


def _monitored(trainer: Trainer, plateaus: Plateaus) -> dict[str, float]:
    metrics = trainer.callback_metrics
    monitored = [(key, s.declared.spec.monitor) for key, s in plateaus]
    return {key: float(metrics[name]) for key, name in monitored if name in metrics}


def _epoch_metric(trainer: Trainer, scheduled: Scheduled, saved: float | None) -> float | None:
    """The value the update of the checkpoint's epoch takes, at the start of the resumed run's next epoch: the
    one the resumed part of that epoch logged last (a mid-epoch checkpoint's later batches, its validation, its
    end hooks), which is still in ``callback_metrics`` as the uninterrupted run's update read it; else the
    ``saved`` one, where nothing logged the metric again since the checkpoint."""
    logged = trainer.callback_metrics.get(scheduled.declared.spec.monitor or "")
    return saved if logged is None else float(logged)


def _reads_metric(schedule: Schedule) -> bool:
    """Whether the next update of a plateau's ``schedule`` reads the metric: not a warmup's, nor one outside its
    window or the one that starts it (``Schedule.step``)."""
    shape, update = schedule.shape, schedule.last_epoch + 1
    if shape is None:
        return True
    if shape.window is not None:
        return schedule.inner is not None and in_window(update, *shape.window)
    return update > shape.warmup


def _replay_owed(
    pending: Mapping[str, float], plateaus: Plateaus, stepping: ManualSchedulerStepping | None
) -> None:
    """Manual optimization: take the per-step plateau updates the mixin owed when the checkpoint was written
    (``stepping.OWED``) with the saved metrics; one whose metric was not logged then is skipped. The later
    updates take the saved metrics too until the resumed run logs them again (a metric logged on some batches
    only): the uninterrupted run's take the last value logged, which ``callback_metrics`` holds."""
    if stepping is not None:
        stepping.saved_step_metrics.update(
            {id(s.scheduler): pending[key] for key, s in plateaus if key in pending}
        )
    for key, scheduled in plateaus:
        owed = getattr(scheduled.scheduler, OWED, 0)
        setattr(scheduled.scheduler, OWED, 0)
        for _ in range(owed if key in pending else 0):
            scheduled.scheduler.step(pending[key])


def _updated_at(scheduled: Scheduled, batch: int, accumulate: int, batches: float) -> bool:
    """Whether Lightning updates a per-step scheduler after ``batch`` of an epoch of ``batches``: at the end of
    an accumulation window (the epoch's last batch ends one), by its ``frequency``.

    Example:
        >>> from types import SimpleNamespace
        >>> every_2nd = SimpleNamespace(declared=SimpleNamespace(spec=SimpleNamespace(frequency=2)))
        >>> [b for b in range(7) if _updated_at(every_2nd, b, accumulate=2, batches=7)]
        [1, 3, 5]
        >>> [b for b in range(6) if _updated_at(every_2nd, b, accumulate=3, batches=6)]  # windows end at 2, 5
        [5]
    """
    ends_window = steps_at(batch, accumulate) or batch + 1 == batches
    return ends_window and steps_at(batch, scheduled.declared.spec.frequency)


class ResumeGuard(MixinCallback):
    """Writes the fingerprint, the optimizers' positions and the plateau metrics into checkpoints; checks on
    strategies that load late."""

    def __init__(
        self,
        owner: str,
        built: Sequence[Built],
        choice: ResumeChoice,
        stepping: ManualSchedulerStepping | None = None,
    ) -> None:
        super().__init__()
        self.owner = owner
        self.built = built
        self.choice = choice
        self.epoch_plateaus = _plateaus(built, "epoch")
        self.step_plateaus = _plateaus(built, "step")
        self.pending_metrics: dict[str, float] = {}
        self.pending_step_metrics: dict[str, float] = {}
        #: the batch the resumed checkpoint was written at the end of, its plateau updates not yet taken
        #: (``compat.batch_left_unfinished``), the epoch it was written in, its per-epoch plateau updates not yet
        #: taken (``compat.epoch_left_unfinished``), and each plateau's updates when training started
        self.unfinished: int | None = None
        self.unfinished_epoch: int | None = None
        #: the epoch at whose last batch's end the checkpoint was written (``compat.epoch_ended_at_last_batch``):
        #: Lightning resumes into the next epoch and never takes its per-epoch plateau updates
        self.ended_at_last_batch: int | None = None
        self.updates_at_start: dict[str, int] = {}
        #: the epoch of this fit cut short, and the one of the checkpoint being resumed
        self.cut: int | None = None
        self.loaded_cut: int | None = None
        self.positions = Positions(built, stepping)
        #: whether this fit resumes a checkpoint; then the ``GradientAccumulationScheduler`` whose factor its first
        #: batch checks (``_accumulation_not_set``)
        self.resumed = False
        self.accumulation: Any = None
        self.disable_hook("on_train_batch_start")  # until a checkpoint brings per-step metrics

    def take_checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        """Take the plateau metrics and the optimizers' positions of the checkpoint being resumed."""
        self.positions.take(checkpoint)
        self.resumed = bool(checkpoint)
        saved = checkpoint.get(METRICS_KEY)
        self.pending_metrics = dict(saved) if isinstance(saved, Mapping) else {}
        cut = checkpoint.get(CUT_KEY)
        self.loaded_cut = cut if isinstance(cut, int) else None
        saved = checkpoint.get(STEP_METRICS_KEY)
        self.pending_step_metrics = dict(saved) if isinstance(saved, Mapping) else {}
        self.unfinished = compat.batch_left_unfinished(checkpoint)
        self.unfinished_epoch = compat.epoch_left_unfinished(checkpoint)
        self.ended_at_last_batch = compat.epoch_ended_at_last_batch(checkpoint)
        if self.pending_step_metrics:
            self.enable_hook("on_train_batch_start")  # the class's hook replays them at the next batch

    @override
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.disable_hook("on_train_batch_start")
        accumulation, self.accumulation = self.accumulation, None
        if accumulation is not None and (refused := _accumulation_not_set(self.owner, trainer, accumulation)):
            raise refused
        if not self.pending_step_metrics:
            return
        pending, self.pending_step_metrics = self.pending_step_metrics, {}
        if not pl_module.automatic_optimization:
            _replay_owed(pending, self.step_plateaus, self.positions.stepping)
            return
        # Lightning owed the update of the checkpoint's batch if the checkpoint was written at the batch's end
        # and the scheduler updates there (the updates taken so far can't tell: they miss those skipped)
        batch, accumulate = self.unfinished, trainer.accumulate_grad_batches
        for key, scheduled in self.step_plateaus:
            if (
                key in pending
                and batch is not None
                and _updated_at(scheduled, batch, accumulate, trainer.num_training_batches)
                # not taken by Lightning itself as it restarted (with a metric logged since the resume)
                and scheduled.scheduler.last_epoch == self.updates_at_start.get(key)
            ):
                scheduled.scheduler.step(pending[key])

    @override
    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CHECKPOINT_KEY] = fingerprint(self.built)
        checkpoint[POSITIONS_KEY] = self.positions.record(trainer)
        checkpoint[RUN_KEY] = run_facts(trainer)
        checkpoint[METRICS_KEY] = _monitored(trainer, self.epoch_plateaus)
        if self.cut is not None and self.cut == trainer.current_epoch:
            checkpoint[CUT_KEY] = self.cut
        # Lightning (and the mixin in manual optimization) steps a per-step plateau after `on_train_batch_end`
        # and the batch's validation, where mid-epoch checkpoints are written
        checkpoint[STEP_METRICS_KEY] = _monitored(trainer, self.step_plateaus)

    @override
    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Otherwise Lightning loads the checkpoint before ``configure_optimizers``, which checks it then:
        # the guard here would still be the one of an earlier ``fit`` of this Trainer, with its setup.
        if not trainer.strategy.restore_checkpoint_after_setup:
            return
        check_resume(self.owner, checkpoint, self.built, self.choice, manual=manual_optimization(pl_module))
        self.take_checkpoint(checkpoint)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for b in self.built:  # after Lightning moved the loaded state to the device, which unbounds a deque
            rebound(b.optimizer)
        self.positions.begin(trainer)
        ended = self.ended_at_last_batch
        for _, scheduled in self.epoch_plateaus:
            # Lightning resumes into the next epoch, without the ended one's end hooks and plateau updates (nor an
            # epoch start): a warmup's update (or one outside a window) needs no metric, and is taken now
            if (
                ended is not None
                and steps_at(ended, scheduled.declared.spec.frequency)
                and not _reads_metric(scheduled.scheduler)
            ):
                scheduled.scheduler.step()
        # Lightning restarts in that next epoch, and in automatic optimization skips its plateau updates too: taken
        # at the epoch after, as the update of a mid-epoch checkpoint's epoch
        if ended is not None and pl_module.automatic_optimization:
            self.unfinished_epoch = ended + 1
        plateaus = (*self.step_plateaus, *self.epoch_plateaus)
        self.updates_at_start = {key: s.scheduler.last_epoch for key, s in plateaus}
        self.cut = None
        if self.loaded_cut is not None and trainer.current_epoch > self.loaded_cut:
            # Lightning starts past the epoch cut short, whose update it never takes: there is nothing to replay
            self.pending_metrics = {}
        self.accumulation = (
            accumulation_scheduler(trainer) if self.resumed and pl_module.automatic_optimization else None
        )
        if self.accumulation is not None:
            # checked at the first batch: a callback's `on_train_start` (after this one's) may still set the factor
            self.enable_hook("on_train_batch_start")

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.pending_step_metrics and not pl_module.automatic_optimization:
            # before the stepping callback records the schedules' states (its check of outside steps)
            self.disable_hook("on_train_batch_start")
            pending_steps, self.pending_step_metrics = self.pending_step_metrics, {}
            _replay_owed(pending_steps, self.step_plateaus, self.positions.stepping)
        pending, self.pending_metrics = self.pending_metrics, {}
        # Lightning owed the update of the checkpoint's epoch, the one before this first epoch of the fit, if the
        # scheduler updates after it (the updates taken so far can't tell: they miss those skipped)
        epoch = self.unfinished_epoch
        automatic = pl_module.automatic_optimization
        for key, scheduled in self.epoch_plateaus:
            # in manual optimization the mixin took the update of an epoch the resumed run went on with itself
            # (``on_train_epoch_end`` took its saved metric out of ``pending``)
            value = (
                _epoch_metric(trainer, scheduled, pending.get(key)) if automatic or key in pending else None
            )
            if (
                value is not None
                and epoch == trainer.current_epoch - 1
                and steps_at(epoch, scheduled.declared.spec.frequency)
                # not taken by Lightning itself, at the end of a cut epoch the resumed run went on with
                and scheduled.scheduler.last_epoch == self.updates_at_start.get(key)
            ):
                scheduled.scheduler.step(value)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.epoch_plateaus and not compat.epoch_ran_to_end(trainer):
            self.cut = trainer.current_epoch  # before the epoch-end checkpoint is written
        if self.pending_metrics and not pl_module.automatic_optimization:
            # resumed into the checkpoint's epoch: the mixin takes this epoch's update itself (from a later hook
            # than this one), with the saved metric where nothing logged it again since the checkpoint (one
            # written at the validation run after the epoch's last batch), so nothing is left to replay
            parts = self.entry.parts if self.entry is not None else []
            stepping = next((p for p in parts if isinstance(p, ManualSchedulerStepping)), None)
            for key, scheduled in self.epoch_plateaus:
                if getattr(scheduled.scheduler, EPOCHS, 0) == trainer.current_epoch:
                    saved = self.pending_metrics.pop(key, None)
                    if saved is not None and stepping is not None:
                        stepping.saved_metrics[id(scheduled.scheduler)] = saved


def _accumulation_not_set(owner: str, trainer: Trainer, callback: Any) -> ValueError | None:
    """The refusal of a resumed fit's first batch, at an ``accumulate_grad_batches`` other than the one the
    ``GradientAccumulationScheduler`` ``callback`` gives the epoch; ``None`` at that one.

    The callback sets the factor in ``on_train_epoch_start``, which Lightning does not call for the epoch a fit
    resumes in from a checkpoint written inside it, or at the last batch of the epoch before (2.6.6: its fit loop
    restarts mid-epoch then), so that epoch would train at the Trainer's own factor, 1, where the uninterrupted run
    trained at the scheduled one, the optimizer steps and the schedules counting other steps. Lightning does so
    for a hand-written module too, without a word; setting the factor for it is the callback's part (its
    documentation says nothing of a resume), so the fit is refused with the ways out."""
    epoch, running = trainer.current_epoch, trainer.accumulate_grad_batches
    scheduled = callback.get_accumulate_grad_batches(epoch)
    if running == scheduled:
        return None
    return ValueError(
        f"{owner}: Expected `trainer.accumulate_grad_batches` to be {scheduled} in epoch {epoch}, as "
        f"`{type(callback).__name__}({callback.scheduling})` schedules it, but got {running}: Lightning does not "
        "call the callback's `on_train_epoch_start`, which sets the factor, for the epoch a fit resumes in from a "
        f"checkpoint written inside it or at the last batch of the one before, so this fit would train epoch {epoch} "
        f"at {running} batch(es) per optimizer step instead of {scheduled}, unlike the same run uninterrupted. Resume "
        "from a checkpoint written at an epoch's end (`ModelCheckpoint(every_n_epochs=...)`), or have the callback "
        "set its factor when the fit starts: a subclass of `GradientAccumulationScheduler` whose `on_train_start` "
        "calls `super().on_train_start(trainer, pl_module)` and then `self.on_train_epoch_start(trainer, pl_module)`."
    )


def install(
    owner: str,
    trainer: Trainer,
    built: Sequence[Built],
    choice: ResumeChoice,
    stepping: ManualSchedulerStepping | None = None,
) -> Positions:
    """Check an already loaded checkpoint now, and put a fresh ``ResumeGuard`` in the callbacks; its
    ``Positions`` (which count each optimizer's steps by ``stepping``, manual optimization's)."""
    checkpoint = compat.loaded_checkpoint(trainer)
    guard = ResumeGuard(owner, built, choice, stepping)
    check_resume(owner, checkpoint, built, choice, manual=manual_optimization(trainer.lightning_module))
    guard.take_checkpoint(checkpoint)
    callbacks.add(trainer, guard)
    return guard.positions

"""A scheduler's length against the run: the length derived from it, and the lengths that do not fit it.

A record (``schedulers.py``) derives a length left out from the run's updates (``derive_length``: all of them,
or timm's cycles), bounds a given one where torch raises when stepped past it (``steps_limit``: ``OneCycleLR``),
refuses a phase that ends where it starts (``empty_phase``: torch divides by its span) and a warmup that ends
after the run (``peak_missed``: transformers' schedules), each a function of the declared arguments here, with
the counts in words the messages share (``updates``). These rules never import the records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from lightning_optim.schedules.transformers import TRANSFORMERS_SCHEDULES, resolve_warmup_steps
from lightning_optim.utilities.numeric import is_real


def whole_run(updates: int, kwargs: Mapping[str, Any]) -> int:
    """The default derived length: every update the scheduler gets after its warmup."""
    return updates


def one_cycle_steps(kwargs: Mapping[str, Any]) -> tuple[str, int] | None:
    """The steps a ``OneCycleLR`` takes after its construction before torch refuses the next one, with the
    arguments that gave them; ``None`` where torch refuses the arguments itself.

    Example:
        >>> one_cycle_steps({"total_steps": 12}), one_cycle_steps({"epochs": 3, "steps_per_epoch": 5})
        (('`total_steps=12`', 12), ('`epochs=3` x `steps_per_epoch=5`', 15))
    """
    total, epochs, per_epoch = (kwargs.get(key) for key in ("total_steps", "epochs", "steps_per_epoch"))
    if total is not None:
        return f"`total_steps={total!r}`", int(total)
    if epochs is None or per_epoch is None:
        return None
    return f"`epochs={epochs!r}` x `steps_per_epoch={per_epoch!r}`", int(epochs) * int(per_epoch)


class EmptyPhase(NamedTuple):
    """A phase of a scheduler that ends where it starts (``SchedulerInfo.empty_phase``): ``why``, in words, and
    whether it does so whatever the length (``any_length``: then ``why`` names none, and it is refused even where
    the length is not known yet)."""

    why: str
    any_length: bool = False


def one_cycle_empty_phase(kwargs: Mapping[str, Any]) -> EmptyPhase | None:
    """The phase of a ``OneCycleLR`` of these arguments (its length filled in) that ends where it starts;
    ``None`` where each spans a step. Torch divides by each phase's span when it computes an lr in it
    (``ZeroDivisionError``): its phases end at ``pct_start * total_steps - 1`` and ``total_steps - 1`` (with
    ``three_phase``: ``pct_start * total_steps - 1``, ``2 * pct_start * total_steps - 2``, ``total_steps - 1``), so
    the first is empty where ``pct_start * total_steps`` is 1 (torch fails building it), and the last where
    ``pct_start`` is 1 (whatever the length; ``three_phase``: where ``2 * pct_start * total_steps`` is
    ``total_steps + 1``), which torch computes at its step ``total_steps``, after the run's last step.

    Example:
        >>> one_cycle_empty_phase({"total_steps": 5, "pct_start": 0.2}).why
        '`pct_start=0.2` x `total_steps=5` = 1 step: its first phase ends at `pct_start * total_steps - 1` = 0, where it starts'
        >>> one_cycle_empty_phase({"total_steps": 5, "pct_start": 1.0})
        EmptyPhase(why='`pct_start=1.0`: its last phase ends at `total_steps - 1`, where it starts (`pct_start * total_steps - 1`), for any `total_steps`', any_length=True)
        >>> one_cycle_empty_phase({"total_steps": 5, "pct_start": 0.6, "three_phase": True}).why
        '`pct_start=0.6` x `total_steps=5` = 3 steps: its last phase ends at `total_steps - 1` = 4, where it starts (`2 * pct_start * total_steps - 2`)'
        >>> one_cycle_empty_phase({"total_steps": 6, "pct_start": 0.2}), one_cycle_empty_phase({"epochs": 2})
        (None, None)
    """
    limit = one_cycle_steps(kwargs)
    pct = kwargs.get("pct_start", 0.3)
    if limit is None or not is_real(pct):
        return None  # torch refuses the arguments itself
    given, total = limit
    three = bool(kwargs.get("three_phase", False))
    if not three and pct == 1:
        return EmptyPhase(
            f"`pct_start={pct!r}`: its last phase ends at `total_steps - 1`, where it starts "
            "(`pct_start * total_steps - 1`), for any `total_steps`",
            any_length=True,
        )
    first_end = float(pct * total) - 1
    steps = f"`pct_start={pct!r}` x {given} = {pct * total:g} step{'' if pct * total == 1 else 's'}"
    if first_end == 0:
        return EmptyPhase(
            f"{steps}: its first phase ends at `pct_start * total_steps - 1` = 0, where it starts"
        )
    last_start, formula = first_end, "pct_start * total_steps - 1"
    if three:
        last_start, formula = float(2 * pct * total) - 2, "2 * pct_start * total_steps - 2"
    if total - 1 == last_start:
        return EmptyPhase(
            f"{steps}: its last phase ends at `total_steps - 1` = {total - 1}, where it starts (`{formula}`)"
        )
    return None


def _whole(value: Any) -> bool:
    return is_real(value) and float(value).is_integer()


def updates(count: int) -> str:
    """``count`` scheduler updates, in words.

    Example:
        >>> updates(1), updates(8)
        ('1 update', '8 updates')
    """
    return f"{count} update{'' if count == 1 else 's'}"


def transformers_peak_missed(
    name: str, kwargs: Mapping[str, Any], values: int, derived: bool, run: str = ""
) -> str | None:
    """Why transformers' schedule ``name`` with these arguments (its length filled in; ``derived``: from the
    run) never trains at its peak, the declared lr, in a run that trains it with ``values`` values (``run``: those
    values in words, what one update is and what took the rest of the run); ``None`` when it does, or when the
    arguments are not numbers yet (an ``HParam``) or are refused by the class itself.

    Its warmup must end before the run does (transformers accepts any warmup, the lr then rises the whole run);
    and a ``warmup_stable_decay`` whose stable phase is what a length derived from the run leaves must not get a
    negative one (the decay would start before the peak). A length given shorter or longer than the run is
    transformers' own choice (the lr is 0 after a linear decay's end), left as it is. Counts are the scheduler's
    updates (transformers' steps): one per epoch with ``interval="epoch"``. The way out offered is one that fits:
    a shorter warmup where one of at least an update does, else none (a fraction is at least one update).

    Example:
        >>> transformers_peak_missed("linear", {"num_warmup_steps": 7, "num_training_steps": 8}, 8, True) is None
        True
        >>> message = transformers_peak_missed("linear", {"num_warmup_steps": 0.5, "num_training_steps": 100}, 8, False)
        >>> print(message[: message.index(":")])
        Expected the warmup of `LinearWithWarmupLR` to end within the run but got `num_warmup_steps=0.5` (50 updates, rounded up from 0.5 of `num_training_steps`=100) in the run's 8 updates
        >>> print(message[message.index(". ") + 2 :])
        Shorten the warmup to at most 7 updates (`num_warmup_steps=7`; a fraction of `num_training_steps` is rounded up) or lengthen the run.
    """
    cls = TRANSFORMERS_SCHEDULES[name].__name__
    warmup, length = kwargs.get("num_warmup_steps", 0), kwargs.get("num_training_steps")
    number = is_real(warmup) and warmup >= 0
    if not number or (length is None and 0 < warmup < 1) or (length is not None and not _whole(length)):
        return None
    steps = resolve_warmup_steps(warmup, None if length is None else int(length))
    run = run or f"the run's {updates(values)}"
    # the warmup ends where the lr first reaches 1: at `num_warmup_steps`, a step earlier for the shifted one
    shift = 1 if name == "cosine_warmup_with_min_lr" else 0
    if steps and steps - shift >= values:
        fraction = (
            f", rounded up from {warmup!r} of `num_training_steps`={int(length or 0)}" if warmup < 1 else ""
        )
        fits = values - 1 + shift  # the longest warmup that ends within the run
        if fits >= 1:
            fix = (
                f"Shorten the warmup to at most {updates(fits)} (`num_warmup_steps={fits}`; a fraction of "
                "`num_training_steps` is rounded up) or lengthen the run."
            )
        else:
            fix = (
                "The run is too short for a warmup (a fraction of `num_training_steps` is at least 1 update): give "
                "`num_warmup_steps=0` or lengthen the run."
            )
        return (
            f"Expected the warmup of `{cls}` to end within the run but got `num_warmup_steps={warmup!r}` "
            f"({updates(steps)}{fraction}) in {run}: the lr would stay in its warmup for the whole run and never "
            f"reach its declared value. {fix}"
        )
    decay, stable = kwargs.get("num_decay_steps"), kwargs.get("num_stable_steps")
    wsd = name == "warmup_stable_decay" and derived and stable is None and length is not None
    if not wsd or not _whole(decay):
        return None
    total, decay = int(length or 0), int(decay or 0)
    if steps + decay > total:
        return (
            f"Expected `num_warmup_steps` and `num_decay_steps` of `{cls}` to fit in `num_training_steps`, "
            f"derived as {run}, but got {steps} + {decay} = {steps + decay}: the stable phase would be "
            f"{total - steps - decay} updates long, so the decay would start {updates(steps + decay - total)} in "
            "and the lr never reach its declared value. Shorten the warmup or the decay, give `num_stable_steps`, "
            "or lengthen the run."
        )
    return None


def timm_cycle(updates: int, kwargs: Mapping[str, Any]) -> int:
    """timm's ``t_initial`` from the run: the updates after a prefix warmup, split into ``cycle_limit``
    equal cycles (``create_scheduler_v2`` passes the epochs as ``t_initial`` for one cycle)."""
    cycles = kwargs.get("cycle_limit", 1)
    if kwargs.get("cycle_mul", 1.0) != 1.0 and cycles != 1:
        raise ValueError(
            "`t_initial` cannot be derived from the run for cycles of growing length (`cycle_mul` != 1 with "
            "`cycle_limit` > 1); give `t_initial`, the first cycle's length."
        )
    prefix = kwargs.get("warmup_t", 0) if kwargs.get("warmup_prefix", False) else 0
    return (updates - prefix) // cycles

"""Where each optimizer stands in the run: a record in every checkpoint, apart from the fingerprint.

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lightning_optim.building.build import Built
from lightning_optim.building.length import (
    ACCUMULATION,
    BATCHES,
    batches_stand_in,
    driven_everies,
    loop_steps,
    run_facts,
    steps_within,
    windows_reaching,
)
from lightning_optim.training.fingerprint import CHECKPOINT_KEY, POSITIONS_KEY
from lightning_optim.training.outcomes import outcomes_of
from lightning_optim.training.stepping import ManualSchedulerStepping

#: the Trainer's run the checkpoint was written in (``length.run_facts``)
RUN_KEY = "lightning_optim_run"


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

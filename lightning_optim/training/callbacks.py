"""The callbacks the mixin adds to a ``Trainer`` when ``fit`` starts, behind one entry of ``trainer.callbacks``.

Lightning asks every callback for every hook at every batch (a ``getattr`` and a ``callable`` per callback
and hook: eight hooks a manual-optimization batch), so four separate callbacks cost the mixin about sixty
calls a step for hooks they leave unset (``benchmarks/bench_overhead.py``). ``MixinCallbacks`` is the one
entry: each part (a ``MixinCallback``) keeps its own concern and hooks, and the entry answers Lightning's
``getattr`` with ``None`` when no part uses a per-batch hook, with the part's own method when one does, and
with a loop over the parts otherwise.

The parts hold the optimizers and schedules of the module whose ``configure_optimizers`` added them, and a
``Trainer`` can run another module afterwards (a hand-written one, another mixin class; ``fit``, ``validate``,
``test`` or ``predict``). The entry checks once a run, in ``setup`` (Lightning's first hook of every run), that
the run's module is theirs, and otherwise keeps them asleep: no hook, no state in a checkpoint, as if the
Trainer had never run a mixin module. The parts of another mixin module's ``fit`` replace them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from lightning.pytorch import Callback, LightningModule, Trainer

from lightning_optim.utilities import compat

#: Every hook of Lightning's ``Callback`` (``setup``, ``teardown``, ``on_...``), but the state methods.
HOOKS: tuple[str, ...] = tuple(
    name
    for name, value in vars(Callback).items()
    if callable(value) and not name.startswith("_") and name not in ("state_dict", "load_state_dict")
)


class MixinCallback(Callback):
    """A part of the mixin's ``MixinCallbacks``. Per-batch hooks its class does not override are unset, so
    Lightning skips them at every batch (it skips non-callables); ``disable_hook``/``enable_hook`` switch one
    of its hooks off and on, in the entry too."""

    def __init__(self) -> None:
        super().__init__()
        self.entry: MixinCallbacks | None = None
        compat.disable_unused_batch_hooks(self)

    def disable_hook(self, name: str) -> None:
        """Skip this part's hook ``name`` from now on."""
        compat.disable_hook(self, name)
        if self.entry is not None:
            self.entry.refresh(name)

    def enable_hook(self, name: str) -> None:
        """Call this part's hook ``name`` again (its class's method)."""
        vars(self).pop(name, None)
        if self.entry is not None:
            self.entry.refresh(name)


class MixinCallbacks(Callback):
    """The mixin's callbacks as one entry of ``trainer.callbacks``, first, its parts in the order they run.

    Example:
        >>> from lightning.pytorch import LightningModule, Trainer
        >>> class Counts(MixinCallback):
        ...     def on_train_epoch_end(self, trainer, pl_module):
        ...         print("epoch end")
        >>> trainer = Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
        >>> entry = add(trainer, Counts())
        >>> trainer.callbacks[0] is entry, entry.on_train_batch_start, entry.on_train_epoch_end
        (True, None, <bound method Counts.on_train_epoch_end of ...>)
        >>> other = LightningModule()  # a run of a module that did not add the parts: they sleep
        >>> entry.setup(trainer, other, "validate")
        >>> entry.on_train_epoch_end(trainer, other), entry.state_dict()
        (None, {})
    """

    def __init__(self) -> None:
        super().__init__()
        #: the module whose ``configure_optimizers`` added the parts
        self.module: LightningModule | None = None
        #: whether the Trainer runs ``module`` (decided in ``setup``); asleep, no part is called
        self.awake = True
        self.parts: list[MixinCallback] = []
        self.hooks: dict[str, list[Callable[..., Any]]] = {name: [] for name in HOOKS}
        for name in HOOKS:
            self.refresh(name)

    def add(self, part: MixinCallback, module: LightningModule | None) -> None:
        """Make ``part``, added by ``module``'s ``configure_optimizers``, the first part, replacing one of its
        type (from an earlier ``fit`` of ``module``); the parts another module added go."""
        if module is not self.module:
            self.parts, self.module = [], module
        self.awake = True
        self.parts[:] = [part] + [p for p in self.parts if type(p) is not type(part)]
        part.entry = self
        for name in HOOKS:
            self.refresh(name)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Wake the parts for a run of their module, put them to sleep for a run of any other (before
        ``configure_optimizers``, which adds the parts of a mixin module's ``fit``); then the parts' ``setup``."""
        if (pl_module is self.module) is not self.awake:
            self.awake = not self.awake
            for name in HOOKS:
                self.refresh(name)
        for hook in self.hooks["setup"]:
            hook(trainer, pl_module, stage)

    def refresh(self, name: str) -> None:
        """Answer Lightning's ``getattr(entry, name)`` from the parts' current hooks."""
        hooks = [hook for part in self.awake_parts() if (hook := _own_hook(part, name)) is not None]
        self.hooks[name] = hooks
        if name in _CHECKED_FIRST:
            return  # the class's method, which calls them after its check
        if not hooks and name in compat.PER_BATCH_HOOKS:
            compat.disable_hook(self, name)
        elif len(hooks) == 1:
            setattr(self, name, hooks[0])
        else:
            vars(self).pop(name, None)  # the class's loop over the parts

    def awake_parts(self) -> list[MixinCallback]:
        """The parts the Trainer calls: none while it runs another module than theirs."""
        return self.parts if self.awake else []

    def state_dict(self) -> dict[str, Any]:
        """Each part's state (one that builds a checkpoint's contents acts here), by its class name."""
        return {type(part).__qualname__: state for part in self.awake_parts() if (state := part.state_dict())}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for part in self.awake_parts():
            if state := state_dict.get(type(part).__qualname__):
                part.load_state_dict(state)


#: The hooks the entry defines itself, to check something before it calls the parts'.
_CHECKED_FIRST = frozenset({"setup"})


def _own_hook(part: MixinCallback, name: str) -> Callable[..., Any] | None:
    """``part``'s hook ``name``, unless it is unset or ``Callback``'s empty one."""
    if name not in vars(part) and getattr(type(part), name) is getattr(Callback, name):
        return None
    hook = getattr(part, name)
    return hook if callable(hook) else None


def _calling_every_part(name: str) -> Callable[..., None]:
    def hook(self: MixinCallbacks, *args: Any, **kwargs: Any) -> None:
        for part_hook in self.hooks[name]:
            part_hook(*args, **kwargs)

    hook.__name__ = hook.__qualname__ = name
    return hook


for _name in HOOKS:
    if _name not in _CHECKED_FIRST:
        setattr(MixinCallbacks, _name, _calling_every_part(_name))


def entry_of(trainer: Trainer) -> MixinCallbacks | None:
    """The ``MixinCallbacks`` of ``trainer``, if a mixin module added parts to it."""
    return next((c for c in cast(Any, trainer).callbacks if isinstance(c, MixinCallbacks)), None)


def add(trainer: Trainer, part: MixinCallback) -> MixinCallbacks:
    """Add ``part`` to the ``MixinCallbacks`` of ``trainer`` (made first in ``trainer.callbacks``) for the module
    being configured, replacing a part of its type from an earlier ``fit`` of it; the entry."""
    callbacks: list[Callback] = cast(Any, trainer).callbacks
    entry = entry_of(trainer) or MixinCallbacks()
    if not callbacks or callbacks[0] is not entry:
        callbacks[:] = [entry] + [c for c in callbacks if c is not entry]
    entry.add(part, trainer.lightning_module)
    return entry


def installed(trainer: Trainer, part: MixinCallback) -> bool:
    """Whether ``part`` is one of the parts ``trainer`` calls."""
    entry = part.entry
    return entry is not None and entry in cast(Any, trainer).callbacks and part in entry.awake_parts()

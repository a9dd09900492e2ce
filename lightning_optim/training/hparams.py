"""Rebuild the declared optimizers when a callback changes an ``HParam`` value after they were built.

Lightning's ``LearningRateFinder`` callback runs its search in ``on_fit_start``, after
``configure_optimizers`` built the optimizers, and then writes its suggestion to ``module.lr`` (or
``module.hparams.lr``) and into every param group of the live optimizer. That leaves the declared run
inexact: a group declared with its own lr gets the suggestion too, a scheduler keeps its old base lrs, and
the resume fingerprint records the old value. So when a module's declarations read ``HParam``s, the mixin
puts ``HParamRefresh`` last among the callbacks; in ``on_fit_start`` (after every other callback's) it reads
the values again and, if one changed, has the strategy build the optimizers again, which runs the mixin's
``configure_optimizers`` with the new values. Nothing has trained yet, and a checkpoint being resumed is
restored after ``on_fit_start``, into the rebuilt optimizers.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, cast

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.strategies import Strategy
from typing_extensions import override

from lightning_optim.building.hparams import hparam_values, same_values
from lightning_optim.training.callbacks import MixinCallback


class HParamRefresh(MixinCallback):
    """Rebuilds the optimizers in ``on_fit_start`` when an ``HParam`` value changed since they were built."""

    def __init__(self, owner: str, module: LightningModule, values: Mapping[str, Any]) -> None:
        super().__init__()
        self.owner = owner
        self.module_id = id(module)
        #: the values the optimizers were built with, by hyperparameter name
        self.values = dict(values)

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if id(pl_module) != self.module_id:
            return  # left by an earlier `fit` of another module
        now = hparam_values(pl_module, type(pl_module)._lightning_optim_declared)  # type: ignore[attr-defined]
        if same_values(now, self.values):
            return
        strategy = trainer.strategy
        if type(strategy).setup_optimizers is not Strategy.setup_optimizers:
            warnings.warn(
                f"{self.owner}: a hyperparameter the declarations read changed after the optimizers were built "
                f"(in `on_fit_start`, e.g. by the LR finder), but `{type(strategy).__name__}` builds its "
                "optimizers itself and they cannot be rebuilt now; call `fit` again to use the new value.",
                UserWarning,
                stacklevel=2,
            )
            return
        strategy.setup_optimizers(trainer)  # calls the mixin's `configure_optimizers` with the new values


def install(owner: str, trainer: Trainer, module: LightningModule, values: Mapping[str, Any] | None) -> None:
    """Put an ``HParamRefresh`` last in the callbacks, or where the one of an earlier ``fit`` was; with
    ``values=None`` (declarations without ``HParam``s) remove the one of an earlier ``fit``.

    Replaced in place: this runs inside ``on_fit_start`` when the refresh rebuilds, while Lightning iterates
    over the same list.
    """
    callbacks: list[Callback] = cast(Any, trainer).callbacks
    index = next((i for i, c in enumerate(callbacks) if isinstance(c, HParamRefresh)), None)
    if values is None:
        if index is not None:
            del callbacks[index]
        return
    refresh = HParamRefresh(owner, module, values)
    if index is None:
        callbacks.append(refresh)
    else:
        callbacks[index] = refresh

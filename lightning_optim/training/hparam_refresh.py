"""Take ``HParam`` values a callback changes after the optimizers were built, before anything trains.

Lightning's ``LearningRateFinder`` callback runs its search in ``on_fit_start``, after
``configure_optimizers`` built the optimizers, then writes its suggestion to ``module.lr`` (or
``module.hparams.lr``) and into every param group of the live optimizer, so a group declared with its own lr
gets the suggestion too. When a module's declarations read ``HParam``s, the mixin puts ``HParamRefresh`` last
among the callbacks: in ``on_fit_start`` (after every other callback's) it reads the values again, and if
one changed it resolves the declarations with them. Where only values changed (an lr, a weight decay, a
schedule's arguments), the live param groups get the options the new declaration gives them and the
schedules their new recipe: they are built when training starts anyway. Where the groups themselves change
(a ``layer_decay`` or ``no_decay`` value, another class or implementation, another stepping of a scheduler,
another ``every`` or ``skip_nonfinite``: the mixin's training step and skip count are installed with the build),
the strategy builds the optimizers again (running the mixin's ``configure_optimizers``). Nothing has trained
yet, and a checkpoint being resumed is restored after ``on_fit_start``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, MutableSequence, Sequence
from typing import Any, cast

from lightning.pytorch import Callback, LightningModule, Trainer
from typing_extensions import override

from lightning_optim.building.build import Built, reset_groups
from lightning_optim.building.hparam_values import hparam_values, same_values, values_resolved
from lightning_optim.declaring.construct import recipe
from lightning_optim.declaring.optimizer import ResolvedOptimizer, declared_of
from lightning_optim.groups.plan import GroupPlan
from lightning_optim.groups.planning import plan_all
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.utilities import compat


def _same_stepping(a: ResolvedOptimizer, b: ResolvedOptimizer) -> bool:
    """Whether two resolutions build the same optimizer, step it alike (``every``, ``skip_nonfinite``: read by
    the callbacks ``fit`` installs) and step the same schedulers (values aside)."""
    stepping = [
        [(s.cls, s.interval, s.spec.frequency, s.spec.monitor, s.spec.param) for s in d.schedulers]
        for d in (a, b)
    ]
    options = [(d.spec.implementation, d.spec.every, d.spec.skip_nonfinite) for d in (a, b)]
    return a.cls is b.cls and options[0] == options[1] and stepping[0] == stepping[1]


def _layout(groups: Sequence[GroupPlan]) -> list[tuple[str | None, list[int]]]:
    return [(g.name, [id(p) for _, p in g.parameters]) for g in groups]


class HParamRefresh(MixinCallback):
    """Puts ``HParam`` values changed since ``configure_optimizers`` into the optimizers, in ``on_fit_start``."""

    def __init__(
        self, owner: str, module: LightningModule, values: Mapping[str, Any], built: MutableSequence[Built]
    ) -> None:
        super().__init__()
        self.owner = owner
        self.module_id = id(module)
        #: the values the optimizers were built with, by hyperparameter name
        self.values = dict(values)
        self.built = built

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if id(pl_module) != self.module_id:
            return  # left by an earlier `fit` of another module
        now = hparam_values(pl_module, declared_of(pl_module))
        if same_values(now, self.values):
            return
        self.values = now
        declared_all = values_resolved(pl_module, declared_of(pl_module))
        plans = plan_all(pl_module, [d.grouping for d in declared_all])
        if all(
            _same_stepping(b.declared, d) and _layout(b.groups) == _layout(plan)
            for b, d, plan in zip(self.built, declared_all, plans)
        ):
            for index, (b, declared, plan) in enumerate(zip(self.built, declared_all, plans)):
                built = dataclasses.replace(b, declared=declared, groups=plan)
                reset_groups(built)
                names = built.group_names
                for schedule, scheduler in built.scheduled():
                    schedule.make = recipe(scheduler, names, built.scales)
                    schedule.warmup_start_factor = scheduler.spec.warmup_start_factor
                self.built[index] = built
            return
        strategy = trainer.strategy
        if (
            type(strategy).setup_optimizers
            is not compat.lightning_base(type(strategy), "strategies.Strategy").setup_optimizers
        ):
            warnings.warn(
                f"{self.owner}: a hyperparameter the declarations read changed after the optimizers were built "
                f"(in `on_fit_start`, e.g. by the LR finder), but `{type(strategy).__name__}` builds its "
                "optimizers itself and they cannot be rebuilt now; call `fit` again to use the new value.",
                UserWarning,
                stacklevel=2,
            )
            return
        strategy.setup_optimizers(trainer)  # calls the mixin's `configure_optimizers` with the new values


def install(
    owner: str,
    trainer: Trainer,
    module: LightningModule,
    values: Mapping[str, Any] | None,
    built: MutableSequence[Built],
) -> None:
    """Put an ``HParamRefresh`` last in the callbacks, or where the one of an earlier ``fit`` was; with
    ``values=None`` (declarations without ``HParam``s) remove the one of an earlier ``fit``.

    Replaced in place: this runs inside ``on_fit_start`` when the refresh rebuilds, while Lightning iterates
    over the same list.
    """
    callbacks: list[Callback] = cast(Any, trainer).callbacks
    at = next((i for i, c in enumerate(callbacks) if isinstance(c, HParamRefresh)), len(callbacks))
    callbacks[at : at + 1] = [] if values is None else [HParamRefresh(owner, module, values, built)]

"""Parameters unfrozen after the optimizers were built: refused, since no optimizer would train them.

The mixin builds its optimizers from the parameters that are trainable when ``fit`` starts (API.md: ``params``
and the last group take *trainable* parameters), so a backbone frozen then is in no optimizer. A hand-written
``Adam(self.parameters())`` holds the frozen parameters too, and a module that unfreezes them later
(``requires_grad_(True)`` in ``on_train_epoch_start``) trains them from then on; with the declarations they
would silently keep their values. ``UnfrozenGuard`` checks, before the first batch of every epoch (after every
epoch-start hook, the module's included) and at every epoch end, that each trainable parameter is in an
optimizer, and otherwise stops with an error naming them and the fix: Lightning's ``BackboneFinetuning`` (or
``BaseFinetuning.unfreeze_and_add_param_group``) unfreezes a module and adds it to an optimizer at once. A
parameter that did not exist when the optimizers were built (a submodule replaced in ``on_fit_start``) is in no
optimizer either: the error tells it apart, by the parameters recorded then, and says where to build it instead.

A strategy that builds its optimizers itself (FSDP, DeepSpeed) holds other parameter objects than the
module's; the check is left out there.
"""

from __future__ import annotations

import weakref
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from lightning_optim.training import callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import listing


def unheld(module: Any, optimizers: list[Any]) -> list[str]:
    """The names of ``module``'s trainable parameters that none of ``optimizers`` holds.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(2, 2)
        >>> unheld(net, [torch.optim.SGD([net.weight], lr=0.1)])
        ['bias']
    """
    held = {id(p) for optimizer in optimizers for group in optimizer.param_groups for p in group["params"]}
    return [name for name, p in module.named_parameters() if p.requires_grad and id(p) not in held]


class UnfrozenGuard(MixinCallback):
    """Refuses a parameter made trainable after the optimizers were built (see the module docstring)."""

    def __init__(self, owner: str, module: Any) -> None:
        super().__init__()
        self.owner = owner
        # the parameters the optimizers were built from, frozen ones included: only read to word an error, by
        # weak reference (a replaced one may be freed and its id reused)
        self.built_from = {id(p): weakref.ref(p) for p in module.parameters()}

    def _existed(self, param: Any) -> bool:
        ref = self.built_from.get(id(param))
        return ref is not None and ref() is param

    def _check(self, trainer: Trainer, pl_module: LightningModule) -> None:
        names = unheld(pl_module, trainer.optimizers)
        if not names:
            return
        params = dict(pl_module.named_parameters())
        unfrozen = [name for name in names if self._existed(params[name])]
        new = [name for name in names if not self._existed(params[name])]
        reasons = []
        if unfrozen:
            reasons.append(
                f"{listing(unfrozen, limit=6)} made trainable at epoch {trainer.current_epoch}, after the optimizers were "
                "built from the parameters trainable when `fit` started: no optimizer holds them, so they would "
                "keep their values. Unfreeze them with Lightning's `BackboneFinetuning` callback, or call "
                "`BaseFinetuning.unfreeze_and_add_param_group(modules, optimizer)` where you unfreeze them: either "
                "adds them to an optimizer as it unfreezes them (the callback also puts its group back in a "
                "resumed run; a group your own hook adds must be added again there, in `on_fit_start`, before "
                "Lightning loads the optimizer state)"
            )
        if new:
            reasons.append(
                f"{listing(new, limit=6)}, which did not exist when the optimizers were built (`configure_optimizers`, as "
                "`fit` started): a submodule replaced or added since (in a hook such as `on_fit_start` or "
                f"`on_train_epoch_start`, by epoch {trainer.current_epoch}) has new parameters that no optimizer "
                "holds, so they would keep their values. Build or replace submodules in `__init__`, `setup` or "
                "`configure_model`, which `fit` calls before it builds the optimizers"
            )
        raise ValueError(
            f"{self.owner}: Expected every trainable parameter to be trained by an optimizer but got "
            + "; and ".join(reasons)
            + "."
        )

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.enable_hook("on_train_batch_start")  # after the module's own `on_train_epoch_start`

    @override
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.disable_hook("on_train_batch_start")
        self._check(trainer, pl_module)

    on_train_epoch_end = _check


def install(owner: str, trainer: Trainer) -> None:
    """Check, at every epoch, that no parameter was unfrozen out of every optimizer (not on strategies that
    build their optimizers themselves)."""
    strategy = type(trainer.strategy)
    if strategy.setup_optimizers is compat.lightning_base(strategy, "strategies.Strategy").setup_optimizers:
        callbacks.add(trainer, UnfrozenGuard(owner, trainer.lightning_module))

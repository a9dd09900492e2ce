"""The live optimizer behind ``self.<attribute>`` during a run, cached per module.

``self.gen_opt.step()`` in a ``training_step`` looks the live optimizer up at every access, several times a
step. Asking Lightning each time (``self.optimizers()``) made the README's manual loop cost 8.7% more than the
hand-written one (issue 23). So the mixin keeps, in the module's ``__dict__``, the optimizers it found for one
Trainer's list of optimizer wrappers, and ``OptimizerSpec.__get__`` answers from it after two identity checks:
the module is attached to the same Trainer, and the strategy still holds the same list (Lightning replaces
that list, never changes it in place, whenever it sets optimizers: a new ``fit``, a resume, a strategy that
wraps them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning_optim.utilities import compat

#: The key of a module's ``LiveOptimizers`` in its ``__dict__`` (dropped when the module is pickled).
LIVE_CACHE = "_lightning_optim_live"


class LiveOptimizers:
    """The live optimizer of each declaration (by ``id`` of its ``OptimizerSpec``), as Lightning's optimizer
    wrappers of one Trainer hold them; valid while ``current`` says so.

    Example:
        >>> import lightning as L
        >>> module = L.LightningModule()
        >>> LiveOptimizers.current_for(module) is None  # never cached: ask the mixin
        True
    """

    __slots__ = ("by_spec", "strategy", "trainer", "wrappers")

    def __init__(self, trainer: Any, by_declaration: Sequence[Any]) -> None:
        self.trainer = trainer
        self.strategy = trainer.strategy
        self.wrappers = compat.lightning_optimizers(trainer)
        # before `configure_optimizers` ran (or with another optimizer count): the declarations themselves
        self.by_spec: dict[int, Any] = (
            {id(spec): wrapper for spec, wrapper in zip(by_declaration, self.wrappers)}
            if len(self.wrappers) == len(by_declaration)
            else {}
        )

    @staticmethod
    def current_for(module: Any) -> LiveOptimizers | None:
        """The cache of ``module`` if it is still valid, else ``None``. On the path of every access: keep it to
        a dict lookup and two identity checks through C calls."""
        cached: LiveOptimizers | None = module.__dict__.get(LIVE_CACHE)
        if (
            cached is not None
            and compat.module_trainer(module) is cached.trainer
            and compat.strategy_wrappers(cached.strategy) is cached.wrappers
        ):
            return cached
        return None

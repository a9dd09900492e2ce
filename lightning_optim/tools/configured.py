"""The module as ``fit`` plans its optimizers over it: with the layers its ``configure_model`` hook builds.

Lightning calls ``configure_model`` (and the legacy ``configure_sharded_model``) in every ``fit``, before
``configure_optimizers``, under the strategy's init contexts (sharded, on the device, in the precision's dtype),
and documents the hook as idempotent: once it has built the layers, calling it again does nothing. A module
that builds its layers there has none before ``fit``, so ``describe_optimizers`` and ``preview_schedule`` would
plan its optimizers over nothing.

They call the hook on a copy of the module that shares its initialized parameters (the bulk of its memory is not
allocated twice) and holds its own buffers and lazy parameters, which a forward run by the hook writes (a lazy
layer materializes in place, a ``BatchNorm`` updates its running statistics), on a fork of torch's random state,
so that the module is left as it was and a seeded ``fit`` after them builds the layers it would have built.
Calling it on the user's module instead would build the layers outside the Trainer's contexts, and its own
``fit`` would then find them built and skip them (an idempotent hook returns early): a sharded model would be
materialized whole on the CPU, a ``"16-true"`` one built in float32 first.

``setup`` is not called: Lightning calls it inside ``fit`` with a Trainer attached and a stage, which the tools
do not have, and it is not documented as idempotent. A module left without any parameter that overrides it is
told so (``check_built``), instead of the message ``fit`` gives a module that builds no layers. One that has
parameters may build more there, or none (``setup`` often only prepares data): the tools cannot tell, nor whether
it already ran, so they plan over the layers it has, and a refusal of the plan (a selector matching none, a
lazy layer's unknown shape, a parameter no optimizer takes, ...) ends with ``setup_note``, which says so.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from lightning_optim.groups.plan import GroupPlan
from lightning_optim.groups.planning import Grouping, plan_all
from lightning_optim.utilities import compat
from lightning_optim.utilities.lazy import is_uninitialized

#: Lightning's hooks that build the layers in ``fit``, in the order ``fit`` calls them.
BUILDING_HOOKS = ("configure_sharded_model", "configure_model")


def as_fit_builds(tool: str, module: torch.nn.Module, *, owned: bool = False) -> torch.nn.Module:
    """``module`` with the layers its overridden ``configure_model`` builds: ``module`` itself when it overrides
    no building hook or when ``owned`` (the tool built it, from a class), else a copy sharing its initialized
    parameters.

    Example:
        >>> import lightning as L
        >>> from torch import nn
        >>> class Model(L.LightningModule):
        ...     def configure_model(self):
        ...         if not hasattr(self, "net"):
        ...             self.net = nn.Linear(2, 1)
        >>> model = Model()
        >>> [name for name, _ in as_fit_builds("describe_optimizers", model).named_parameters()]
        ['net.weight', 'net.bias']
        >>> list(model.parameters())
        []
    """
    hooks = [hook for hook in BUILDING_HOOKS if _overrides(module, hook)]
    if not hooks:
        check_built(tool, module)
        return module
    if not owned:
        # the initialized parameters map to themselves: the copy's are the module's
        shared = {id(p): p for p in module.parameters() if not is_uninitialized(p)}
        try:
            module = copy.deepcopy(module, shared)
        except Exception as err:
            raise TypeError(
                f"{tool}: Expected to copy `{type(module).__qualname__}` to call its `{hooks[-1]}` (which builds the "
                f"layers `fit` plans the optimizers over) but copying it failed: {type(err).__name__}: {err}. "
                f"Call `module.{hooks[-1]}()` before `{tool}`, or build the layers in `__init__`."
            ) from err
    for hook in hooks:
        try:
            with torch.random.fork_rng(devices=[]):  # the layers `fit` builds draw from the seed, not these
                getattr(module, hook)()
        except Exception as err:
            raise ValueError(
                f"{tool}: Expected `{type(module).__qualname__}.{hook}` to build the module's layers without a "
                f"Trainer, as `fit` calls it before building the optimizers, but it raised {type(err).__name__}: "
                f"{err}. Build the layers in `__init__`, or call `{tool}` on a module whose layers are built "
                "(the hook must then return early, as Lightning requires it to be idempotent)."
            ) from err
    check_built(tool, module)
    return module


def fit_plans(
    tool: str, module: torch.nn.Module, groupings: Sequence[Grouping], *, owned: bool = False
) -> tuple[torch.nn.Module, list[list[GroupPlan]]]:
    """``module`` as ``fit`` builds it (``as_fit_builds``) and each declared optimizer's group plan over it; a
    refusal of the plan for a module that overrides ``setup`` ends with ``setup_note``."""
    built = as_fit_builds(tool, module, owned=owned)
    try:
        return built, plan_all(built, groupings)
    except ValueError as err:
        note = setup_note(tool, built)
        if note is not None:
            err.args = (f"{err} {note}",)  # the same error (its class, cause and traceback), told of `setup`
        raise


def setup_note(tool: str, module: torch.nn.Module) -> str | None:
    """The sentence telling that the layers ``module``'s overridden ``setup`` builds are not in ``tool``'s plan
    (until it has run); ``None`` where ``module`` does not override ``setup``.

    Example:
        >>> import lightning as L
        >>> class Model(L.LightningModule):
        ...     def setup(self, stage):
        ...         pass
        >>> print(setup_note("describe_optimizers", Model()))
        `Model` overrides `setup`, which `describe_optimizers` does not call: layers it builds are planned only once it has run (call ...
        >>> setup_note("describe_optimizers", L.LightningModule()) is None
        True
    """
    if not _overrides(module, "setup"):
        return None
    return (
        f"`{type(module).__qualname__}` overrides `setup`, which `{tool}` does not call: layers it builds are "
        f"planned only once it has run (call `{tool}` after `model.setup('fit')` or after `trainer.fit`, or build "
        f"them in `configure_model`, which `{tool}` calls as `fit` does)."
    )


def check_built(tool: str, module: torch.nn.Module) -> None:
    """Raise if ``module`` has no parameters and overrides ``setup``: its layers are built there, in ``fit``,
    which ``tool`` does not call.

    Example:
        >>> import lightning as L
        >>> from torch import nn
        >>> class Model(L.LightningModule):
        ...     def setup(self, stage):
        ...         self.net = nn.Linear(2, 1)
        >>> check_built("describe_optimizers", Model())
        Traceback (most recent call last):
        ...
        ValueError: describe_optimizers: Expected the layers `fit` plans the optimizers over but `Model` has no parameters yet: ...
    """
    if next(module.parameters(), None) is not None or not _overrides(module, "setup"):
        return
    name = type(module).__qualname__
    raise ValueError(
        f"{tool}: Expected the layers `fit` plans the optimizers over but `{name}` has no parameters yet: it "
        f"overrides `setup`, which `{tool}` does not call (Lightning calls it inside `fit`, with the Trainer "
        f"attached and a stage). Build the layers in `__init__` or in `configure_model` (which `{tool}` calls "
        f"as `fit` does), or call `{tool}` once they are built: after `trainer.fit`, or after "
        "`model.setup('fit')` where `setup` builds them only once."
    )


def _overrides(module: Any, hook: str) -> bool:
    return isinstance(module, compat.lightning_classes("LightningModule")) and compat.is_overridden(
        hook, module
    )

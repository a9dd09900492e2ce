"""Param-group views: a torch lr scheduler driving another numeric option (weight decay, momentum, beta1).

Recipes schedule more than the lr: DINO raises the weight decay from 0.04 to 0.4 along a cosine, others
ramp momentum or Adam's ``beta1``. Every torch scheduler reads and writes ``group["lr"]`` and
``group["initial_lr"]``; rather than re-implementing each schedule per option (mmengine's ``param_name``),
the scheduler is built over a *proxy* optimizer whose param groups are views of the real ones in which
``"lr"`` is the driven option and ``"initial_lr"`` is ``"initial_<param>"``. So
``CosineAnnealingLR(proxy, T_max, eta_min=0.4)`` moves each group's weight decay from its declared value to
0.4, with torch's own formula. ``Schedule(param=...)`` builds its scheduler over such a proxy.

Keys of the view other than ``"lr"`` and ``"initial_lr"`` read through to the real group (``"params"``,
...); other keys a scheduler writes (``OneCycleLR``'s ``"max_lr"``) stay in the view, so they never change
the real optimizer's options.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import torch

from lightning_optim.utilities import compat

#: ``param`` names that drive an element of ``betas`` rather than a key of their own.
BETA_ALIASES = {"beta1": 0, "beta2": 1}


def target_of(param: str, group: Mapping[str, Any]) -> tuple[str, int | None]:
    """Where ``param`` lives in a param group: ``(key, None)``, or ``("betas", i)`` for ``beta1``/``beta2``
    in a group without a key of that name (transformers' ``Adafactor`` keeps its own ``beta1``) and for
    ``momentum`` on an optimizer with ``betas`` and no ``momentum`` (as ``LRMonitor`` reads it).

    Example:
        >>> target_of("weight_decay", {"weight_decay": 0.0}), target_of("momentum", {"betas": (0.9, 0.99)})
        (('weight_decay', None), ('betas', 0))
        >>> target_of("beta1", {"betas": (0.9, 0.99)}), target_of("beta1", {"beta1": 0.9})
        (('betas', 0), ('beta1', None))
    """
    if param in BETA_ALIASES and param not in group:
        return "betas", BETA_ALIASES[param]
    if param == "momentum" and "momentum" not in group and "betas" in group:
        return "betas", 0
    return param, None


def set_value(group: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Write ``value`` as torch's schedulers do: in place into a tensor option, else as a number.

    Example:
        >>> group = {"lr": torch.tensor(0.1)}
        >>> set_value(group, "lr", 0.5); group["lr"]
        tensor(0.5000)
    """
    current = group[key]
    if isinstance(current, torch.Tensor):
        current.fill_(value)
    else:
        group[key] = value


class ParamGroupView(MutableMapping[str, Any]):
    """A real param group seen by a scheduler: ``"lr"`` is ``param``, ``"initial_lr"`` is
    ``"initial_<param>"``.

    Example:
        >>> group = {"params": [], "lr": 0.1, "weight_decay": 0.04}
        >>> view = ParamGroupView(group, "weight_decay")
        >>> view["lr"], view.setdefault("initial_lr", view["lr"])
        (0.04, 0.04)
        >>> view["lr"] = 0.4
        >>> group["weight_decay"], group["initial_weight_decay"], group["lr"]
        (0.4, 0.04, 0.1)
    """

    def __init__(self, group: MutableMapping[str, Any], param: str, held: bool = False) -> None:
        self.group = group
        self.param = param
        #: the scheduler's writes of the driven option are dropped (a no-decay group keeps its 0)
        self.held = held
        self.key, self.index = target_of(param, group)
        self.initial_key = f"initial_{param}"
        #: the real group's keys behind the view's ``"lr"`` and ``"initial_lr"``
        self.real_keys = {"lr": self.key, "initial_lr": self.initial_key}
        #: keys the scheduler wrote other than the driven ones, kept out of the real group
        self.own: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key == "lr" and self.index is not None:
            return self.group[self.key][self.index]
        real = self.real_keys.get(key)
        if real is not None:
            return self.group[real]
        if key in self.own:
            return self.own[key]
        return self.group[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "lr" and self.held:
            return
        if key == "lr" and self.index is not None:
            values = self.group[self.key]
            if isinstance(values[self.index], torch.Tensor):
                values[self.index].fill_(value)
            else:
                updated = list(values)
                updated[self.index] = value
                self.group[self.key] = type(values)(updated) if isinstance(values, tuple) else updated
            return
        real = self.real_keys.get(key)
        if real is None:
            self.own[key] = value
        elif real in self.group and key == "lr":
            set_value(self.group, real, value)
        else:
            self.group[real] = value

    def __delitem__(self, key: str) -> None:
        real = self.real_keys.get(key)
        if real is not None:
            del self.group[real]
        else:
            del self.own[key]

    def __iter__(self) -> Iterator[str]:
        keys = [k for k in self.group if k not in (self.key, self.initial_key, "lr", "initial_lr")]
        keys += ["lr"] + (["initial_lr"] if self.initial_key in self.group else [])
        return iter(dict.fromkeys([*keys, *self.own]))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        if key == "lr":
            return True
        if key == "initial_lr":
            return self.initial_key in self.group
        return key in self.own or key in self.group


class ProxyOptimizer(torch.optim.Optimizer):
    """An optimizer in name only: the views of ``optimizer``'s param groups, for a scheduler to act on.

    It never steps; whether the real optimizer stepped (torch warns when a scheduler steps before its
    optimizer) is read from the real one, which is marked when it steps.

    Raises:
        ValueError: If a group's ``param`` is not numeric (or ``param`` is ``"lr"``, the real optimizer's).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, param: str) -> None:
        # Optimizer.__init__ is not called: it would build param groups of its own
        if param == "lr":
            raise ValueError("ProxyOptimizer: `param='lr'` is the real optimizer's; use it directly.")
        for index, group in enumerate(optimizer.param_groups):
            key, element = target_of(param, group)
            value = group.get(key)
            if element is not None and isinstance(value, (tuple, list)) and len(value) > element:
                value = value[element]
            if isinstance(value, bool) or not isinstance(value, (numbers.Real, torch.Tensor)):
                raise ValueError(
                    f"ProxyOptimizer: Expected param group {index} to have a numeric `{param}` but got {value!r}."
                )
        compat.track_steps(optimizer)
        self.real = optimizer
        self.param = param
        self._views: list[ParamGroupView] = []
        defaults = dict(optimizer.defaults)
        if self.param_groups:
            defaults["lr"] = self.param_groups[0]["lr"]
        self.defaults = defaults

    @property
    def param_groups(self) -> list[ParamGroupView]:  # type: ignore[override]
        """Views of the real groups; renewed when the real optimizer replaces its group dicts (as its
        ``load_state_dict`` does), keeping what the scheduler wrote into each view and whether it holds its
        group (read from the decay a group is built with: a restored one may hold a 0 the schedule set)."""
        groups = self.real.param_groups
        if len(groups) != len(self._views) or any(v.group is not g for v, g in zip(self._views, groups)):
            views = [ParamGroupView(group, self.param, self._held(group)) for group in groups]
            same_groups = len(views) == len(self._views)
            for view, old in zip(views, self._views):
                view.own = old.own
                if same_groups:
                    view.held = old.held
            self._views = views
        return self._views

    def _held(self, group: MutableMapping[str, Any]) -> bool:
        """A group without weight decay in an optimizer that has one (the groups ``no_decay`` and
        ``decay_mult=0`` make) keeps none: a weight-decay schedule drives the decayed groups only, as DINO's
        loop does (``eta_min`` would otherwise decay biases and norms)."""
        if self.param != "weight_decay":
            return False
        return not float(group.get("weight_decay", 0.0)) and bool(
            float(self.real.defaults.get("weight_decay", 0.0))
        )

    @property
    def state(self) -> Any:  # type: ignore[override]
        return self.real.state

    # torch's schedulers read and write ``optimizer._opt_called`` (see ``compat.PRIVATE_APIS``)
    @property
    def _opt_called(self) -> bool:
        return compat.has_stepped(self.real)

    @_opt_called.setter
    def _opt_called(self, value: bool) -> None:
        compat.mark_stepped(self.real, value)

    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        raise RuntimeError("a proxy optimizer does not step; step the real optimizer")

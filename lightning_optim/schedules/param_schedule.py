"""``ParamSchedule``: any lr scheduler driving another numeric param-group option (weight decay, momentum).

Recipes schedule more than the lr: DINO raises the weight decay from 0.04 to 0.4 along a cosine, others
ramp momentum or Adam's ``beta1``. Every torch scheduler (and this package's ``Warmup``/``Window``) reads and
writes ``group["lr"]`` and ``group["initial_lr"]``; rather than re-implementing each schedule per option
(mmengine's ``param_name``), the scheduler is built over a *proxy* optimizer whose param groups are views of
the real ones in which ``"lr"`` is the driven option and ``"initial_lr"`` is ``"initial_<param>"``. So
``CosineAnnealingLR(proxy, T_max, eta_min=0.4)`` moves each group's weight decay from its declared value to
0.4, with torch's own formula.

The wrapper is an ``LRScheduler`` whose ``optimizer`` is the real optimizer (Lightning checks that a
scheduler's ``optimizer`` is one of the module's optimizers); ``step``, ``state_dict`` and
``load_state_dict`` delegate to the inner scheduler, so a checkpoint resumes it exactly. ``get_last_lr()``
returns the driven values (the weight decays), not the lrs.

Keys of the view other than ``"lr"`` and ``"initial_lr"`` read through to the real group (``"params"``,
...); other keys a scheduler writes (``OneCycleLR``'s ``"max_lr"``) stay in the view, so they never change
the real optimizer's options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from lightning_optim.utilities import compat

#: ``param`` names that drive an element of ``betas`` rather than a key of their own.
BETA_ALIASES = {"beta1": 0, "beta2": 1}


def target_of(param: str, group: MutableMapping[str, Any]) -> tuple[str, int | None]:
    """Where ``param`` lives in a param group: ``(key, None)``, or ``("betas", i)`` for ``beta1``/``beta2``
    and for ``momentum`` on an optimizer with ``betas`` and no ``momentum`` (as ``LRMonitor`` reads it).

    Example:
        >>> target_of("weight_decay", {"weight_decay": 0.0}), target_of("momentum", {"betas": (0.9, 0.99)})
        (('weight_decay', None), ('betas', 0))
    """
    if param in BETA_ALIASES:
        return "betas", BETA_ALIASES[param]
    if param == "momentum" and "momentum" not in group and "betas" in group:
        return "betas", 0
    return param, None


def _set_value(group: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Write ``value`` as torch's schedulers do: in place into a tensor option, else as a number."""
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

    def __init__(self, group: MutableMapping[str, Any], param: str) -> None:
        self.group = group
        self.param = param
        self.key, self.index = target_of(param, group)
        self.initial_key = f"initial_{param}"
        #: keys the scheduler wrote other than the driven ones, kept out of the real group
        self.own: dict[str, Any] = {}

    def _real(self, key: str) -> str | None:
        if key == "lr":
            return self.key
        if key == "initial_lr":
            return self.initial_key
        return None

    def __getitem__(self, key: str) -> Any:
        if key == "lr" and self.index is not None:
            return self.group[self.key][self.index]
        real = self._real(key)
        if real is not None:
            return self.group[real]
        if key in self.own:
            return self.own[key]
        return self.group[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "lr" and self.index is not None:
            values = self.group[self.key]
            if isinstance(values[self.index], torch.Tensor):
                values[self.index].fill_(value)
            else:
                updated = list(values)
                updated[self.index] = value
                self.group[self.key] = type(values)(updated) if isinstance(values, tuple) else updated
            return
        real = self._real(key)
        if real is None:
            self.own[key] = value
        elif real in self.group and key == "lr":
            _set_value(self.group, real, value)
        else:
            self.group[real] = value

    def __delitem__(self, key: str) -> None:
        real = self._real(key)
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
    optimizer) is read from the real one.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, param: str) -> None:
        # Optimizer.__init__ is not called: it would build param groups of its own
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
        ``load_state_dict`` does), keeping what the scheduler wrote into each view."""
        groups = self.real.param_groups
        if len(groups) != len(self._views) or any(v.group is not g for v, g in zip(self._views, groups)):
            views = [ParamGroupView(group, self.param) for group in groups]
            for view, old in zip(views, self._views):
                view.own = old.own
            self._views = views
        return self._views

    @property
    def state(self) -> Any:  # type: ignore[override]
        return self.real.state

    @property
    def _opt_called(self) -> bool:
        return bool(getattr(self.real, "_opt_called", False))

    @_opt_called.setter
    def _opt_called(self, value: bool) -> None:
        self.real._opt_called = value  # type: ignore[attr-defined]

    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        raise RuntimeError("a ParamSchedule's proxy optimizer does not step; step the real optimizer")


class ParamSchedule(LRScheduler):
    """The scheduler ``factory`` builds, driving ``param`` of every param group of ``optimizer``.

    Args:
        optimizer: the real optimizer.
        factory: builds the scheduler on the optimizer it is given (the proxy), e.g.
            ``lambda opt: CosineAnnealingLR(opt, T_max=100, eta_min=0.4)``; ``Warmup`` and ``Window`` around
            it work too.
        param: a numeric per-group option (``"weight_decay"``, ``"momentum"``, ...), or ``"beta1"``/``"beta2"``
            for the elements of ``betas``; ``"momentum"`` on an optimizer with ``betas`` drives ``betas[0]``.

    Example:
        >>> import torch
        >>> from torch.optim.lr_scheduler import CosineAnnealingLR
        >>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.1, weight_decay=0.04)
        >>> wd = ParamSchedule(opt, lambda o: CosineAnnealingLR(o, T_max=2, eta_min=0.4), "weight_decay")
        >>> values = []
        >>> for _ in range(3):
        ...     values.append(round(opt.param_groups[0]["weight_decay"], 6))
        ...     opt.step()
        ...     wd.step()
        >>> values, opt.param_groups[0]["lr"], wd.get_last_lr() == [opt.param_groups[0]["weight_decay"]]
        ([0.04, 0.22, 0.4], 0.1, True)
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, factory: Callable[[torch.optim.Optimizer], Any], param: str
    ) -> None:
        # LRScheduler.__init__ is not called: the inner scheduler takes torch's initial step itself
        if param == "lr":
            raise ValueError("ParamSchedule: `param='lr'` is the scheduler itself; build it directly.")
        for index, group in enumerate(optimizer.param_groups):
            key, element = target_of(param, group)
            value = group.get(key)
            if element is not None and isinstance(value, (tuple, list)) and len(value) > element:
                value = value[element]
            if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
                raise ValueError(
                    f"ParamSchedule: Expected param group {index} to have a numeric `{param}` but got "
                    f"{value!r}."
                )
        self.optimizer = optimizer
        self.param = param
        compat.track_steps(optimizer)
        self.proxy = ProxyOptimizer(optimizer, param)
        self.scheduler = factory(self.proxy)
        self.base_lrs = [group["initial_lr"] for group in self.proxy.param_groups]
        self.last_epoch = 0
        self._step_count = 1
        self._last_lr = self.values()

    def values(self) -> list[Any]:
        """The driven option of every param group, now."""
        return [group["lr"] for group in self.proxy.param_groups]

    def step(self, metrics: Any = None, epoch: None = None) -> None:  # type: ignore[override]
        """One step of the inner scheduler (with ``metrics`` if it takes them)."""
        self._step_count += 1
        self.last_epoch += 1
        if metrics is None:
            self.scheduler.step()
        else:
            self.scheduler.step(metrics)
        self._last_lr = self.values()

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [float(v) for v in self._last_lr]

    def state_dict(self) -> dict[str, Any]:
        """The wrapper's counters plus the inner scheduler's state."""
        skip = ("optimizer", "proxy", "scheduler")
        state = {key: value for key, value in self.__dict__.items() if key not in skip}
        state["scheduler"] = self.scheduler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        self.scheduler.load_state_dict(state.pop("scheduler"))
        self.__dict__.update(state)

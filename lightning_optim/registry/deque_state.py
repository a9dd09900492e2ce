"""Per-parameter optimizer state held in a ``collections.deque``, through a checkpoint.

pytorch_optimizer's ``AdaShift`` keeps its last ``keep_num`` gradients in a ``deque(maxlen=keep_num)`` and
updates once it is full (``len(queue) == keep_num``). Saved as it is, the deque fails Lightning's default
checkpoint load (``torch.load(weights_only=True)`` refuses the type); loaded otherwise, it comes back without its
``maxlen``: torch's ``Optimizer.load_state_dict`` and then Lightning's move of the state to the device rebuild it
from its items, so it grows past ``keep_num`` and the optimizer never takes another update. So a saved state holds
each deque as a plain list with its ``maxlen`` (``as_saved``), the load rebuilds it (``as_loaded``), and training
start bounds again what Lightning's move rebuilt after the load (``rebound``).
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any

import torch

from lightning_optim.registry.implementation import loading_optimizer

#: the key of a deque's saved form, ``{DEQUE_KEY: its items, "maxlen": its maxlen}``
DEQUE_KEY = "lightning_optim_deque"

#: each optimizer's deques at its last load, by (parameter, key, maxlen), until ``rebound``
_LOADED: weakref.WeakKeyDictionary[torch.optim.Optimizer, list[tuple[torch.Tensor, str, int | None]]] = (
    weakref.WeakKeyDictionary()
)


def as_saved(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """A parameter's ``state`` with each deque as its saved form (``state`` itself when it holds none).

    Example:
        >>> as_saved({"step": 2, "queue": deque([1, 2], maxlen=3)})
        {'step': 2, 'queue': {'lightning_optim_deque': [1, 2], 'maxlen': 3}}
    """
    if not any(isinstance(value, deque) for value in state.values()):
        return state
    return {
        key: {DEQUE_KEY: list(value), "maxlen": value.maxlen} if isinstance(value, deque) else value
        for key, value in state.items()
    }


def as_loaded(value: Any) -> Any:
    """The deque a saved form (``as_saved``) holds, any other value as it is.

    Example:
        >>> as_loaded({"lightning_optim_deque": [1, 2], "maxlen": 3})
        deque([1, 2], maxlen=3)
        >>> as_loaded([1, 2])
        [1, 2]
    """
    if isinstance(value, Mapping) and DEQUE_KEY in value:
        return deque(value[DEQUE_KEY], maxlen=value["maxlen"])
    return value


def recent(value: Any, count: int) -> Any:
    """The most recent ``count`` entries of a history, as the step that appends to it keeps them: a list's last ones,
    a deque's (or its saved form's, ``as_saved``) in a deque (or saved form) of ``maxlen=count``, as a fresh
    optimizer with that length holds it (``AdaShift``'s ``grad_queue`` under another ``keep_num``).

    Example:
        >>> recent([1, 2, 3], 2)
        [2, 3]
        >>> recent(deque([1, 2, 3], maxlen=3), 2), recent(deque([1, 2], maxlen=2), 4)
        (deque([2, 3], maxlen=2), deque([1, 2], maxlen=4))
        >>> recent({"lightning_optim_deque": [1, 2, 3], "maxlen": 3}, 2)
        {'lightning_optim_deque': [2, 3], 'maxlen': 2}
    """
    if isinstance(value, deque):
        return deque(list(value)[-count:], maxlen=count)
    if isinstance(value, Mapping) and DEQUE_KEY in value:
        return {DEQUE_KEY: list(value[DEQUE_KEY])[-count:], "maxlen": count}
    return value[-count:]


def keep_deques(optimizer: torch.optim.Optimizer) -> None:
    """Save ``optimizer``'s deques as plain lists and load them back as deques of their ``maxlen``."""
    loading = loading_optimizer(optimizer)
    loading.register_state_dict_post_hook(_saved)
    loading.register_load_state_dict_pre_hook(_loading)
    loading.register_load_state_dict_post_hook(_loaded)


def _saved(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
    # torch's `state` holds the live per-parameter dicts: a changed one is a copy
    state_dict["state"] = {
        index: as_saved(state) if isinstance(state, Mapping) else state
        for index, state in state_dict["state"].items()
    }
    return state_dict


def _loading(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> None:
    """Turn the saved forms back into deques in the loaded state itself, not a copy: pytorch_optimizer's
    ``load_state_dict`` reads the state it was given after torch's (its ``maxlen`` from a deque there); note which
    parameter's deques torch's load then rebuilds without it."""
    saved = state_dict.get("state", {})
    ids = [index for group in state_dict.get("param_groups", ()) for index in group["params"]]
    params = [param for group in optimizer.param_groups for param in group["params"]]
    bounds = []
    for index, param in zip(ids, params):
        state = saved.get(index)
        for key, value in state.items() if isinstance(state, dict) else ():
            if isinstance(value, Mapping) and DEQUE_KEY in value:
                state[key] = as_loaded(value)
                bounds.append((param, key, state[key].maxlen))
    _LOADED[optimizer] = bounds


def _loaded(optimizer: torch.optim.Optimizer) -> None:
    _bound(optimizer, _LOADED.get(optimizer, []))


def rebound(optimizer: torch.optim.Optimizer) -> None:
    """Give the deques ``optimizer``'s last load rebuilt their ``maxlen`` again where a move of the state since (the
    Lightning strategy's, to the device) rebuilt them without it."""
    loading = loading_optimizer(optimizer)
    _bound(loading, _LOADED.pop(loading, []))


def _bound(optimizer: torch.optim.Optimizer, bounds: list[tuple[torch.Tensor, str, int | None]]) -> None:
    for param, key, maxlen in bounds:
        value = optimizer.state[param].get(key)
        if isinstance(value, deque) and value.maxlen != maxlen:
            optimizer.state[param][key] = deque(value, maxlen=maxlen)

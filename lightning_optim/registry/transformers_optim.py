"""transformers' ``TrainingArguments(optim=...)`` names (``"transformers/<name>"``), as transformers builds them.

Each name's record comes from transformers itself, on first use: ``Trainer.get_optimizer_cls_and_kwargs``
given ``TrainingArguments``' defaults with ``optim=<name>`` (read from the dataclass fields, so that neither
``accelerate`` nor a ``TrainingArguments`` instance is needed). The name then stands for that class and those
arguments, plus what ``Trainer.create_optimizer`` adds:

- ``weight_decay``: ``TrainingArguments.weight_decay`` (0.0), which transformers puts in its param groups;
- for an 8-bit bitsandbytes optimizer, 32-bit state for every ``nn.Embedding`` weight it trains
  (transformers' ``register_module_override``; here through ``bnb.keep_32bit``);
- no fused/foreach choice: ``"adamw_torch"`` is torch's default implementation and ``"adamw_torch_fused"``
  the fused one, so ``implementation="auto"`` never picks one (the class's own ``foreach`` default is
  declared: ``None``, torch's choice, for torch's optimizers); an explicit ``implementation=`` replaces it.

The declaration's own arguments win: ``OptimizerSpec("transformers/adamw_torch", lr=3e-4, weight_decay=0.01)``
is what ``TrainingArguments(optim="adamw_torch", learning_rate=3e-4, weight_decay=0.01)`` builds. A name whose
backend is not installed (``"transformers/grokadamw"``) is an error quoting transformers, which names the
package; names that build their own param groups from a model (GaLore, APOLLO, LOMO, the layer-wise ones)
are refused with the reason.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import torch

from lightning_optim.registry import bnb
from lightning_optim.registry.named import NamedOptimizer
from lightning_optim.registry.optimizers import accepts_argument, is_optimizer_class
from lightning_optim.utilities.frozen import ReadOnlyMapping

#: what ``get_optimizer_cls_and_kwargs`` returns for optimizers that replace the param groups or the model
_OWN_GROUPS = ("params", "model", "optimizer_dict")


def names(module: Any) -> dict[str, Callable[[], NamedOptimizer]]:
    """Every ``OptimizerNames`` value, each to a function giving its record."""
    from transformers.training_args import OptimizerNames

    return {name.value: functools.partial(record, name.value) for name in OptimizerNames}


def default_arguments(optim: str) -> Any:
    """``TrainingArguments``' field defaults with ``optim=optim`` (a namespace standing in for an instance):
    what ``get_optimizer_cls_and_kwargs`` reads."""
    from transformers import TrainingArguments
    from transformers.training_args import OptimizerNames

    values: dict[str, Any] = {}
    for item in dataclasses.fields(TrainingArguments):
        if item.default is not dataclasses.MISSING:
            values[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            values[item.name] = item.default_factory()
    values["optim"] = OptimizerNames(optim)
    return SimpleNamespace(**values)


def _embeddings_32bit(optimizer: torch.optim.Optimizer, module: torch.nn.Module) -> None:
    bnb.keep_32bit(optimizer, [m.weight for m in module.modules() if isinstance(m, torch.nn.Embedding)])


@functools.cache
def record(name: str) -> NamedOptimizer:
    """The class and arguments transformers gives ``optim=name`` with its default ``TrainingArguments``.

    Raises:
        ValueError: the backend is not installed, or the optimizer builds its own param groups.
    """
    from transformers import Trainer

    args = default_arguments(name)
    try:
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    except Exception as error:  # transformers raises ImportError or ValueError naming the missing package
        raise ValueError(
            f"Expected `transformers/{name}` to build here but transformers' `Trainer.get_optimizer_cls_and_kwargs` "
            f"raised {type(error).__name__}: {error}"
        ) from None
    own = [key for key in _OWN_GROUPS if key in kwargs]
    if own or not is_optimizer_class(cls):
        raise ValueError(
            f"Expected a `transformers/<name>` optimizer built from param groups but `{name}` gives "
            f"`{getattr(cls, '__name__', cls)}` with {', '.join(f'`{k}`' for k in own) or 'a factory'}: it builds "
            "its own groups from the model (GaLore, APOLLO, LOMO, layer-wise). Use its class directly."
        )
    arguments = dict(kwargs)
    if accepts_argument(cls, "weight_decay") and "weight_decay" not in arguments:
        arguments["weight_decay"] = args.weight_decay
    if accepts_argument(cls, "foreach") and not {"fused", "foreach"} & arguments.keys():
        # the class's own default, declared: `implementation="auto"` then leaves it alone
        arguments["foreach"] = inspect.signature(cls).parameters["foreach"].default
    eight_bit = cls.__module__.startswith("bitsandbytes") and kwargs.get("optim_bits") == 8
    public = cls.__module__.rsplit(".", 1)[0]  # `torch.optim.adamw` -> `torch.optim`
    return NamedOptimizer(
        cls,
        ReadOnlyMapping(arguments),
        prepare=_embeddings_32bit if eight_bit else None,
        meaning=f"`{public}.{cls.__name__}` with transformers' arguments",
    )

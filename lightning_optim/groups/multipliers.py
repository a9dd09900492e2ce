"""``lr_mult`` and ``decay_mult``: a ``ParamGroup``'s lr and weight decay as multiples of the optimizer's.

mmengine's ``paramwise_cfg`` (``DefaultOptimWrapperConstructor.add_params``, mmengine 0.10.7:
``param_group['lr'] = self.base_lr * lr_mult`` and ``param_group['weight_decay'] = self.base_wd *
decay_mult``) writes a group's values relative to the optimizer's, so a config moves one base lr and every
group follows. ``ParamGroup("backbone", lr_mult=0.1, decay_mult=0.0)`` ports
``custom_keys={"backbone": dict(lr_mult=0.1, decay_mult=0.0)}``. The factors become the group's ``scales``,
applied to the values the built optimizer gives the group (its base: ``lr``, or ``adamw_lr`` for the AdamW
groups of ``MuonWithAdamW``), and they compose with ``layer_decay``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lightning_optim.utilities.errors import listing
from lightning_optim.utilities.numeric import is_real

#: Each multiplier option and the optimizer option it scales.
MULTIPLIERS: Mapping[str, str] = {"lr_mult": "lr", "decay_mult": "weight_decay"}


def check_multipliers(
    where: str, options: Mapping[str, Any], optimizer: str, group_options: frozenset[str]
) -> dict[str, float]:
    """The scales a ``ParamGroup``'s ``lr_mult``/``decay_mult`` declare, keyed by the option they scale.

    Example:
        >>> check_multipliers("G", {"lr_mult": 0.1, "decay_mult": 0}, "AdamW", frozenset({"lr", "weight_decay"}))
        {'lr': 0.1, 'weight_decay': 0.0}
    """
    scales: dict[str, float] = {}
    for option, key in MULTIPLIERS.items():
        if option not in options:
            continue
        value = options[option]
        if not is_real(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}: Expected `{option}` to be a finite number >= 0 but got {value!r}.")
        if key not in group_options:
            raise ValueError(
                f"{where}: `{option}` scales `{key}`, but `{optimizer}` has no `{key}` option. "
                f"Its per-group options: {listing(sorted(group_options - {'name'}))}."
            )
        if key in options:
            raise ValueError(
                f"{where}: `{option}` and `{key}` both set this group's `{key}`; keep one (`{option}` is "
                f"relative to the optimizer's `{key}`, `{key}` is absolute)."
            )
        scales[key] = float(value)
    return scales

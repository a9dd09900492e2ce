"""``MuonWithAdamW``: the Muon recipe as one torch optimizer, so that Lightning can train it automatically.

Muon (``torch.optim.Muon``) updates only the 2-D weight matrices of the hidden layers. The embeddings, the
output head, the biases and the norm weights are left to AdamW. Written as two optimizers, the recipe forces
Lightning's manual optimization and loses what automatic optimization does for you: gradient clipping,
gradient accumulation and the precision plugin's handling of the step.

``MuonWithAdamW`` is one ``torch.optim.Optimizer``. Each of its param groups carries ``use_muon``. The
groups with ``use_muon=True`` are stepped by a ``torch.optim.Muon`` and the other groups by a
``torch.optim.AdamW``. Both use the very same group dicts and share one ``state``. This has three
consequences:

* A group's ``lr``, ``weight_decay`` and ``eps`` are the values its own half uses. A group that does not set
  them takes the Muon values (``lr``, ...) or the AdamW values (``adamw_lr``, ...), depending on its kind. So
  an LR scheduler, which scales ``param_groups[i]["lr"]`` from that group's ``initial_lr``, scales the Muon
  groups from the Muon lr and the AdamW groups from the AdamW lr, and an lr monitor logs the rate that each
  group really trains with.
* ``state_dict()`` and ``load_state_dict()`` are torch's own, over all groups, so a checkpoint resumes
  exactly.
* Each step is bit-identical to stepping a ``torch.optim.Muon`` and a ``torch.optim.AdamW`` built over the
  same groups: ``tests/optimizers/test_muon_adamw.py`` compares the two against that manual loop.

Every default is the torch class's own: the Muon arguments default to ``torch.optim.Muon``'s, the ``adamw_*``
arguments to ``torch.optim.AdamW``'s (``adamw_betas=(0.9, 0.999)``, ``adamw_weight_decay=0.01``). So a port of
``torch.optim.Muon(hidden)`` and ``torch.optim.AdamW(rest)`` built with their defaults needs no argument here to
train to the same weights, and a recipe that wants other values (the modded-nanogpt ``adamw_betas=(0.9, 0.95)``,
a higher Muon ``lr``) declares them.

The recommended declaration with this package is shown below. Embeddings and heads are 2-D too, so they are
named explicitly, and a parameter goes to the first group that selects it. Biases and norm weights fall
into the leftover group ``rest``. That group gets the optimizer's own ``use_muon=None``, which resolves to
AdamW because its parameters are not all 2-D::

    from lightning_optim import OptimizerSpec, ParamGroup
    from lightning_optim.optimizers.muon_adamw import is_matrix

    optimizer = OptimizerSpec(
        "lightning_optim.optimizers.muon_adamw.MuonWithAdamW",
        lr=0.02,  # the recipe's values; left out, each is torch's default
        adamw_lr=3e-4,
        adamw_betas=(0.9, 0.95),
        groups=[
            ParamGroup(["embed", "head"], use_muon=False, name="adamw"),
            ParamGroup(is_matrix, use_muon=True, name="muon"),
        ],
    )

Needs a torch with ``torch.optim.Muon`` (2.9 or later, ``compat.MUON``). This module can still be imported with an
older torch; declaring or building the optimizer then raises a ``ValueError`` naming the version.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch.optim import AdamW, Optimizer

from lightning_optim.utilities import compat
from lightning_optim.utilities.lazy import is_uninitialized, refuse_unknown_shape
from lightning_optim.utilities.numeric import is_int, is_real

__all__ = ["MuonWithAdamW", "is_matrix"]

#: torch's Muon defaults (``torch/optim/_muon.py``: ``DEFAULT_A/B/C``, ``EPS``, ``DEFAULT_NS_STEPS``), which come
#: from Keller Jordan's quintic Newton-Schulz iteration.
DEFAULT_NS_COEFFICIENTS: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)
DEFAULT_EPS = 1e-7
DEFAULT_NS_STEPS = 5

#: The options that a Muon group carries and that ``torch.optim.Muon`` reads.
MUON_OPTIONS = (
    "lr",
    "weight_decay",
    "momentum",
    "nesterov",
    "ns_coefficients",
    "eps",
    "ns_steps",
    "adjust_lr_fn",
)
#: The options that an AdamW group carries and that ``torch.optim.AdamW`` reads.
ADAMW_OPTIONS = (
    "lr",
    "betas",
    "eps",
    "weight_decay",
    "amsgrad",
    "maximize",
    "foreach",
    "capturable",
    "differentiable",
    "fused",
    "decoupled_weight_decay",
)
#: Every option a param group may set: its half's options and ``use_muon`` (``defaults`` lists the Muon ones).
GROUP_OPTIONS = frozenset((*MUON_OPTIONS, *ADAMW_OPTIONS, "use_muon"))
#: The constructor argument that sets each AdamW option's default, when it is not the option's own name.
ADAMW_ARGUMENTS: Mapping[str, str] = {
    "lr": "adamw_lr",
    "betas": "adamw_betas",
    "eps": "adamw_eps",
    "weight_decay": "adamw_weight_decay",
    "amsgrad": "adamw_amsgrad",
    "foreach": "adamw_foreach",
    "fused": "adamw_fused",
}
_ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def is_matrix(name: str, param: torch.Tensor) -> bool:
    """Whether ``param`` is a 2-D matrix: the selector for the Muon group, declared after the embeddings and heads.

    Embedding tables and output heads are matrices too, but Muon is meant for the hidden layers. Select them
    in an earlier ``use_muon=False`` group so that they are taken before this selector sees them. A lazy
    module's parameter before its first forward has no shape to read: it is refused (a
    ``ValueError``), as its ``ndim`` would read 1 whatever the layer becomes.

    Example:
        >>> layer = torch.nn.Linear(3, 2)
        >>> is_matrix("layer.weight", layer.weight), is_matrix("layer.bias", layer.bias)
        (True, False)
    """
    instead = "select the matrices by name (`ParamGroup(['hidden.0.weight', ...], use_muon=True)`)"
    refuse_unknown_shape(param, f"`{name}`", "`is_matrix`, which reads `ndim`", instead)
    return param.ndim == 2


def _is_number(value: Any) -> bool:
    return is_real(value) and math.isfinite(value)


def _non_negative(value: Any) -> bool:
    return _is_number(value) and value >= 0


def _fraction(value: Any) -> bool:
    return _is_number(value) and 0 <= value < 1


#: What each option must be: a predicate and how the messages describe it.
_CHECKS: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "lr": (
        lambda v: _non_negative(v) or (isinstance(v, torch.Tensor) and v.numel() == 1),
        "a finite number >= 0 or a 1-element tensor",
    ),
    "weight_decay": (_non_negative, "a finite number >= 0"),
    "eps": (_non_negative, "a finite number >= 0"),
    "momentum": (_fraction, "a number in [0, 1)"),
    "nesterov": (lambda v: isinstance(v, bool), "a bool"),
    "ns_coefficients": (
        lambda v: isinstance(v, (tuple, list)) and len(v) == 3 and all(_is_number(c) for c in v),
        "three finite numbers (a, b, c)",
    ),
    "ns_steps": (
        lambda v: is_int(v) and 1 <= v < 100,
        "an int in [1, 100)",
    ),
    "adjust_lr_fn": (lambda v: v in _ADJUST_LR_FNS, "one of None, 'original', 'match_rms_adamw'"),
    "betas": (
        lambda v: (
            isinstance(v, (tuple, list))
            and len(v) == 2
            and all(_fraction(b) or isinstance(b, torch.Tensor) for b in v)
        ),
        "two numbers in [0, 1)",
    ),
    "amsgrad": (lambda v: isinstance(v, bool), "a bool"),
    "foreach": (lambda v: v is None or isinstance(v, bool), "True, False or None"),
    "fused": (lambda v: v is None or isinstance(v, bool), "True, False or None"),
}


def _check_values(options: Mapping[str, Any], owner: str, names: Mapping[str, str] | None = None) -> None:
    """Raise a ``ValueError`` for the first option whose value is not what its half accepts.

    ``owner`` says whose options they are (``MuonWithAdamW param group 1``); ``names`` maps an option to the
    argument that set it (``betas`` -> ``adamw_betas``).
    """
    name = (lambda key: names.get(key, key)) if names is not None else (lambda key: key)
    for key, value in options.items():
        check = _CHECKS.get(key)
        if check is not None and not check[0](value):
            raise ValueError(f"Expected `{name(key)}` of {owner} to be {check[1]} but got {value!r}.")
    if options.get("fused") and options.get("foreach"):
        raise ValueError(
            f"Expected at most one of `{name('fused')}` and `{name('foreach')}` of {owner} to be True."
        )


def _group_label(index: int, group: Mapping[str, Any]) -> str:
    """``param group 2`` or, when the group has a ``name``, ``param group 2 `rest```."""
    name = group.get("name")
    return f"param group {index}" + (f" `{name}`" if isinstance(name, str) else "")


def _kind(use_muon: bool) -> str:
    return "Muon" if use_muon else "AdamW"


def _check_keys(label: str, group: Mapping[str, Any], use_muon: bool, how: str) -> None:
    """An option of the other half would be silently ignored by this group's half: refuse it."""
    own, other = (MUON_OPTIONS, ADAMW_OPTIONS) if use_muon else (ADAMW_OPTIONS, MUON_OPTIONS)
    foreign = [key for key in other if key in group and key not in own]
    if foreign:
        raise ValueError(
            f"Expected the options of MuonWithAdamW {label} ({how}, stepped by {_kind(use_muon)}) to be "
            f"{_kind(use_muon)} options but got {_listing(foreign)}, which only {_kind(not use_muon)} reads. "
            f"{_kind(use_muon)} options: {_listing(own)}. Remove them or set `use_muon={not use_muon}`."
        )


def _listing(keys: Iterable[str]) -> str:
    return ", ".join(f"`{key}`" for key in keys)


#: The options only one half reads: a group with ``use_muon=None`` that sets one of them goes to that half.
_MUON_ONLY = tuple(key for key in MUON_OPTIONS if key not in ADAMW_OPTIONS)
_ADAMW_ONLY = tuple(key for key in ADAMW_OPTIONS if key not in MUON_OPTIONS)


def _resolve_use_muon(
    label: str, group: Mapping[str, Any], params: Sequence[Any], default: Any
) -> tuple[bool, str]:
    """Which half steps the group, and how that was decided (``use_muon=True from its option `momentum```).

    ``None`` decides by the group's options first: one that only Muon (AdamW) reads sends the group to Muon
    (AdamW). A group with none of them uses Muon when it has parameters and all of them are 2-D.

    Example:
        >>> matrix, vector = torch.zeros(2, 2), torch.zeros(2)
        >>> _resolve_use_muon("param group 0", {}, [matrix], None)
        (True, 'use_muon=True')
        >>> _resolve_use_muon("param group 0", {"betas": (0.9, 0.99)}, [matrix], None)
        (False, 'use_muon=False from its option `betas`')
        >>> _resolve_use_muon("param group 0", {}, [matrix, vector], None)
        (False, 'use_muon=False')
    """
    use_muon = group.get("use_muon", default)
    if isinstance(use_muon, bool):
        return use_muon, f"use_muon={use_muon}"
    if use_muon is not None:
        raise TypeError(
            f"Expected `use_muon` of MuonWithAdamW {label} to be True, False or None but got {use_muon!r}."
        )
    muon_keys = [key for key in _MUON_ONLY if key in group]
    adamw_keys = [key for key in _ADAMW_ONLY if key in group]
    if muon_keys and adamw_keys:
        raise ValueError(
            f"Expected the options of MuonWithAdamW {label} to be those of one half but got the Muon option(s) "
            f"{_listing(muon_keys)} and the AdamW option(s) {_listing(adamw_keys)}. Set `use_muon` and keep only "
            "the options of that half."
        )
    if muon_keys or adamw_keys:
        use_muon = bool(muon_keys)
        return use_muon, f"use_muon={use_muon} from its option `{(muon_keys or adamw_keys)[0]}`"
    use_muon = _all_matrices(label, params)
    return use_muon, f"use_muon={use_muon}"


def _all_matrices(label: str, params: Sequence[Any]) -> bool:
    """Whether the group has parameters and all of them are 2-D: ``use_muon=None``'s choice.

    One parameter that is not 2-D decides it (AdamW) without the others; where it takes the shape of a lazy
    module's parameter before its first forward, which is unknown, it is refused rather than guessed.
    """
    tensors = [p for p in params if isinstance(p, torch.Tensor)]
    if (
        not params
        or len(tensors) < len(params)
        or any(p.ndim != 2 for p in tensors if not is_uninitialized(p))
    ):
        return False
    rule = "`use_muon=None`, which uses Muon when every parameter is 2-D"
    for position, param in enumerate(params):
        what = f"parameter {position} of MuonWithAdamW {label}"
        refuse_unknown_shape(param, what, rule, "set `use_muon` on the group")
    return True


def _check_matrices(label: str, params: Sequence[Any], names: Sequence[str] | None, how: str) -> bool:
    """Muon orthogonalizes 2-D matrices only (torch's Muon would reject anything else with no group named).

    A lazy module's parameter before its first forward has no shape yet: it is checked at the first step
    (``MuonWithAdamW.step``); returns whether one was left unchecked.
    """
    unchecked = False
    for position, param in enumerate(params):
        if is_uninitialized(param):
            unchecked = True
        elif isinstance(param, torch.Tensor) and param.ndim != 2:
            which = f"`{names[position]}`" if names is not None else f"parameter {position} of the group"
            raise ValueError(
                f"Expected every parameter of MuonWithAdamW {label} ({how}) to be a 2-D matrix but "
                f"{which} has shape {tuple(param.shape)}. Muon only updates the 2-D weight matrices of hidden "
                "layers: put biases, norm weights and other parameters that are not 2-D in a group with "
                "`use_muon=False` (or leave `use_muon` unset to decide per group)."
            )
    return unchecked


def _tensors(items: Iterable[Any]) -> tuple[list[Any], list[str] | None]:
    """The tensors of a group's ``params`` and their names when they are given as ``(name, tensor)`` pairs."""
    items = list(items)
    names = [item[0] for item in items if isinstance(item, tuple)]
    tensors = [item[1] if isinstance(item, tuple) else item for item in items]
    return tensors, (names if names and len(names) == len(tensors) else None)


def _halves(
    muon_defaults: Mapping[str, Any], adamw_defaults: Mapping[str, Any]
) -> tuple[Optimizer, Optimizer]:
    """torch's Muon and AdamW built over a stand-in parameter: torch checks the defaults once more, and each
    step points them at the real groups of their kind."""
    stand_in = torch.zeros(1, 1)
    muon = compat.torch_muon("MuonWithAdamW")([stand_in], **muon_defaults)
    adamw = AdamW([stand_in], **{k: v for k, v in adamw_defaults.items() if k != "decoupled_weight_decay"})
    return muon, adamw


class MuonWithAdamW(Optimizer):
    """Muon for the groups with ``use_muon=True`` and AdamW for the others, as one optimizer.

    A group's ``use_muon`` is ``True`` (stepped by ``torch.optim.Muon``), ``False`` (stepped by
    ``torch.optim.AdamW``) or unset, which means the ``use_muon`` argument. ``None`` decides per group. A
    group that sets an option that only one half reads goes to that half (``momentum``, ``nesterov``,
    ``ns_coefficients``, ``ns_steps`` and ``adjust_lr_fn`` to Muon; ``betas``, ``amsgrad``, ``foreach`` and
    ``fused`` to AdamW). Any other group uses Muon when it has parameters and every one of them is 2-D.
    Embedding tables and output heads are 2-D as well, but the recipe trains them with AdamW, so put them in a
    group with ``use_muon=False``. The resolved bool is written into the group, so
    ``param_groups[i]["use_muon"]`` and the state dict say which half steps each group.

    A group takes the options of its half. Options it does not set default to the Muon arguments (``lr``,
    ``weight_decay``, ``eps``, ``momentum``, ...) or to the AdamW arguments (``adamw_lr``, ``adamw_betas``,
    ``adamw_eps``, ``adamw_weight_decay``, ...). Their keys in the group are the optimizers' own: ``lr``,
    ``betas``, ``weight_decay``. So ``param_groups[i]["lr"]`` is the learning rate that group trains with,
    and an LR scheduler scales each group from its own initial lr. An option of the other half in a group is
    an error (it would be ignored), and so is a Muon group with a parameter that is not 2-D.

    ``defaults`` lists the per-group options (the ones a declaration's ``ParamGroup`` may set), with the Muon
    values for the keys both halves share (``lr``, ``weight_decay``, ``eps``). The per-half defaults are
    ``muon_defaults`` and ``adamw_defaults``. ``betas`` is left out of ``defaults`` on purpose: Lightning's
    ``LearningRateMonitor(log_momentum=True)`` reads ``group["betas"]`` from every group of an optimizer whose
    ``defaults`` has ``betas``, which would fail on the Muon groups. Without it, it logs each Muon group's
    ``momentum`` and ``0`` for the AdamW groups; this package's ``LRMonitor`` and ``preview_schedule`` show each
    AdamW group's ``beta1``, which a ``param="momentum"`` schedule drives. A group dict may still set
    ``betas``; the AdamW groups default to ``adamw_betas``.

    Every default equals the torch class's own (``torch.optim.Muon`` for the Muon arguments,
    ``torch.optim.AdamW`` for the ``adamw_*`` ones), so porting the two torch optimizers needs no argument.

    Args:
        params: parameters or param group dicts, as for any torch optimizer.
        lr: Muon learning rate. Muon scales it by ``sqrt(max(1, rows / cols))`` per matrix, or by
            ``adjust_lr_fn``.
        weight_decay: Muon decoupled weight decay.
        momentum: Muon momentum, in ``[0, 1)``.
        nesterov: Nesterov momentum for Muon.
        ns_coefficients: the Newton-Schulz polynomial coefficients ``(a, b, c)``.
        eps: Muon's epsilon in the Newton-Schulz normalization.
        ns_steps: Newton-Schulz iterations, in ``[1, 100)``.
        adjust_lr_fn: ``None`` or ``"original"`` (Keller Jordan's scaling) or ``"match_rms_adamw"``
            (Moonshot's ``0.2 * sqrt(max(rows, cols))``, so that Muon can reuse AdamW's lr and weight decay).
        adamw_lr: AdamW learning rate.
        adamw_betas: AdamW ``betas``.
        adamw_eps: AdamW ``eps``.
        adamw_weight_decay: AdamW decoupled weight decay.
        adamw_amsgrad: AMSGrad variant for the AdamW groups.
        adamw_foreach: AdamW ``foreach`` (``None``: torch's choice).
        adamw_fused: AdamW ``fused`` (``None``: off).
        use_muon: the default of every group's ``use_muon``.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
        >>> optimizer = MuonWithAdamW(
        ...     [
        ...         {"params": [model[0].weight]},  # 2-D: Muon
        ...         {"params": [model[0].bias, *model[1].parameters()]},  # 1-D: AdamW
        ...         {"params": list(model[2].parameters()), "use_muon": False},  # the head: AdamW
        ...     ],
        ...     lr=0.02,
        ...     adamw_lr=3e-4,
        ... )
        >>> [(group["use_muon"], group["lr"]) for group in optimizer.param_groups]
        [(True, 0.02), (False, 0.0003), (False, 0.0003)]
        >>> model(torch.randn(3, 4)).sum().backward()
        >>> optimizer.step()
        >>> optimizer.zero_grad()
    """

    #: the per-group options and their defaults (see above)
    defaults: dict[str, Any]

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = DEFAULT_NS_COEFFICIENTS,
        eps: float = DEFAULT_EPS,
        ns_steps: int = DEFAULT_NS_STEPS,
        adjust_lr_fn: str | None = None,
        adamw_lr: float = 1e-3,
        adamw_betas: tuple[float, float] = (0.9, 0.999),
        adamw_eps: float = 1e-8,
        adamw_weight_decay: float = 1e-2,
        adamw_amsgrad: bool = False,
        adamw_foreach: bool | None = None,
        adamw_fused: bool | None = None,
        use_muon: bool | None = None,
    ) -> None:
        if use_muon is not None and not isinstance(use_muon, bool):
            raise TypeError(
                f"Expected `use_muon` of MuonWithAdamW to be True, False or None but got {use_muon!r}."
            )
        muon_defaults: dict[str, Any] = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": tuple(ns_coefficients)
            if isinstance(ns_coefficients, list)
            else ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
        }
        adamw_defaults: dict[str, Any] = {
            "lr": adamw_lr,
            "betas": tuple(adamw_betas) if isinstance(adamw_betas, list) else adamw_betas,
            "eps": adamw_eps,
            "weight_decay": adamw_weight_decay,
            "amsgrad": adamw_amsgrad,
            "maximize": False,
            "foreach": adamw_foreach,
            "capturable": False,
            "differentiable": False,
            "fused": adamw_fused,
            "decoupled_weight_decay": True,
        }
        _check_values(muon_defaults, "MuonWithAdamW")
        _check_values(
            {k: v for k, v in adamw_defaults.items() if k in ADAMW_ARGUMENTS},
            "MuonWithAdamW",
            ADAMW_ARGUMENTS,
        )
        #: the options a Muon group takes when it does not set them
        self.muon_defaults = muon_defaults
        #: the options an AdamW group takes when it does not set them
        self.adamw_defaults = adamw_defaults
        self._muon, self._adamw = _halves(muon_defaults, adamw_defaults)
        defaults = {
            **muon_defaults,
            **{key: adamw_defaults[key] for key in ("amsgrad", "foreach", "fused")},
            "use_muon": use_muon,
        }
        #: the Muon groups holding a lazy module's parameters, 2-D checked once they have shapes (see ``step``)
        self._unchecked: list[tuple[str, list[Any], list[str] | None, str]] = []
        super().__init__(params, defaults)
        if not any(group["use_muon"] for group in self.param_groups):
            warnings.warn(
                "MuonWithAdamW: no param group uses Muon, so every parameter is trained by AdamW. With "
                "`use_muon=None` a group uses Muon only when all its parameters are 2-D: put the hidden "
                "weight matrices in a group of their own (or set `use_muon=True` on it).",
                UserWarning,
                stacklevel=2,
            )

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group: resolve its ``use_muon``, check its options and parameters, and fill in its half's
        defaults.

        Raises:
            TypeError: ``use_muon`` is not ``True``, ``False`` or ``None``.
            ValueError: a Muon group holds a parameter that is not 2-D, the group sets an option of the other
                half, an option value is out of range, or ``use_muon=None`` would decide by the shape of a lazy
                module's parameter before its first forward (a lazy parameter in a Muon group is checked at
                the first step).
        """
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(
                f"Expected a param group of MuonWithAdamW to be a dict with a `params` entry but got {param_group!r}."
            )
        label = _group_label(len(self.param_groups), param_group)
        raw = param_group["params"]
        if isinstance(raw, torch.Tensor):
            raw = [raw]
        elif isinstance(raw, set):
            raise TypeError(
                f"Expected the `params` of MuonWithAdamW {label} to be an ordered collection (a list) but got a "
                "set, whose order changes between runs."
            )
        param_group["params"] = list(raw)
        params, names = _tensors(param_group["params"])
        use_muon, how = _resolve_use_muon(label, param_group, params, self.defaults["use_muon"])
        _check_keys(label, param_group, use_muon, how)
        if use_muon and _check_matrices(label, params, names, how):
            self._unchecked.append((label, params, names, how))
        own = self.muon_defaults if use_muon else self.adamw_defaults
        param_group["use_muon"] = use_muon
        for key, value in own.items():
            param_group.setdefault(key, value)
        _check_values({key: param_group[key] for key in own}, f"MuonWithAdamW {label} ({how})")
        # torch's add_param_group fills a group from `self.defaults`: give it this group's half only, so that
        # a Muon group carries no AdamW option and the other way round.
        defaults = self.defaults
        self.defaults = {**own, "use_muon": use_muon}
        try:
            super().add_param_group(param_group)
        finally:
            self.defaults = defaults

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run the closure (if any) once, then step the Muon groups with Muon and the others with AdamW.

        Args:
            closure: reevaluates the model and returns the loss, as for any torch optimizer.

        Returns:
            The closure's loss, or ``None`` without a closure.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self._unchecked:
            self._check_lazy_matrices()
        for half, use_muon in ((self._muon, True), (self._adamw, False)):
            groups = [group for group in self.param_groups if bool(group["use_muon"]) is use_muon]
            if groups:
                # the halves read these very group dicts and this state (replaced by `load_state_dict`)
                half.param_groups = groups
                half.state = self.state
                half.step()
        return loss

    def _check_lazy_matrices(self) -> None:
        """The 2-D check of the Muon groups' lazy parameters, which the forward before a step has given shapes;
        one still without a shape (its module has not run yet) is checked at a later step."""
        self._unchecked = [entry for entry in self._unchecked if _check_matrices(*entry)]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, after checking that every saved group says which half steps it.

        The saved groups' options win, as in torch, ``use_muon`` included, so a Muon group of the checkpoint
        must hold only 2-D parameters here too.

        Raises:
            ValueError: a saved group has no bool ``use_muon`` (the state dict was not written by
                ``MuonWithAdamW``), or a saved Muon group maps to a parameter that is not 2-D.
        """
        saved = state_dict.get("param_groups")
        if isinstance(saved, list) and len(saved) == len(self.param_groups):
            for index, (group, saved_group) in enumerate(zip(self.param_groups, saved)):
                use_muon = saved_group.get("use_muon") if isinstance(saved_group, Mapping) else None
                label = _group_label(index, group)
                if not isinstance(use_muon, bool):
                    raise ValueError(
                        f"Expected {label} of the state dict loaded into MuonWithAdamW to carry `use_muon` "
                        f"(True or False) but got {use_muon!r}: was it saved by another optimizer? Load a state "
                        "dict written by `MuonWithAdamW.state_dict()`."
                    )
                if use_muon:
                    _check_matrices(
                        f"{label} of the loaded state dict",
                        group["params"],
                        group.get("param_names"),
                        "use_muon=True",
                    )
        super().load_state_dict(state_dict)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(muon_defaults=self.muon_defaults, adamw_defaults=self.adamw_defaults)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("_unchecked", [])
        if "_muon" not in self.__dict__:  # unpickled or deep-copied: the halves are rebuilt
            self._muon, self._adamw = _halves(self.muon_defaults, self.adamw_defaults)

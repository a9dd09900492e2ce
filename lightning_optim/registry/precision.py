"""Hyperparameters that float16 (or bfloat16) parameters cannot hold: refused when ``fit`` starts.

With ``precision="16-true"`` (or ``"bf16-true"``, or a module made ``half()`` by hand) the parameters are
float16, and so is every optimizer state torch creates for them (``zeros_like(param)``). A Python number
that an optimizer step combines with those tensors is rounded to float16 by the operation, and a few
declared values do not survive that: Adam's default ``eps=1e-8`` is 0 in float16, so a parameter whose
gradient is 0 divides 0 by 0 and becomes NaN in the first step, even with ``lr=0`` (Lightning #20619, where
the only answer was a docs note). This module says which options of which optimizer matter, and how.

What each role means, and when a value is lost (``dtype(value)`` is the value rounded to that dtype):

* ``floors`` (``eps``): added to a state tensor to keep a denominator from 0 (``sqrt(v) + eps``). Lost when
  ``dtype(eps) == 0``; the update is then 0/0 wherever a gradient was 0. The fused kernels of Adam and AdamW
  (``fused=True``) do that arithmetic in float32 and are not concerned (``fused_floors``); fused Adagrad's CPU
  kernel computes its vector lanes in float16 and is, as the for-loop; nor is ``implementation="compiled"``:
  Inductor computes each kernel in float32 and rounds only what it stores (the weights and the state), and the
  update's sum and quotient are one kernel (measured on the CPU for every torch optimizer with an ``eps``).
* ``decays`` (``betas``, ``momentum``, RMSprop's ``alpha``, Adadelta's ``rho``): a moving average's factor,
  multiplying a state tensor at every step (``v = beta2 * v + ...``). Lost when ``dtype(beta) == 1.0``: the
  product rounds back to the state, so the average never forgets (Adam's second moment stays at its largest
  value, and the steps stay small long after one large gradient). This is what matters for bfloat16, whose 8
  significant bits make Adam's default ``beta2=0.999`` exactly 1.0.
* ``decoupled`` weight decay (AdamW, Muon, Adafactor, Adam/NAdam/RAdam with ``decoupled_weight_decay=True``):
  the weights are multiplied by ``1 - lr * weight_decay`` at every step. Lost when that factor is 1.0 in the
  dtype: the weights never decay (AdamW's defaults, ``lr=1e-3`` and ``weight_decay=0.01``, give
  ``0.99999``). The lr is the run's largest: the declared one, which the usual warmup-then-decay shapes never
  exceed, or the ``max_lr`` of a scheduler that sets the lrs itself (``OneCycleLR``, ``CyclicLR``), so a factor
  lost there is lost for the whole run.
* ``scales`` (the ``lr`` of methods whose update is about ``lr`` in size: Adam's family, RMSprop, Adagrad,
  Adadelta, Muon, Adafactor; a coupled ``weight_decay``): multiply a tensor of the dtype. Lost when
  ``dtype(value) == 0`` while the value is not: every update (or every decay term) is then below what the
  dtype holds. SGD's ``lr`` is not one of them: its update is ``lr * grad``, which a large gradient can keep.
* ``factors`` (SGD's, ASGD's and LBFGS's ``lr``): multiply a tensor of the dtype, where a large gradient keeps a
  small one. Lost only when ``inf`` in the dtype: torch converts SGD's ``alpha=-lr`` (ASGD's ``alpha=-eta``,
  which starts at ``lr`` and only shrinks; LBFGS's step length, a multiple of ``lr``) to float16 and raises
  (``cannot be converted to type c10::Half without overflow``) at the first step. ASGD's ``lambd`` (the weights
  multiplied by ``1 - lambd * eta``) is not checked: its defaults (``lr=0.01``, ``lambd=1e-4``) make that factor
  1.0 in float16 and bfloat16, so checking it would refuse ASGD's defaults there. Rprop's ``lr`` is a factor
  too: it fills the dtype's step sizes (torch raises where it is inf), and one made 0 is raised to the smallest
  step size at the first step.
* ``bounds`` (Rprop's ``step_sizes``): the smallest and largest step size, which clamp a tensor of the dtype at
  every step. Lost when 0 (a step size that reaches it is then 0, and stays 0: it grows by multiplying) or
  ``inf`` (torch converts them to float16 and raises).
A ``floor`` or ``scale`` that is ``inf`` in the dtype (above 65504 for float16) is lost too. (A state's first
value that float16 cannot hold, Adagrad's ``initial_accumulator_value=1e5``, is refused by torch itself when
the optimizer is built.) Optimizers not in ``ARITHMETIC`` (another
package's, a subclass of a torch optimizer that may keep float32 master weights) are not checked: their
arithmetic is not known here. Values near a limit that survive still lose precision (a ``beta2`` of 0.998
survives bfloat16 as 0.996); only values that are certainly lost are refused.

A floor declared 0 makes the same 0/0 in any precision: it is refused when the class is defined, and when
``fit`` reads an ``HParam`` giving it (``zero_floor``, which the trial build asks of every group), where the
optimizer's arithmetic here says the step adds it to a denominator. Adagrad's is refused only where
``initial_accumulator_value`` is 0 too: its denominator starts at that value's square root.

When: the declared values (and the defaults) when ``fit`` starts (``check_low_precision``); each value a
``SchedulerSpec(param=...)`` schedule writes before the step that would use it (``Rounding``, which the guard
of ``registry/guards.py`` reads), the float16/bfloat16 groups decided once at ``fit`` start, so a
full-precision run checks nothing more per step. A scheduled value is refused where its loss matters at
whatever point of the run it comes: a floor made 0 (where the step adds it in the dtype, as when ``fit``
starts: not under ``implementation="compiled"`` or Adam's and AdamW's ``fused=True``), a decay made 1.0 (a
``beta2`` scheduled from 0.99 to 0.999), anything made inf. A value lost because it is small (an lr or weight
decay below what the dtype holds, a decoupled factor made 1.0) is not: a schedule decaying toward 0 passes
through such values by design, and the run's largest lr is checked when ``fit`` starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from lightning_optim.optimizers.muon_adamw import ADAMW_ARGUMENTS, MuonWithAdamW
from lightning_optim.registry.optimizers import OPTIMIZER_INFO
from lightning_optim.utilities import compat
from lightning_optim.utilities.numeric import is_real

#: The dtypes whose parameters are checked, by how Lightning's precision flag names them.
LOW_PRECISION = {torch.float16: "16-true", torch.bfloat16: "bf16-true"}


@dataclass(frozen=True)
class Arithmetic:
    """How one optimizer's step combines its per-group options with tensors of the parameters' dtype."""

    floors: tuple[str, ...] = ()
    decays: tuple[str, ...] = ()
    scales: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()
    bounds: tuple[str, ...] = ()
    #: weight decay as ``param *= 1 - lr * weight_decay``: ``True``, or the bool group option that turns it on
    decoupled: bool | str = False
    #: the constructor argument that sets an option, where it is not the option's own name
    arguments: Mapping[str, str] = field(default_factory=dict)
    #: torch's fused kernel (``fused=True``) adds the ``floors`` in float32, so that the dtype cannot lose them
    fused_floors: bool = False
    #: the option that starts the state a floor is added to (Adagrad's ``initial_accumulator_value``): a floor of
    #: 0 divides 0 by 0 only where that is 0 too
    floor_state: str | None = None

    def decouples(self, group: Mapping[str, Any]) -> bool:
        return self.decoupled if isinstance(self.decoupled, bool) else bool(group.get(self.decoupled))


_ADAM = Arithmetic(
    floors=("eps",),
    decays=("betas",),
    scales=("lr", "weight_decay"),
    decoupled="decoupled_weight_decay",
    fused_floors=True,
)
_ADAMW = Arithmetic(
    floors=("eps",), decays=("betas",), scales=("lr", "weight_decay"), decoupled=True, fused_floors=True
)
_MUON = Arithmetic(decays=("momentum",), scales=("lr",), decoupled=True)
_MUON_ADAMW_HALF = Arithmetic(
    floors=("eps",),
    decays=("betas",),
    scales=("lr", "weight_decay"),
    decoupled=True,
    arguments=ADAMW_ARGUMENTS,
    fused_floors=True,
)


def _on_this_torch(name: str, arithmetic: Arithmetic) -> dict[type, Arithmetic]:
    """``{torch.optim.<name>: arithmetic}``, empty on a torch without that class."""
    cls = compat.torch_optimizer_class(name)
    return {} if cls is None else {cls: arithmetic}


#: Each optimizer class's arithmetic, or a function of the param group for one whose groups differ.
#: The arithmetic of each half of an optimizer whose groups differ, ``ARITHMETIC`` choosing one by the group:
#: ``MuonWithAdamW``'s Muon groups (``use_muon``), then its AdamW groups.
_HALVES: Mapping[type, tuple[Arithmetic, ...]] = {MuonWithAdamW: (_MUON, _MUON_ADAMW_HALF)}

ARITHMETIC: Mapping[type, Arithmetic | Callable[[Mapping[str, Any]], Arithmetic]] = {
    torch.optim.Adam: _ADAM,
    torch.optim.AdamW: _ADAMW,
    torch.optim.NAdam: _ADAM,
    torch.optim.RAdam: _ADAM,
    torch.optim.Adamax: Arithmetic(floors=("eps",), decays=("betas",), scales=("lr", "weight_decay")),
    torch.optim.SparseAdam: Arithmetic(floors=("eps",), decays=("betas",), scales=("lr",)),
    torch.optim.Adadelta: Arithmetic(floors=("eps",), decays=("rho",), scales=("lr", "weight_decay")),
    torch.optim.Adagrad: Arithmetic(
        floors=("eps",), scales=("lr", "weight_decay"), floor_state="initial_accumulator_value"
    ),
    torch.optim.RMSprop: Arithmetic(
        floors=("eps",), decays=("alpha", "momentum"), scales=("lr", "weight_decay")
    ),
    torch.optim.SGD: Arithmetic(decays=("momentum",), scales=("weight_decay",), factors=("lr",)),
    torch.optim.ASGD: Arithmetic(scales=("weight_decay",), factors=("lr",)),
    torch.optim.Rprop: Arithmetic(factors=("lr",), bounds=("step_sizes",)),
    torch.optim.LBFGS: Arithmetic(factors=("lr",)),
    **_on_this_torch("Adafactor", Arithmetic(scales=("lr",), decoupled=True)),
    **_on_this_torch("Muon", _MUON),
    MuonWithAdamW: lambda group: _HALVES[MuonWithAdamW][0 if group.get("use_muon") else 1],
}


def option_arguments(cls: type, option: str) -> tuple[str, ...]:
    """The constructor arguments that may set ``option`` in a group of ``cls``: the option's own name, and the one
    each half of an optimizer whose groups differ names for it (``MuonWithAdamW``'s AdamW groups take
    ``weight_decay`` from ``adamw_weight_decay``), so that a check reads what every group may be given.

    Example:
        >>> option_arguments(MuonWithAdamW, "weight_decay")
        ('weight_decay', 'adamw_weight_decay')
        >>> option_arguments(torch.optim.SGD, "weight_decay")
        ('weight_decay',)
    """
    return tuple(
        dict.fromkeys([option, *(half.arguments.get(option, option) for half in _HALVES.get(cls, ()))])
    )


def zero_floor(
    cls: type,
    group: Mapping[str, Any],
    own: Collection[str],
    arguments: Mapping[str, Any] | None = None,
    *,
    waiting: Collection[str] = (),
) -> str | None:
    """Why a floor (``eps``) of 0 in the param group ``group`` of a ``cls`` makes NaN weights in any precision,
    naming the option as declared (``own``: the options the group sets itself), else ``None``; ``arguments``:
    the optimizer's arguments, for its own group, where each half of an optimizer whose groups differ is
    checked, as a stand-in group shows one half only (``MuonWithAdamW``'s ``adamw_eps``); ``waiting``: the
    options an ``HParam`` gives, unknown until ``fit`` reads it (Adagrad's ``initial_accumulator_value``).

    The floor is what keeps the denominator from 0 where a parameter's gradient has been 0 (an unused
    embedding row, a frozen branch): with 0 the update is 0 / 0. Measured for every optimizer with ``floors``
    (tests/registry/test_precision.py): NaN at the first step, RAdam's once it rectifies (its sixth), Adagrad's
    only with ``initial_accumulator_value=0``; torch refuses SparseAdam's ``eps=0`` itself.

    Example:
        >>> zero_floor(torch.optim.Adam, {"eps": 1e-8}, ()) is None
        True
        >>> zero_floor(torch.optim.Adagrad, {"eps": 0.0, "initial_accumulator_value": 0.1}, ()) is None
        True
        >>> zero_floor(torch.optim.Adam, {"eps": 0.0}, ())[:62]
        'Expected `eps` of `Adam` to be > 0 but got 0.0: it is added to'
    """
    entry = ARITHMETIC.get(cls)
    if entry is None:
        return None
    arithmetic = entry(group) if callable(entry) else entry
    found = [
        (option if option in own else arithmetic.arguments.get(option, option), group.get(option), arithmetic)
        for option in arithmetic.floors
    ]
    if arguments is not None:
        others = [half for half in _HALVES.get(cls, ()) if half is not arithmetic]
        named = [(half.arguments.get(option, option), half) for half in others for option in half.floors]
        found += [(argument, arguments.get(argument), half) for argument, half in named]
    for argument, value, half in found:
        if not is_real(value) or value != 0:
            continue
        if half.floor_state is not None and (group.get(half.floor_state) or half.floor_state in waiting):
            continue  # the state starts above 0 (the denominator never is 0), or fit reads it
        default = _default_of(cls, argument)
        state = "" if half.floor_state is None else f", or give `{half.floor_state}` > 0"
        return (
            f"Expected `{argument}` of `{cls.__name__}` to be > 0 but got {value!r}: it is added to a denominator "
            "that stays 0 where a parameter's gradient has been 0 (an unused embedding row, a frozen branch), so "
            f"the update divides 0 by 0 and makes those weights NaN. Declare a small `{argument}` > 0"
            + ("" if default is None else f", such as `{cls.__name__}`'s default {default!r}")
            + f"{state}."
        )
    return None


def _default_of(cls: type, argument: str) -> Any:
    """The default of ``cls``'s constructor argument ``argument``, or ``None``.

    Example:
        >>> _default_of(torch.optim.Adam, "eps"), _default_of(torch.optim.Adam, "nothing")
        (1e-08, None)
    """
    try:
        parameter = inspect.signature(cls).parameters.get(argument)
    except (TypeError, ValueError):
        return None
    return None if parameter is None or parameter.default is parameter.empty else parameter.default


@dataclass(frozen=True)
class Origins:
    """Where a param group's values come from, for the message: the hparam an argument (``lr``, ``betas[1]``,
    ``betas``) was read from when ``fit`` started, and each scaled option's factor with what declares it."""

    hparams: Mapping[str, str] = field(default_factory=dict)
    scaled: Mapping[str, tuple[float, str]] = field(default_factory=dict)


def _shown(name: str, value: Any, hparam: str | None, default_of: str | None, scale: Any) -> str:
    """How a message names a value: from an hparam, an optimizer's default, scaled by the group's factor.

    Example:
        >>> _shown("eps", 1e-8, "eps", None, None)
        '`eps` from hparam `eps` = 1e-08'
        >>> _shown("lr", 1e-8, None, "Adam", (1e-5, "`lr_mult=1e-05`"))
        "`lr=1e-08` (`Adam`'s default `lr=0.001` times the group's `lr_mult=1e-05`)"
    """
    if scale is None or not scale[0] or not is_real(value):
        if hparam is not None:
            return f"`{name}` from hparam `{hparam}` = {value!r}"
        return f"`{name}={value!r}`" + (f" (`{default_of}`'s default)" if default_of else "")
    factor, by = scale
    base = f"{value / factor:.6g}"
    if hparam is not None:
        source = f"`{name}` from hparam `{hparam}` = {base}"
    elif default_of:
        source = f"`{default_of}`'s default `{name}={base}`"
    else:
        source = f"`{name}={base}`"
    return f"`{name}={value!r}` ({source} times the group's {by})"


def _in(dtype: torch.dtype, value: float) -> float:
    """``value`` rounded to ``dtype``, as an operation with a tensor of that dtype stores it."""
    return float(torch.tensor(value, dtype=torch.float64).to(dtype))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _lost_to_inf(dtype: torch.dtype, value: Any) -> tuple[str, str] | None:
    """What ``dtype`` makes of a ``value`` it makes inf, and what it keeps, else ``None``."""
    if is_real(value) and abs(_in(dtype, value)) == float("inf"):
        name = _dtype_name(dtype)
        return f"{name} makes it inf", f"the largest value {name} keeps is {torch.finfo(dtype).max:g}"
    return None


def _smallest(dtype: torch.dtype) -> tuple[float, int]:
    """The smallest positive (subnormal) value of ``dtype``, and its power of 2."""
    info = torch.finfo(dtype)
    smallest = info.smallest_normal * info.eps
    return smallest, round(float(torch.log2(torch.tensor(smallest, dtype=torch.float64))))


def _lost_to_zero(
    dtype: torch.dtype, value: Any, why: str, survives: str | None = None
) -> tuple[str, str] | None:
    """What ``dtype`` makes of a positive ``value`` it makes 0 (or inf), and ``why`` that matters, else ``None``;
    ``survives``: the advice that ends it, where not the smallest value ``dtype`` keeps."""
    if (inf := _lost_to_inf(dtype, value)) is not None:
        return inf
    if is_real(value) and value > 0 and _in(dtype, value) == 0:
        name = _dtype_name(dtype)
        smallest, power = _smallest(dtype)
        survives = survives or f"the smallest value {name} keeps above 0 is {smallest:.3g} (2**{power})"
        return f"{name} makes it 0.0", f"{why}; {survives}"
    return None


def _lost_to_one(dtype: torch.dtype, value: Any) -> tuple[str, str] | None:
    """What ``dtype`` makes of a moving average's factor in [0, 1) it makes 1.0, and why that matters."""
    if is_real(value) and 0 <= value < 1 and _in(dtype, value) == 1.0:
        name = _dtype_name(dtype)
        return (
            f"{name} makes it 1.0",
            f"it multiplies a {name} moving average at every step, which then never forgets; the largest value "
            f"below 1 that {name} keeps is {1 - torch.finfo(dtype).eps / 2:.12g}",
        )
    return None


def _lost_floor(dtype: torch.dtype, value: Any, float32_kernels: str = "") -> tuple[str, str] | None:
    """What ``dtype`` makes of a floor (``eps``) it makes 0 (or inf), why that matters and what to declare
    instead, else ``None``; ``float32_kernels``: the implementations that add it in float32
    (``_float32_kernels``), for the advice. The smallest value the dtype keeps is not advised: measured
    (tests/registry/test_precision.py), it wrecks Adam as surely."""
    name = _dtype_name(dtype)
    smallest, power = _smallest(dtype)
    why = (
        f"it is added to a {name} tensor to keep a denominator from 0, so an update divides 0 by 0 (NaN) where a "
        "gradient is 0"
    )
    advice = (
        f"any eps {name} keeps (from {smallest:.3g}, 2**{power}) still makes an update lr * grad / eps where "
        f"a small gradient's square underflows in {name} (a gradient of 1e-3 under Adam's eps=1e-7 moves a "
        "weight by thousands of times the lr): declare an eps near the gradients' size, such as 1e-4 to "
        f"1e-3{float32_kernels}"
    )
    return _lost_to_zero(dtype, value, why, advice)


def _floors_in_float32(arithmetic: Arithmetic, group: Mapping[str, Any], compiled: bool) -> bool:
    """Whether ``group``'s step adds its ``floors`` in float32, where the dtype cannot lose them: a fused kernel
    that does (``fused=True`` where ``fused_floors``) or ``implementation="compiled"`` (``compiled``)."""
    return compiled or (arithmetic.fused_floors and bool(group.get("fused")))


def _compilable(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``implementation="compiled"`` can run ``optimizer``'s step (``OptimizerInfo.compilable``)."""
    info = OPTIMIZER_INFO.get(type(optimizer))
    return False if info is None else bool(info.compilable)


def _float32_kernels(fused: bool, compiled: bool) -> str:
    """The implementations that add a floor in float32, as the advice of a refusal ends.

    Example:
        >>> _float32_kernels(True, True), _float32_kernels(False, True), _float32_kernels(False, False)
        (", or implementation='fused' or 'compiled', which add it in float32", ", or implementation='compiled', \
which adds it in float32", '')
    """
    kernels = [kernel for kernel, has in (("'fused'", fused), ("'compiled'", compiled)) if has]
    if not kernels:
        return ""
    return f", or implementation={' or '.join(kernels)}, which {'add' if len(kernels) > 1 else 'adds'} it in float32"


def _items(value: Any) -> list[tuple[str, Any]]:
    """Each value of an option with its index suffix, as a refusal names it (``betas[1]``).

    Example:
        >>> _items((0.9, 0.999)), _items(0.9)
        ([('[0]', 0.9), ('[1]', 0.999)], [('', 0.9)])
    """
    if isinstance(value, (tuple, list)):
        return [(f"[{index}]", item) for index, item in enumerate(value)]
    return [("", value)]


def _losses(
    arithmetic: Arithmetic,
    group: Mapping[str, Any],
    dtype: torch.dtype,
    floors_in_float32: bool,
    float32_kernels: str = "",
    lr: Any = None,
    lr_from: str | None = None,
) -> list[tuple[str, str, Any, str, str]]:
    """What ``dtype`` loses of ``group``'s options: ``(option, index suffix, value, what the dtype makes of
    it, why it matters and what survives)``; ``floors_in_float32``: the step adds the floors in float32
    (``_floors_in_float32``); ``float32_kernels``: the implementations that would (``_float32_kernels``), for
    the advice. ``lr``: the largest lr of the run where it is not the group's (``lr_from`` says where it comes
    from: ``"`OneCycleLR`'s `max_lr`"``)."""
    info = torch.finfo(dtype)
    name = _dtype_name(dtype)
    found: list[tuple[str, str, Any, str, str]] = []
    decoupled = arithmetic.decouples(group)
    lr = group.get("lr") if lr is None else lr

    def add(option: str, index: str, value: Any, lost: tuple[str, str] | None) -> None:
        if lost is not None:
            found.append((option, index, value, *lost))

    for option in () if floors_in_float32 else arithmetic.floors:
        add(option, "", group.get(option), _lost_floor(dtype, group.get(option), float32_kernels))
    for option in arithmetic.scales:
        if option != "weight_decay" or not decoupled:
            value = lr if option == "lr" else group.get(option)
            what = "update" if option == "lr" else "weight-decay term"
            add(
                option,
                "",
                value,
                _lost_to_zero(dtype, value, f"every {what} is then below what {name} holds"),
            )
    for option in arithmetic.factors:
        value = lr if option == "lr" else group.get(option)
        add(option, "", value, _lost_to_inf(dtype, value))
    for option in arithmetic.bounds:
        why = f"a step size that reaches it is then 0, and stays 0 (it grows by multiplying) in {name}"
        for index, item in _items(group.get(option)):
            add(option, index, item, _lost_to_zero(dtype, item, why))
    for option in arithmetic.decays:
        for index, item in _items(group.get(option)):
            add(option, index, item, _lost_to_one(dtype, item))
    weight_decay = group.get("weight_decay")
    if decoupled and is_real(lr) and is_real(weight_decay) and lr * weight_decay > 0:
        factor = 1 - lr * weight_decay
        if _in(dtype, factor) == 1.0:
            threshold = info.eps / 4  # the factor stays 1.0 up to 1 - eps/4 (a tie rounds to 1.0)
            source = "" if lr_from is None else f", {lr_from}"
            found.append(
                (
                    "weight_decay",
                    "",
                    weight_decay,
                    f"each step multiplies the weights by 1 - lr * weight_decay = {factor:.10g} (at lr={lr!r}"
                    f"{source}), which {name} makes 1.0",
                    f"the weights never decay; {name} keeps the factor from lr * weight_decay > {threshold:.3g} "
                    f"on, here weight_decay > {threshold / lr:.3g}",
                )
            )
    return found


@dataclass(frozen=True)
class PeakLrs:
    """The largest lr of each param group where a scheduler sets the lrs when it is built, not the declaration:
    ``OneCycleLR``'s ``max_lr`` (``scheduler``, ``argument``)."""

    lrs: Sequence[float]
    scheduler: str
    argument: str

    @property
    def source(self) -> str:
        return f"`{self.scheduler}`'s `{self.argument}`"


def low_precision_losses(
    optimizer: torch.optim.Optimizer,
    group_names: Sequence[str],
    declared: frozenset[str],
    group_options: Sequence[frozenset[str]],
    peak: PeakLrs | None = None,
    compiled: bool = False,
    origins: Sequence[Origins] = (),
) -> list[str]:
    """What the dtype of each param group's parameters loses of its options, in words (empty: nothing).

    ``declared`` holds the optimizer arguments the declaration sets and ``group_options`` the options each
    group sets (the others are the optimizer's defaults); the lr checked is the group's, or the run's largest
    (``peak``) where a scheduler sets it; ``compiled``: the step runs under ``implementation="compiled"``;
    ``origins``: where each group's values come from (none: declared as they are). Only float16 and bfloat16
    parameters are checked, of the optimizers listed in ``ARITHMETIC``; the same loss in several groups is said
    once.
    """
    entry = ARITHMETIC.get(type(optimizer))
    if entry is None:
        return []
    compilable = _compilable(optimizer)
    by_loss: dict[tuple[str, str, str], list[str]] = {}
    for position, (group, group_name, own) in enumerate(
        zip(optimizer.param_groups, group_names, group_options)
    ):
        origin = origins[position] if position < len(origins) else Origins()
        arithmetic = entry(group) if callable(entry) else entry
        dtypes = sorted({p.dtype for p in group["params"] if p.dtype in LOW_PRECISION}, key=str)
        lr = None if peak is None else peak.lrs[position]
        for dtype in dtypes:
            for option, index, value, becomes, why in _losses(
                arithmetic,
                group,
                dtype,
                _floors_in_float32(arithmetic, group, compiled),
                _float32_kernels(arithmetic.fused_floors, compilable),
                lr,
                None if peak is None else peak.source,
            ):
                argument = option if option in own else arithmetic.arguments.get(option, option)
                default = option not in own and argument not in declared
                if option == "lr" and peak is not None:
                    argument, default = peak.argument, False
                shown = _shown(
                    f"{argument}{index}",
                    value,
                    origin.hparams.get(f"{argument}{index}", origin.hparams.get(argument)),
                    type(optimizer).__name__ if default else None,
                    origin.scaled.get(option),
                )
                by_loss.setdefault((shown, becomes, why), []).append(group_name)
    described = []
    for (shown, becomes, why), names in by_loss.items():
        groups = ", ".join(f"`{n}`" for n in names)
        where = "" if len(names) == len(optimizer.param_groups) else f" in param group(s) {groups}"
        described.append(f"{shown}{where}: {becomes}; {why}")
    return described


def check_low_precision(
    where: str,
    optimizer: torch.optim.Optimizer,
    group_names: Sequence[str],
    declared: frozenset[str],
    group_options: Sequence[frozenset[str]],
    precision: str | None,
    peak: PeakLrs | None = None,
    compiled: bool = False,
    origins: Sequence[Origins] = (),
) -> None:
    """Refuse the options the parameters' dtype loses (``low_precision_losses``), naming each, its value, where
    it comes from, what the dtype makes of it and what survives; ``precision``: the Trainer's flag."""
    losses = low_precision_losses(optimizer, group_names, declared, group_options, peak, compiled, origins)
    if not losses:
        return
    dtypes = sorted(
        {
            _dtype_name(p.dtype)
            for g in optimizer.param_groups
            for p in g["params"]
            if p.dtype in LOW_PRECISION
        }
    )
    flag = f" (precision={precision!r})" if precision else ""
    listed = f" {losses[0]}. " if len(losses) == 1 else ":" + "".join(f"\n- {loss}" for loss in losses) + "\n"
    raise ValueError(
        f"{where}: Expected options that {' and '.join(dtypes)} parameters{flag} keep but got{listed}Declare "
        f"values that survive, or {way_out(precision, dtypes)}."
    )


#: The way out of a refusal where the Trainer made the parameters float16 or bfloat16.
MIXED = "train with precision='16-mixed' or 'bf16-mixed', which keep the weights and the optimizer state in float32"

#: The Trainer precisions that make the parameters float16 or bfloat16 (Lightning's ``HalfPrecision``).
LOW_PRECISION_RUNS = ("16-true", "bf16-true")


def way_out(precision: str | None, dtypes: Sequence[str]) -> str:
    """The way out of a refusal (after "Declare values that survive, or"): mixed precision where the Trainer's
    ``precision`` made the parameters ``dtypes`` (or no Trainer is known); where another precision left them so,
    the module was cast by hand, which no precision converts back (Lightning's mixed precision included, so
    advising it would bring the same refusal back): removing the cast.

    Example:
        >>> way_out("bf16-true", ["bfloat16"]) == MIXED
        True
        >>> way_out("32-true", ["float16"])
        "remove the cast that made the parameters float16 (`self.half()`, `.bfloat16()`, `.to(dtype)`): precision='32-true' does not, ..."
    """
    if precision is None or precision in LOW_PRECISION_RUNS:
        return MIXED
    return (
        f"remove the cast that made the parameters {' and '.join(dtypes)} (`self.half()`, `.bfloat16()`, "
        f"`.to(dtype)`): precision={precision!r} does not, and no precision converts them back. With float32 "
        "parameters, precision='16-mixed' or 'bf16-mixed' keep the weights and the optimizer state in float32"
    )


@dataclass(frozen=True)
class Rounding:
    """How one param group's step rounds the values a schedule writes: its optimizer's arithmetic and its
    parameters' low-precision dtypes (decided once, when ``fit`` starts).

    Example:
        >>> rounding = Rounding(ARITHMETIC[torch.optim.Adam], (torch.bfloat16,), floors_in_float32=False)
        >>> rounding.loss("betas", 0.99) is None
        True
        >>> rounding.loss("betas", 0.9984)[:2]
        ('bfloat16', 'bfloat16 makes it 1.0')
        >>> rounding.loss("lr", 1e-50) is None  # small, as a schedule decaying to 0 makes it: not a loss here
        True
    """

    arithmetic: Arithmetic
    dtypes: tuple[torch.dtype, ...]
    #: the step adds the ``floors`` in float32 (``_floors_in_float32``): they are lost only to inf
    floors_in_float32: bool
    #: the implementations that would add them in float32 (``_float32_kernels``), for the advice
    float32_kernels: str = ""

    def loss(self, key: str, value: float) -> tuple[str, str, str] | None:
        """The dtype, what it makes of the value ``value`` of option ``key`` and why that matters, where it is lost
        at whatever point of the run it comes: a floor (``eps``) made 0, a moving average's factor made 1.0,
        anything made inf; else ``None``. A value made 0 because it is small (an lr or weight decay, a decoupled
        decay's factor made 1.0) is not: a schedule decaying toward 0 passes through such values by design, and
        the largest value of the run is checked when ``fit`` starts (``check_low_precision``)."""
        for dtype in self.dtypes:
            if key in self.arithmetic.floors and not self.floors_in_float32:
                lost = _lost_floor(dtype, value, self.float32_kernels)
            elif key in self.arithmetic.decays:
                lost = _lost_to_one(dtype, value) or _lost_to_inf(dtype, value)
            else:  # a factor (SGD's lr), a scale, a floor added in float32: lost only to inf
                lost = _lost_to_inf(dtype, value)
            if lost is not None:
                return _dtype_name(dtype), *lost
        return None


def roundings(optimizer: torch.optim.Optimizer, compiled: bool = False) -> list[Rounding | None] | None:
    """Each param group's ``Rounding`` (``None`` for a group of full-precision parameters), or ``None`` where
    no group has float16 or bfloat16 parameters of an optimizer in ``ARITHMETIC``: then nothing is checked.
    ``compiled``: the step runs under ``implementation="compiled"``, as for ``check_low_precision``."""
    entry = ARITHMETIC.get(type(optimizer))
    if entry is None:
        return None
    compilable = _compilable(optimizer)
    found: list[Rounding | None] = []
    for group in optimizer.param_groups:
        dtypes = tuple(sorted({p.dtype for p in group["params"] if p.dtype in LOW_PRECISION}, key=str))
        arithmetic = entry(group) if callable(entry) else entry
        kept = _floors_in_float32(arithmetic, group, compiled)
        kernels = _float32_kernels(arithmetic.fused_floors, compilable)
        found.append(Rounding(arithmetic, dtypes, kept, kernels) if dtypes else None)
    return found if any(found) else None

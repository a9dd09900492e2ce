"""One record per optimizer: its names, the kernels ``implementation="auto"`` may pick, and the checks
torch does not make.

Adding an optimizer, or changing what ``"auto"`` picks for one, is one entry in ``_RECORDS``; every
``torch.optim`` optimizer without an entry gets a plain record. A library whose optimizers share a base class
(bitsandbytes) gets one entry in ``_FAMILIES``, matched once that library is imported. Per-group options are
not listed: they are the optimizer's own ``defaults``, read from a trial build when the declaring class is
defined, plus the record's ``state_options`` and ``group_options``.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch.optim import SGD, Adagrad, Adam, AdamW

from lightning_optim.optimizers.muon_adamw import GROUP_OPTIONS as MUON_ADAMW_GROUP_OPTIONS
from lightning_optim.optimizers.muon_adamw import MuonWithAdamW
from lightning_optim.registry import bnb, torchao
from lightning_optim.registry.group_checks import check_adafactor_step_size, check_schedule_free_momentum
from lightning_optim.utilities import compat
from lightning_optim.utilities.numeric import is_real


def is_optimizer_class(cls: Any) -> bool:
    """Whether ``cls`` is a concrete ``torch.optim.Optimizer`` subclass."""
    return (
        inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer
    )


def accepts_argument(cls: type, argument: str) -> bool:
    """Whether the constructor of ``cls`` takes ``argument``.

    Example:
        >>> accepts_argument(Adam, "fused"), accepts_argument(torch.optim.LBFGS, "foreach")
        (True, False)
    """
    try:
        return argument in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def takes_model(cls: type) -> bool:
    """Whether the constructor of ``cls`` takes the model instead of param groups (its first argument is
    ``model``): pytorch_optimizer's ``LOMO``, ``AdaLOMO`` and ``AdamMini`` build their own groups from it.

    Example:
        >>> class FromModel(torch.optim.SGD):
        ...     def __init__(self, model, lr=0.1):
        ...         super().__init__(model.parameters(), lr=lr)
        >>> takes_model(FromModel), takes_model(Adam)
        (True, False)
    """
    try:
        first = next(iter(inspect.signature(cls).parameters), None)
    except (TypeError, ValueError):
        return False
    return first == "model"


@functools.cache
def tensor_options(cls: type) -> frozenset[str]:
    """The constructor options of ``cls`` that its signature types as taking a ``Tensor`` (``lr``; ``betas`` of
    ``Adam`` and ``AdamW``): the ones ``implementation="compiled"`` can hold as tensors.

    Example:
        >>> sorted(tensor_options(Adam)), sorted(tensor_options(torch.optim.RMSprop))
        (['betas', 'lr'], ['lr'])
    """
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(
        name
        for name, parameter in parameters.items()
        if name != "params" and "Tensor" in str(parameter.annotation)
    )


#: torch optimizers whose step cannot be compiled, and why. ``Adafactor``'s (both its loops, torch 2.13) reads
#: numbers with ``.item()`` in its loop over the parameters: Dynamo skips the whole step and runs it eagerly.
NOT_COMPILABLE: Mapping[str, str] = MappingProxyType(
    {
        "LBFGS": "it re-evaluates the closure inside its step",
        "SparseAdam": "it takes sparse gradients only",
        "Adafactor": (
            "its step reads the step count and the norms of each parameter and update as Python numbers "
            "with `.item()`, where torch.compile breaks the graph and runs the whole step eagerly"
        ),
    }
)


def compiled_refusal(cls: type) -> str | None:
    """Why ``implementation="compiled"`` cannot compile the step of ``cls``, or ``None`` if it can.

    torch's own are those of ``torch.optim`` and its modules: ``Adafactor`` and ``Muon`` say ``torch.optim``
    itself, the others ``torch.optim.<file>``.

    Example:
        >>> compiled_refusal(Adam) is None, compiled_refusal(torch.optim.LBFGS)
        (True, 'it re-evaluates the closure inside its step')
    """
    if cls.__module__.split(".")[:2] != ["torch", "optim"]:
        return "only torch's own optimizers are compiled: another class's step is not known to compile"
    if cls.__name__ in NOT_COMPILABLE:
        return NOT_COMPILABLE[cls.__name__]
    if "lr" not in tensor_options(cls):
        return "its `lr` cannot be a tensor, so every new lr would compile the step again"
    return None


#: The options a compiled step holds as tensors where the class takes them so (``tensor_options``): they enter
#: the graph as inputs. ``SGD`` also takes a tensor ``weight_decay``, but its step branches on
#: ``weight_decay != 0``, which breaks the graph (measured on torch 2.13: the step then runs eagerly).
HELD_AS_TENSORS: tuple[str, ...] = ("lr", "betas")


@dataclass(frozen=True)
class CompiledGain:
    """One row of ``implementation="auto"``'s table for a compiled step: on ``device``, for an optimizer
    without a fused kernel there, what compiling its step saved per step and what compiling cost.

    ``"auto"`` compiles only when the run's optimizer steps repay the compile time twice over, at this saving
    scaled to the optimizer's parameter count (the step is bandwidth bound: the saving grows with the bytes
    it moves).

    Example:
        >>> gain = CompiledGain("cuda", ms_saved_per_100m=0.9, compile_s=11.0, evidence="H200")
        >>> gain.pays_back(steps=30_000, parameters=100_000_000), gain.pays_back(1_000, 100_000_000)
        (True, False)
    """

    device: str
    #: milliseconds saved per step against the best eager implementation, at 100M float32 parameters
    ms_saved_per_100m: float
    #: seconds the first compiled step took (tracing and code generation)
    compile_s: float
    #: where the figures come from: shown in the INFO line that names the choice
    evidence: str

    def pays_back(self, steps: float, parameters: int) -> bool:
        saved_s = self.ms_saved_per_100m * 1e-3 * parameters / 1e8 * steps
        return saved_s >= 2 * self.compile_s


@dataclass(frozen=True)
class AutoRule:
    """One row of ``implementation="auto"``'s decision table for an optimizer, with the figures behind it.

    On ``device`` (a device type), when ``applies`` holds for the options of every param group (the
    optimizer's defaults, the declared options, the group's), ``"auto"`` picks ``implementation`` instead of
    what ``fused_fastest_on`` alone would pick.

    Example:
        >>> rule = optimizer_info(SGD).auto_rule("cuda", [{"momentum": 0.0}])
        >>> rule.implementation, optimizer_info(SGD).auto_rule("cuda", [{"momentum": 0.9}])
        ('foreach', None)
    """

    device: str
    implementation: str
    applies: Callable[[Mapping[str, Any]], bool]
    #: what was measured: shown in the INFO line that names the choice
    evidence: str


def _no_momentum(options: Mapping[str, Any]) -> bool:
    return options.get("momentum", 0) == 0


#: Plain SGD on CUDA: issue 23's H200 figures (torch 2.11+cu130), fused 0.39 vs foreach 0.36 ms/step at 100M
#: params, 3.60 vs 3.31 ms at 1B. With momentum, fused reads and writes the momentum buffer in one pass and wins.
SGD_NO_MOMENTUM_ON_CUDA = AutoRule(
    "cuda",
    "foreach",
    _no_momentum,
    "plain SGD (momentum=0): fused measured 0.92x foreach's speed on an H200, 3.60 vs 3.31 ms/step at 1B params",
)


@dataclass(frozen=True)
class SizedState:
    """A per-parameter state whose length an option sets (``LBFGS``'s history of ``history_size`` steps), and what
    a state kept under another value of that option keeps (``resume_changed_setup="continue"``)."""

    #: the option that sets its length
    option: str
    #: ``"recent"``: a history the step shortens by dropping its oldest entries, kept at the option's most recent
    #: ones; ``"nothing"``: scratch the step starts at the option's length when it is missing, left out
    keeps: Literal["recent", "nothing"]


@dataclass(frozen=True)
class OptimizerInfo:
    """What this package knows about one optimizer class."""

    cls: type[torch.optim.Optimizer]
    #: names besides the lower-case class name
    names: tuple[str, ...] = ()
    #: device types where ``implementation="auto"`` picks the fused kernel (measured fastest there; see
    #: ``benchmarks/bench_optimizer_step.py``). Only for this exact class: a subclass may override ``step``.
    fused_fastest_on: frozenset[str] = frozenset()
    #: exceptions to ``fused_fastest_on``, first match wins (``AutoRule``)
    auto_rules: tuple[AutoRule, ...] = ()
    #: lower bounds torch does not check when building, whose violation fails inside a step
    minimums: Mapping[str, int] = field(default_factory=dict)
    #: a check of one param group's values (its ``defaults`` with the declared options applied) that torch
    #: only makes, or fails on, after some steps; raises ``ValueError`` naming the values
    check_group: Callable[[Mapping[str, Any]], None] | None = None
    #: per-parameter options a ``ParamGroup`` may set that the optimizer does not keep in its param groups
    #: (bitsandbytes' ``optim_bits``): ``prepare`` applies them from the built groups
    state_options: frozenset[str] = frozenset()
    #: the ``state_options`` the parameters of one built group get, which the group does not hold (its own
    #: override, else the optimizer's): what ``describe_optimizers`` shows for them
    state_values: Callable[[torch.optim.Optimizer, Mapping[str, Any]], Mapping[str, Any]] | None = None
    #: how a parameter's kept per-parameter state differs from the one its ``state_options`` give it now
    #: (bitsandbytes' precision), ``None`` where it does not: the group does not hold those options, so a change of
    #: one is told by the state (``resume_changed_setup="continue"`` starts such a group afresh)
    state_misfit: Callable[[torch.optim.Optimizer, torch.Tensor, Mapping[str, Any]], str | None] | None = None
    #: param-group keys that are the optimizer's own running state, written as it steps (schedule-free's step
    #: counter ``k``), each with what it holds: refused in a ``ParamGroup``, where they would be taken as options
    running_state: Mapping[str, str] = field(default_factory=dict)
    #: per-parameter state whose length an option sets, by key (``SizedState``): kept under another value of the
    #: option, it is fitted to the new one, which torch's step would otherwise overrun
    sized_state: Mapping[str, SizedState] = field(default_factory=dict)
    #: options that set the shapes of its per-parameter state (``DASH``'s ``block_size``: a preconditioner per
    #: block): a state kept under another value of one (``resume_changed_setup="continue"``) fits none of the new
    #: shapes (its step fails, or keeps the old ones and ignores the option), so the group starts afresh
    shaping_options: frozenset[str] = frozenset()
    #: per-group options the optimizer reads that its ``defaults`` does not list: ``MuonWithAdamW``'s
    #: ``defaults`` holds its Muon options, while its AdamW groups take ``betas``, ``maximize``, ... (its own
    #: ``add_param_group`` refuses an option of the other half when the class-definition trial builds it)
    group_options: frozenset[str] = frozenset()
    #: options the constructor requires in every param group it is given (pytorch_optimizer's Muon family:
    #: ``use_muon``), each with the value a trial build gives a stand-in group that may not exist at ``fit``
    #: (the leftover group); one declared for the whole optimizer goes into each group that lacks it
    #: (``groups_with_required``), as ``defaults`` do for other options
    required_in_groups: Mapping[str, Any] = field(default_factory=dict)
    #: options it divides by, which a ``SchedulerSpec(param=...)`` must keep > 0 (its ``floor_bounds``):
    #: schedule-free's ``eval()`` interpolates by ``1 - 1 / momentum``
    positive_options: frozenset[str] = frozenset()
    #: a check of the constructor arguments (the declared ones; the class's defaults for the rest) that the
    #: constructor makes with a message naming none of them; raises ``ValueError``
    check_arguments: Callable[[type, Mapping[str, Any]], None] | None = None
    #: called on the built optimizer before it trains (and before ``describe_optimizers`` measures it):
    #: applies ``state_options``, checks what the constructor does not; raises ``ValueError``
    prepare: Callable[[torch.optim.Optimizer], None] | None = None
    #: the newer torch it needs, refused when a class declaring it is defined (``compat.requires_torch``)
    needs: compat.TorchFeature | None = None
    #: where ``implementation="auto"`` compiles the step, from measurements (``CompiledGain``)
    compiled_gains: tuple[CompiledGain, ...] = ()
    #: whether its step takes sparse gradients (``nn.Embedding(..., sparse=True)``): ``False`` refuses the
    #: parameters of a module with ``sparse=True`` when ``fit`` starts, as its step would refuse their gradients;
    #: ``None`` (an optimizer from elsewhere): not known, not checked
    sparse_gradients: bool | None = None
    #: whether its step evaluates the closure itself, again at each point it tries (``LBFGS``'s line search):
    #: the training step the mixin writes from ``loss`` passes it a closure that computes the loss and its
    #: backward, as a hand-written one does, and refuses an accumulation (``training/driven.py``)
    evaluates_closure: bool = False

    def auto_rule(self, device: str, groups: Sequence[Mapping[str, Any]]) -> AutoRule | None:
        """The first of ``auto_rules`` for ``device`` that applies to every group's options, or ``None``."""
        for rule in self.auto_rules:
            if rule.device == device and groups and all(rule.applies(options) for options in groups):
                return rule
        return None

    def compiled_gain(self, device: str) -> CompiledGain | None:
        """The ``compiled_gains`` row for ``device``, or ``None``."""
        return next((gain for gain in self.compiled_gains if gain.device == device), None)

    @property
    def compilable(self) -> bool:
        """Whether ``implementation="compiled"`` can compile this exact torch class's step: its ``lr`` can be a
        tensor, and it is neither ``LBFGS`` nor ``SparseAdam``."""
        return compiled_refusal(self.cls) is None


#: How many optimizer steps a run may take for ``check_group``'s checks: about a billion.
STEP_HORIZON = 2**30


def check_asgd_step_size(group: Mapping[str, Any]) -> None:
    """``ASGD``'s step size ``lr / (1 + lambd * lr * step) ** alpha`` must stay a finite real number.

    torch computes it in Python floats, so a large ``alpha`` raises ``OverflowError`` (and a negative one
    ``ZeroDivisionError``) after a few steps, deep inside the training loop. The size is checked at steps
    1, 2, 4, ... up to ``STEP_HORIZON``; it only grows worse with the step.

    Example:
        >>> check_asgd_step_size({"lr": 0.01, "lambd": 1e-4, "alpha": 0.75})
        >>> check_asgd_step_size({"lr": 0.01, "lambd": 1e-4, "alpha": 177446034.0})
        Traceback (most recent call last):
        ...
        ValueError: Expected `ASGD`'s step size lr / (1 + lambd * lr * step) ** alpha to stay a finite real number but with lr=0.01, lambd=0.0001, alpha=177446034.0 it raises OverflowError at step 4; ...
    """
    lr, lambd, alpha = group.get("lr"), group.get("lambd"), group.get("alpha")
    if not (is_real(lr) and is_real(lambd) and is_real(alpha)):
        return  # a tensor lr: tensor arithmetic, nothing raises
    if group.get("capturable"):
        return  # tensor arithmetic on the device: nothing raises
    step = 1
    while step <= STEP_HORIZON:
        problem = None
        try:
            size = lr / ((1 + lambd * lr * step) ** alpha)
        except (OverflowError, ZeroDivisionError) as err:
            problem = f"raises {type(err).__name__}"
        else:
            if isinstance(size, complex) or not math.isfinite(size):
                problem = f"is {size!r}"
        if problem is not None:
            raise ValueError(
                "Expected `ASGD`'s step size lr / (1 + lambd * lr * step) ** alpha to stay a finite real number "
                f"but with lr={lr!r}, lambd={lambd!r}, alpha={alpha!r} it {problem} at step {step}; "
                "keep `alpha` and `lambd` small and >= 0 (defaults: alpha=0.75, lambd=1e-4)."
            )
        step *= 2


def _check_fraction(group: Mapping[str, Any], option: str, optimizer: str, why: str, fix: str) -> None:
    """Refuse a ``group``'s number ``option`` outside [0, 1) (``why``: what torch's step makes of it)."""
    value = group.get(option)
    if is_real(value) and not 0 <= value < 1:
        raise ValueError(
            f"Expected `{option}` of `{optimizer}` to be in [0, 1) but got {value!r}: {why}. Declare a value such as "
            f"`{optimizer}`'s default {fix}."
        )


def check_rmsprop_alpha(group: Mapping[str, Any]) -> None:
    """``RMSprop``'s ``alpha`` must be in [0, 1): torch checks only that it is >= 0.

    It weighs the running average of the squared gradients, ``v = alpha * v + (1 - alpha) * grad**2``: above 1
    the average turns negative and its square root NaN; at 1 it stays 0, so each update is ``lr * grad / eps``.

    Example:
        >>> check_rmsprop_alpha({"alpha": 0.0})
        >>> check_rmsprop_alpha({"alpha": 1.0})
        Traceback (most recent call last):
        ...
        ValueError: Expected `alpha` of `RMSprop` to be in [0, 1) but got 1.0: ...
    """
    why = (
        "it weighs the running average of the squared gradients (v = alpha * v + (1 - alpha) * grad**2), which "
        "above 1 turns negative (NaN weights) and at 1 stays 0 (each update is then lr * grad / eps)"
    )
    _check_fraction(group, "alpha", "RMSprop", why, "0.99")


def check_sgd_dampening(group: Mapping[str, Any]) -> None:
    """``SGD``'s ``dampening`` must be in [0, 1): torch does not check it. Without a momentum torch does not read
    it, but a schedule cycling the momentum (``OneCycleLR``, ``CyclicLR``) gives one.

    The momentum buffer takes ``1 - dampening`` of each gradient (``buf = momentum * buf + (1 - dampening) *
    grad``): at 1 it ignores every gradient after the first, above 1 it steps against them, below 0 it
    multiplies them.

    Example:
        >>> check_sgd_dampening({"dampening": 0.5, "momentum": 0.9})
        >>> check_sgd_dampening({"dampening": 2.0, "momentum": 0.0})
        Traceback (most recent call last):
        ...
        ValueError: Expected `dampening` of `SGD` to be in [0, 1) but got 2.0: ...
    """
    why = (
        "the momentum buffer takes 1 - dampening of each gradient (buf = momentum * buf + (1 - dampening) * grad), "
        "which at 1 ignores every gradient after the first, above 1 steps against them and below 0 multiplies them "
        "(without a momentum it is unread, until a schedule cycling the momentum gives one)"
    )
    _check_fraction(group, "dampening", "SGD", why, "0, or leave it out")


def check_rprop_step_sizes(group: Mapping[str, Any]) -> None:
    """``Rprop``'s ``step_sizes`` (the smallest and the largest step size) must hold 0 < smallest <= largest:
    torch does not check them.

    Each parameter's step size is clamped to them at every step: a smallest above the largest makes every step
    size the largest; a smallest of 0 lets a step size reach 0, where it stays (it grows by multiplying).

    Example:
        >>> check_rprop_step_sizes({"step_sizes": (1e-6, 50)})
        >>> check_rprop_step_sizes({"step_sizes": (1.0, 0.1)})
        Traceback (most recent call last):
        ...
        ValueError: Expected `step_sizes` of `Rprop` to be (smallest, largest) with 0 < smallest <= largest but got (1.0, 0.1): ...
    """
    sizes = group.get("step_sizes")
    if not isinstance(sizes, (tuple, list)) or len(sizes) != 2 or not all(map(is_real, sizes)):
        return
    smallest, largest = sizes
    if not 0 < smallest <= largest:
        raise ValueError(
            f"Expected `step_sizes` of `Rprop` to be (smallest, largest) with 0 < smallest <= largest but got "
            f"{sizes!r}: each step size is clamped to them at every step, so a smallest above the largest makes "
            "every step size the largest, and a smallest of 0 or less lets a step size reach 0, where it stays (it "
            "grows by multiplying). Declare values such as `Rprop`'s default (1e-06, 50)."
        )


def _h200(optimizer: str, foreach_ms: float, compiled_ms: float, compile_s: float) -> CompiledGain:
    """A row of issue 23's H200 measurement (torch 2.11+cu130, 100M float32 params in 50 tensors,
    ``benchmarks/bench_compiled_step.py --device cuda``)."""
    return CompiledGain(
        "cuda",
        ms_saved_per_100m=foreach_ms - compiled_ms,
        compile_s=compile_s,
        evidence=(
            f"compiled {optimizer} measured {foreach_ms / compiled_ms:.2f}x foreach's speed on an H200 at 100M "
            f"params ({compiled_ms} vs {foreach_ms} ms/step) after {compile_s:g} s of compiling"
        ),
    )


# CPU: fused is fastest or tied at 1M-50M parameters for each of these. CUDA: torch documents fused as its
# fastest implementation, measured so on an H200 except for plain SGD (its `AutoRule`). torch's fused Adagrad
# has no CUDA kernel. Sparse gradients: SGD, Adagrad and SparseAdam step them, LBFGS makes them dense, every other
# torch optimizer raises in its step (checked against each one's step by tests/registry/test_implementation.py).
_RECORDS: tuple[OptimizerInfo, ...] = (
    OptimizerInfo(Adam, fused_fastest_on=frozenset({"cpu", "cuda"}), sparse_gradients=False),
    OptimizerInfo(AdamW, fused_fastest_on=frozenset({"cpu", "cuda"}), sparse_gradients=False),
    OptimizerInfo(
        SGD,
        fused_fastest_on=frozenset({"cpu", "cuda"}),
        auto_rules=(SGD_NO_MOMENTUM_ON_CUDA,),
        check_group=check_sgd_dampening,
        sparse_gradients=True,
    ),
    OptimizerInfo(
        Adagrad,
        fused_fastest_on=frozenset({"cpu"}),
        compiled_gains=(_h200("Adagrad", 1.62, 0.71, 11),),
        sparse_gradients=True,
    ),
    OptimizerInfo(torch.optim.SparseAdam, sparse_gradients=True),
    OptimizerInfo(
        torch.optim.RMSprop,
        compiled_gains=(_h200("RMSprop", 1.60, 0.70, 6),),
        check_group=check_rmsprop_alpha,
        sparse_gradients=False,
    ),
    OptimizerInfo(
        torch.optim.NAdam, compiled_gains=(_h200("NAdam", 2.61, 1.12, 15),), sparse_gradients=False
    ),
    OptimizerInfo(
        torch.optim.LBFGS,
        # max_iter=0: its step evaluates the closure and updates nothing
        minimums={"history_size": 1, "max_iter": 1},
        sparse_gradients=True,  # its step makes them dense
        evaluates_closure=True,
        # its last `history_size` steps, and the scratch of its two-loop recursion, as long
        sized_state={
            **dict.fromkeys(("old_dirs", "old_stps", "ro"), SizedState("history_size", "recent")),
            "al": SizedState("history_size", "nothing"),
        },
    ),
    OptimizerInfo(
        MuonWithAdamW,
        ("muon_adamw",),
        needs=compat.MUON,
        group_options=MUON_ADAMW_GROUP_OPTIONS,
        sparse_gradients=False,
    ),
    OptimizerInfo(torch.optim.ASGD, check_group=check_asgd_step_size, sparse_gradients=False),
    OptimizerInfo(torch.optim.Rprop, check_group=check_rprop_step_sizes, sparse_gradients=False),
)

#: Every known optimizer class -> its record.
OPTIMIZER_INFO: Mapping[type, OptimizerInfo] = MappingProxyType(
    {
        **{
            cls: OptimizerInfo(cls, sparse_gradients=False)
            for _, cls in sorted(vars(torch.optim).items())
            if is_optimizer_class(cls)
        },
        **{record.cls: record for record in _RECORDS},
    }
)

#: Every optimizer name -> its class.
OPTIMIZERS: Mapping[str, type[torch.optim.Optimizer]] = MappingProxyType(
    dict(
        sorted(
            {
                **{cls.__name__.lower(): cls for cls in OPTIMIZER_INFO},
                **{name: record.cls for record in OPTIMIZER_INFO.values() for name in record.names},
            }.items()
        )
    )
)


#: Names added with ``register_optimizer`` (``external.py``) -> their records.
REGISTERED_OPTIMIZERS: dict[str, OptimizerInfo] = {}


@dataclass(frozen=True)
class Family:
    """One record for every optimizer class defined in a library's ``module`` (or below it).

    Matched only once ``module`` is imported (by a ``"bnb/..."`` name, a dotted path or the user), so no
    library is imported to look a class up.
    """

    module: str
    record: Callable[[type], OptimizerInfo]

    def matches(self, cls: type) -> bool:
        return self.module in sys.modules and (cls.__module__ + ".").startswith(self.module + ".")


def _bitsandbytes(cls: type) -> OptimizerInfo:
    """bitsandbytes' optimizers: no fused/foreach option; those managed by its ``GlobalOptimManager`` keep
    their state precision (``optim_bits``, ``min_8bit_size``) outside the param groups, set per group here."""
    if not bnb.uses_override_config(cls):
        return OptimizerInfo(cls, check_arguments=bnb.check_arguments)
    return OptimizerInfo(
        cls,
        check_group=functools.partial(bnb.check_group, cls),
        check_arguments=bnb.check_arguments,
        state_options=frozenset(bnb.STATE_OPTIONS),
        state_values=bnb.state_values,
        state_misfit=bnb.precision_misfit,
        prepare=bnb.prepare,
    )


#: What an optimizer keeps in its param groups and rewrites as it steps, by key: a schedule-free optimizer's
#: (``schedulefree`` 1.4's ``step``: ``k``, ``weight_sum``, ``lr_max``, ``scheduled_lr``; ``train``/``eval``:
#: ``train_mode``; pytorch_optimizer's forms count in ``step`` instead of ``k`` and keep no ``scheduled_lr``), and
#: what pytorch_optimizer's D-Adaptation family, ``Prodigy`` and others learn (``_PYTORCH_OPTIMIZER_STATE``).
_RUNNING_STATE: Mapping[str, str] = MappingProxyType(
    {
        "k": "its step counter",
        "step": "its step counter",
        "weight_sum": "the sum of its averaging weights",
        "lr_max": "the largest lr it has stepped with",
        "scheduled_lr": "the warmed-up lr of its last step",
        "train_mode": "whether the weights are at the training point, switched by `train()`/`eval()`, which the "
        "mixin calls",
        "d": "the step size it has learned",
        "d_max": "the largest step size it has learned",
        "d_numerator": "the numerator of its step-size estimate",
        "d_de_nom": "the denominator of its step-size estimate",
        "d_hat": "its last step-size estimate",
        "numerator_weighted": "the numerator of its step-size estimate",
        "gsq_weighted": "its weighted sum of squared gradients",
        "sk_sq_weighted": "the weighted squared norm of its gradient sum",
        "sk_l1": "the L1 norm of its gradient sum",
        "g0_norm": "the norm of its first gradient",
        "gamma": "its step-size scale, from the parameters' second moments",
        "update_counter": "the steps since it last updated its preconditioner",
        "step_size": "the step size of its last step",
        "prev_param_norm": "the parameters' norm at its previous step",
        "prev_grad_norm": "the gradients' norm at its previous step",
        "curr_param_norm": "the parameters' norm at its last step",
        "curr_grad_norm": "the gradients' norm at its last step",
    }
)


def _running_state(keys: str) -> Mapping[str, str]:
    """The ``running_state`` of an optimizer that keeps ``keys`` (space-separated), each with what it holds.

    Example:
        >>> _running_state("step d")
        {'step': 'its step counter', 'd': 'the step size it has learned'}
    """
    return {key: _RUNNING_STATE[key] for key in keys.split()}


def _schedule_free(cls: type) -> OptimizerInfo:
    return OptimizerInfo(
        cls,
        check_group=check_schedule_free_momentum,
        positive_options=frozenset({"momentum", "beta1"}),
        running_state=_running_state("k weight_sum lr_max scheduled_lr train_mode"),
    )


#: The keys pytorch_optimizer's ``step`` (and a schedule-free form's ``train``/``eval``) writes into a group,
#: where it keeps more than its step count: ``resume_changed_setup="continue"`` takes them over, so Prodigy's and
#: D-Adaptation's learned ``d`` goes on instead of starting again at ``d0``. Its other optimizers count their steps
#: in the group's ``step`` (``Adan``, ``Lion``, ...). Not listed, so a continued run starts them as declared:
#: what a ``step`` rewrites in the options, ``ASGD``'s adapted ``lr`` and ``theta`` (a schedule drives the ``lr``),
#: and ``SWATS``'s ``phase``, switched to SGD with the ``lr`` it estimates (kept without that lr, it would train SGD
#: at the declared Adam lr). ``tests/registry/test_optimizers.py`` steps every pytorch_optimizer optimizer against
#: this.
_PYTORCH_OPTIMIZER_STATE = {
    "ScheduleFreeSGD": "step weight_sum lr_max train_mode",
    "ScheduleFreeAdamW": "step weight_sum lr_max train_mode",
    "ScheduleFreeRAdam": "step weight_sum lr_max train_mode",
    "SPlus": "step train_mode",
    "DAdaptAdaGrad": "step d k gsq_weighted sk_sq_weighted sk_l1",
    "DAdaptAdam": "step d numerator_weighted",
    "DAdaptAdan": "step d k gsq_weighted",
    "DAdaptLion": "step d numerator_weighted",
    "DAdaptSGD": "step d numerator_weighted g0_norm",
    "Prodigy": "step d d_max d_numerator d_de_nom d_hat",
    "AvaGrad": "step gamma",
    "Kron": "step update_counter",
    "AliG": "step step_size",
    "ASGD": "step prev_param_norm prev_grad_norm curr_param_norm curr_grad_norm",
}


#: The options that set the shapes of a pytorch_optimizer optimizer's per-parameter state (``shaping_options``):
#: its preconditioners' blocks (``DASH``), their kind, full or diagonal (``Kron``), which dimensions have one
#: (``SOAP``, ``SPlus``), the rank of its projection (``Alice``). A state kept under another value fails the step
#: (``DASH``, ``SOAP``'s ``precondition_1d``), or the step goes on with the old shapes, as if the option had not
#: changed. ``tests/training/test_resume_continue.py`` resumes each under another value.
_PYTORCH_OPTIMIZER_SHAPING = {
    "DASH": "block_size",
    "Kron": "memory_save_mode max_size_triangular min_ndim_triangular",
    "SOAP": "max_precondition_dim precondition_1d",
    "SPlus": "max_dim",
    "Alice": "rank",
}


#: pytorch_optimizer's per-group options that its constructors write into each group, or its ``step`` reads from
#: a group, and that ``defaults`` does not list (GaLore's projection, the Muon family's Muon and AdamW halves);
#: a subclass has its bases' too (``MuonClip``, a ``Muon``)
_PYTORCH_OPTIMIZER_GROUP_OPTIONS = {
    "GaLore": "rank update_proj_gap scale projection_type",
    "Muon": "use_muon lr momentum nesterov weight_decay weight_decouple ns_steps ns_coeffs ns_method ns_reset_steps "
    "use_adjusted_lr betas eps",
    "AdaMuon": "use_muon lr betas weight_decay weight_decouple ns_steps ns_coeffs use_adjusted_lr eps",
    "NorMuon": "use_muon lr momentum beta2 nesterov weight_decay weight_decouple ns_steps ns_coeffs update_scale "
    "use_adjusted_lr betas eps",
    "AdaGO": "use_muon lr momentum nesterov weight_decay weight_decouple ns_steps ns_coeffs gamma eps v "
    "use_adjusted_lr betas",
    "MuonClip": "qk_clip attention_name",
}


def _pytorch_optimizer_group_options(cls: type) -> frozenset[str]:
    """The group options of ``cls`` and of its bases (``_PYTORCH_OPTIMIZER_GROUP_OPTIONS``)."""
    return frozenset(
        option
        for base in cls.__mro__
        for option in _PYTORCH_OPTIMIZER_GROUP_OPTIONS.get(base.__name__, "").split()
    )


#: pytorch_optimizer's per-parameter state whose length an option sets (``SizedState``): ``AdaShift``'s last
#: ``keep_num`` gradients, a ``deque(maxlen=keep_num)`` it updates from only when full (``len == keep_num``)
_PYTORCH_OPTIMIZER_SIZED = {"AdaShift": {"grad_queue": SizedState("keep_num", "recent")}}


def _pytorch_optimizer(cls: type) -> OptimizerInfo:
    group_options = _pytorch_optimizer_group_options(cls)
    return OptimizerInfo(
        cls,
        running_state=_running_state(_PYTORCH_OPTIMIZER_STATE.get(cls.__name__, "step")),
        sized_state=_PYTORCH_OPTIMIZER_SIZED.get(cls.__name__, {}),
        shaping_options=frozenset(_PYTORCH_OPTIMIZER_SHAPING.get(cls.__name__, "").split()),
        group_options=group_options,
        # the Muon family refuses a group without `use_muon` (which half trains it)
        required_in_groups={"use_muon": True} if "use_muon" in group_options else {},
    )


def _torchao(cls: type) -> OptimizerInfo:
    """torchao's low-bit optimizers: their state (tensor subclasses) is saved as plain tensors, which Lightning's
    ``torch.load`` can load, and a number written into an lr is made the tensor their step needs
    (``torchao.prepare``). Not its ``CPUOffloadOptimizer``, which wraps one optimizer per tensor without
    ``Optimizer.__init__`` (refused by name, ``torchao.offload_refusal``)."""
    return OptimizerInfo(cls, prepare=None if cls.__name__ == "CPUOffloadOptimizer" else torchao.prepare)


def _transformers(cls: type) -> OptimizerInfo:
    return OptimizerInfo(cls, check_group=check_adafactor_step_size if cls.__name__ == "Adafactor" else None)


_FAMILIES: tuple[Family, ...] = (
    Family("bitsandbytes.optim", _bitsandbytes),
    Family("schedulefree", _schedule_free),
    Family("pytorch_optimizer", _pytorch_optimizer),
    Family("transformers.optimization", _transformers),
    Family("torchao.optim", _torchao),
)


@functools.cache
def _family_info(cls: type) -> OptimizerInfo | None:
    return next((family.record(cls) for family in _FAMILIES if family.matches(cls)), None)


def optimizer_info(cls: type) -> OptimizerInfo:
    """The record of ``cls``; an optimizer from elsewhere gets a plain record.

    Example:
        >>> optimizer_info(AdamW).fused_fastest_on == {"cpu", "cuda"}
        True
    """
    if cls in OPTIMIZER_INFO:
        return OPTIMIZER_INFO[cls]
    registered = next((info for info in REGISTERED_OPTIMIZERS.values() if info.cls is cls), None)
    if registered is not None:
        return registered
    # not cached while the library is not imported: it may be imported later
    return (_family_info(cls) if any(f.module in sys.modules for f in _FAMILIES) else None) or OptimizerInfo(
        cls
    )


def evaluates_closure(cls: type) -> bool:
    """Whether the step of ``cls``, or of a class it derives from, evaluates the closure itself
    (``evaluates_closure``).

    Example:
        >>> class Tuned(torch.optim.LBFGS): ...
        >>> evaluates_closure(torch.optim.LBFGS), evaluates_closure(Tuned), evaluates_closure(Adam)
        (True, True, False)
    """
    return any(optimizer_info(k).evaluates_closure for k in cls.__mro__ if is_optimizer_class(k))


def groups_with_required(
    where: str,
    cls: type,
    kwargs: Mapping[str, Any],
    groups: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
) -> list[dict[str, Any]]:
    """``groups`` with each option ``cls`` requires in every group (``required_in_groups``) that one lacks set
    to its value in the optimizer-level ``kwargs``; a group with neither (``labels`` names each) is refused.

    Example:
        >>> groups_with_required("M.optimizer", Adam, {}, [{"lr": 0.1}], ["every parameter"])
        [{'lr': 0.1}]
    """
    required = optimizer_info(cls).required_in_groups
    if not required:
        return [dict(group) for group in groups]
    shared = {key: kwargs[key] for key in required if key in kwargs}
    for group, label in zip(groups, labels, strict=True):
        missing = next((key for key in required if key not in group and key not in shared), None)
        if missing is not None:
            raise ValueError(
                f"{where}: Expected `{missing}` to be set for {label} but got none: `{cls.__name__}` requires it "
                f"in every param group. Set `{missing}=` in the OptimizerSpec (for every group that does not "
                "set it) or in a ParamGroup selecting them."
            )
    return [{**shared, **group} for group in groups]

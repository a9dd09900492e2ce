"""``implementation="compiled"``: the optimizer's step under ``torch.compile``, its scheduled options as tensors.

Why it is built this way (torch 2.13 on the CPU, counted with Dynamo's graph counter in
``tests/building/test_compiled.py``):

* Dynamo compiles a Python number read from a param group into the graph as a constant, so a schedule that
  writes a new lr compiles the step again at every step (pytorch #107076, #130467, #133898, #163093). A 0-dim
  tensor written in place is an input of the graph and never recompiles it. torch's optimizers take ``lr`` as
  a tensor (all but ``Muon``), ``Adam`` and ``AdamW`` their ``betas`` too; the constructor's signature says
  which (``compat.tensor_options``). The tensors live on the CPU, as in torch's own recipe: writing them costs
  no transfer, and the compiled kernels read them as scalars.
* Anything may still write a number: torch's ``ReduceLROnPlateau`` and ``OneCycleLR``'s betas do, so may a
  user or a checkpoint load. Before each step the held tensors take such values back (``HeldOptions.take``, an
  identity check per option when nothing changed), so the graph never sees a number.
* Lightning's closure (forward, backward, clipping, the ``on_before_optimizer_step`` hooks) runs eagerly first,
  and torch's step hooks (the mixin's read the Trainer) run around the compiled function, never inside it:
  the graph holds the update alone, with no graph break.
* Each optimizer compiles its own copy of its class's update (``own_function``): Dynamo counts its
  recompile limit (8) per code object, dead optimizers included, so the ninth ``Adam`` of a process (a second
  ``fit``, a test session, a notebook) would otherwise run eagerly without a word.
* torch's compiled (capturable) ``Adam``/``AdamW`` divides by the lr (``eps / step_size``), so an lr of exactly 0,
  where transformers' warmups and cosine decays start and end, turns every weight into NaN. For that step
  alone the held lr is ``LR_FLOOR`` (1e-30: far enough above float32's denormals, which compiled CPU code may
  flush to 0, and an update of about 1e-30 leaves every weight above 1e-22 unchanged); the param group and
  ``LRMonitor`` keep 0.
* A checkpoint holds numbers, as an eager optimizer's does (``HeldOptions.as_numbers``; the schedules' states
  too, ``Schedule.state_dict``), so it resumes under any implementation. torch's schedulers copy the held lr
  into ``initial_lr``, ``base_lrs`` and ``_last_lr``: given back as tensors (a checkpoint from before), an eager
  run would get a tensor lr, so those load as numbers (``registry.implementation.keep_implementation``).
* Dynamo also guards on which gradients are ``None``: a step where other parameters have a gradient than at
  the first step compiles again, and past the recompile limit the step runs eagerly. That is reported once
  (``GradientPattern``); there is no exact way around it.

Options torch only takes as numbers (weight decay, ``SGD``'s momentum, ...) cannot be scheduled under
``"compiled"``: that is refused when the class is defined (``registry/implementation.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping
from types import FunctionType, MethodType
from typing import Any, cast

import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from lightning_optim.registry.implementation import held_as_tensors
from lightning_optim.schedules.schedule import numbers_in
from lightning_optim.utilities import compat


def own_function(function: FunctionType) -> FunctionType:
    """A copy of ``function`` with a code object of its own, so that Dynamo keeps a cache (and a recompile
    limit) for it alone.

    Example:
        >>> def f(x):
        ...     return x + 1
        >>> g = own_function(f)
        >>> g(1), g.__code__ is f.__code__, g.__qualname__
        (2, False, 'f')
    """
    copy = FunctionType(
        function.__code__.replace(),
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__qualname__ = function.__qualname__
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


#: the lr a compiled ``Adam``/``AdamW`` steps with where the schedule says 0 (see the module docstring)
LR_FLOOR = 1e-30


def _tensor(value: Any) -> torch.Tensor:
    return torch.tensor(float(value), dtype=torch.float32)


class HeldOptions:
    """The tensors that hold an optimizer's ``keys`` (``"lr"``, ``"betas"``) in every param group.

    Example:
        >>> opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        >>> held = HeldOptions(("lr", "betas"))
        >>> held.take(opt); opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]
        (tensor(0.1000), tensor(0.9000))
        >>> opt.param_groups[0]["lr"] = 0.05  # a scheduler writing a number
        >>> held.take(opt); opt.param_groups[0]["lr"]
        tensor(0.0500)
        >>> held.as_numbers(opt, opt.state_dict())["param_groups"][0]["lr"]
        0.05000000074505806
    """

    def __init__(self, keys: Collection[str], lr_floor: float | None = None) -> None:
        self.keys = tuple(keys)
        self.lr_floor = lr_floor
        #: per param group (by position): key -> the tensor, or the tuple of tensors for ``betas``
        self.held: list[dict[str, Any]] = []

    def take(self, optimizer: torch.optim.Optimizer) -> None:
        """Make every held option of every group its tensor again, holding the group's current value."""
        groups = optimizer.param_groups
        while len(self.held) < len(groups):
            self.held.append({})
        for group, held in zip(groups, self.held):
            for key in self.keys:
                value = group[key]
                tensors = held.get(key)
                if value is tensors and tensors is not None:
                    continue
                if isinstance(value, (tuple, list)):
                    if tensors is None:
                        tensors = tuple(_tensor(v) for v in value)
                    else:
                        for tensor, v in zip(tensors, value):
                            if v is not tensor:
                                tensor.fill_(float(v))
                elif tensors is None:
                    tensors = _tensor(value)
                else:
                    tensors.fill_(float(value))
                held[key] = group[key] = tensors

    @contextlib.contextmanager
    def lr_above_zero(self) -> Iterator[None]:
        """With an ``lr_floor``: every held lr of exactly 0 is the floor inside the block, 0 again after it."""
        zeros = []
        if self.lr_floor is not None:
            zeros = [held["lr"] for held in self.held if "lr" in held and float(held["lr"]) == 0.0]
        for tensor in zeros:
            tensor.fill_(self.lr_floor)
        try:
            yield
        finally:
            for tensor in zeros:
                tensor.zero_()

    def as_numbers(self, optimizer: Any, state_dict: dict[str, Any]) -> dict[str, Any]:
        """``Optimizer.state_dict`` post hook: the held options, and the copies torch's schedulers take of them
        (``initial_lr``, ``initial_beta1``), as Python numbers, as an eager optimizer saves them."""
        for group in state_dict["param_groups"]:
            group.update({key: numbers_in(value) for key, value in group.items() if key != "params"})
        return state_dict


class GradientPattern:
    """Warns once when the parameters that have a gradient differ from the first step's.

    Dynamo guards the compiled update on which gradients are ``None`` (torch's step skips those parameters),
    so every new pattern compiles the step again, and after Dynamo's recompile limit (8) the step runs
    eagerly for the rest of the run, without a word. Lightning sets gradients to ``None`` before each step,
    so a branch or an MoE expert left out of a batch makes a new pattern. Giving the missing gradients zeros
    would change the update (momentum and weight decay still move a parameter with a zero gradient), so
    there is no exact way around it: the user is told, at the first change, and nothing is checked after.

    Example:
        >>> a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
        >>> sgd = torch.optim.SGD([a, b], lr=0.1)
        >>> pattern = GradientPattern("Model.optimizer", {id(a): "a", id(b): "b"})
        >>> import warnings
        >>> a.grad = torch.ones(1); pattern.check(sgd)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     b.grad = torch.ones(1); pattern.check(sgd)
        >>> print(caught[0].message)  # doctest: +ELLIPSIS
        Model.optimizer: Expected the same parameters to have a gradient at every step under `implementation='compiled'` but `b` has one at step 2 and had none at step 1: ...
    """

    def __init__(self, where: str, names: Mapping[int, str]) -> None:
        self.where = where
        self.names = names
        self.first: tuple[bool, ...] | None = None
        self.steps = 0
        self.warned = False

    def check(self, optimizer: torch.optim.Optimizer) -> None:
        if self.warned:
            return
        self.steps += 1
        params = [p for group in optimizer.param_groups for p in group["params"]]
        pattern = tuple(p.grad is not None for p in params)
        if self.first is None:
            self.first = pattern
            return
        changed = next((i for i, (a, b) in enumerate(zip(self.first, pattern)) if a != b), None)
        if changed is None:
            return
        self.warned = True
        name = self.names.get(id(params[changed]), f"parameter {changed}")
        now, then = ("has one", "had none") if pattern[changed] else ("has none", "had one")
        rank_zero_warn(
            f"{self.where}: Expected the same parameters to have a gradient at every step under "
            f"`implementation='compiled'` but `{name}` {now} at step {self.steps} and {then} at step 1: Dynamo "
            "compiles the step again for every new pattern of parameters without a gradient, and after its "
            "recompile limit (8) runs it eagerly for the rest of the run. Use `implementation='auto'` for a "
            "model whose parameters do not all get a gradient at every step (branches, MoE experts).",
            category=UserWarning,
        )


def install_compiled_step(
    optimizer: torch.optim.Optimizer, where: str = "optimizer", names: Mapping[int, str] | None = None
) -> None:
    """Replace ``optimizer.step`` on the instance with its compiled form (see the module docstring).

    ``where`` and ``names`` (each parameter's name, by id) name the optimizer and a parameter in the warning of
    ``GradientPattern``.
    """
    cls = type(optimizer)
    # torch's compiled step divides by the lr for Adam and AdamW (a subclass of Adam only from torch 2.6 on)
    divides_by_lr = issubclass(cls, (torch.optim.Adam, torch.optim.AdamW))
    held = HeldOptions(held_as_tensors(cls), LR_FLOOR if divides_by_lr else None)
    held.take(optimizer)
    update = torch.compile(own_function(cast(FunctionType, compat.class_update(cls))))
    differentiable = bool(optimizer.defaults.get("differentiable", False))
    pattern = GradientPattern(where, names or {})

    def compiled_update(self: torch.optim.Optimizer) -> None:
        # as torch's `_use_grad_for_differentiable`, outside the graph
        with torch.set_grad_enabled(differentiable):
            update(self)

    hooked = torch.optim.Optimizer.profile_hook_step(compiled_update)

    def step(self: torch.optim.Optimizer, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        pattern.check(self)
        held.take(self)
        with held.lr_above_zero():
            hooked(self)
        return loss

    # a bound method, as torch's schedulers expect when they wrap ``step`` to notice it was called
    optimizer.step = MethodType(step, optimizer)  # type: ignore[method-assign]
    optimizer.register_state_dict_post_hook(held.as_numbers)

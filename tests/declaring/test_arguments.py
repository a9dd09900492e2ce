"""Declared keyword arguments against the class's signature and, for a class taking ``**kwargs``, its source."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

from lightning_optim import OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.registry.lookup import resolve_class
from tests.helpers import (
    Classifier,
    adam_has_decoupled_weight_decay,
    assert_same_weights,
    declared,
    fit,
    needs_muon,
)

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")


def test_a_misspelt_option_the_constructor_reads_from_its_kwargs_gets_it_suggested_and_listed() -> None:
    """``ScheduleFreeAdamW`` reads ``use_palm`` from its ``**kwargs`` (``kwargs.get('use_palm', False)``): a
    misspelling is told the name meant, and the accepted arguments list it with the signature's."""
    with pytest.raises(
        TypeError,
        match=r"Declared\.optimizer: `ScheduleFreeAdamW` got an unexpected argument `use_plam` "
        r"\(did you mean `use_palm`\?\) \(it takes `\*\*kwargs` but never reads `use_plam`\)\. "
        r"Accepted arguments: `lr`, .*, `use_palm`\.$",
    ):
        declared(OptimizerSpec("pytorch_optimizer/schedulefreeadamw", lr=1e-2, use_plam=True))
    module = declared(OptimizerSpec("pytorch_optimizer/schedulefreeadamw", lr=1e-2, use_palm=True))()
    (group,) = module.configure_optimizers()["optimizer"].param_groups
    assert group["use_palm"] is True


def _trained(cls: type, **options: float) -> torch.Tensor:
    """A matrix after three steps of ``cls`` with ``options``, by hand."""
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(4, 4))
    optimizer = cls([weight], lr=1e-2, **options)
    for _ in range(3):
        optimizer.zero_grad()
        ((weight @ weight - 1) ** 2).sum().backward()
        optimizer.step()
    return weight.detach()


@pytest.mark.parametrize(
    ("name", "key", "meant"),
    [
        ("adafactor", "beta1", " \\(did you mean `betas`\\?\\)"),
        ("adan", "clip_global_grad_norm", " \\(did you mean `max_grad_norm`\\?\\)"),
    ],
)
def test_an_argument_read_only_from_a_step_helpers_kwargs_is_refused(name: str, key: str, meant: str) -> None:
    """``AdaFactor`` reads ``beta1`` and ``Adan`` ``clip_global_grad_norm`` only from the ``**kwargs`` of their
    ``init_group``, which their step calls with its own value (``betas[0]``, the norm it computes): declared,
    the value goes into the param groups and nothing reads it (trained by hand, the weights are those of the
    optimizer without it). Refused naming where it is read, instead of training at the default silently."""
    cls = pytorch_optimizer.load_optimizer(name)
    assert torch.equal(_trained(cls, **{key: 0.5}), _trained(cls))
    with pytest.raises(
        TypeError,
        match=rf"Declared\.optimizer: `{cls.__name__}` got an unexpected argument `{key}`{meant} \(it takes "
        rf"`\*\*kwargs` but reads `{key}` only as an argument of its own `init_group`, never from the "
        r"declaration\)\. Accepted arguments: `lr`, ",
    ):
        declared(OptimizerSpec(f"pytorch_optimizer/{name}", lr=1e-2, **{key: 0.5}))


class ScaledSGD(torch.optim.Optimizer):
    """A user's optimizer whose constructor hands its ``**kwargs`` to a helper method of its own."""

    def __init__(self, params: Any, lr: float = 0.1, **kwargs: Any) -> None:
        super().__init__(params, {"lr": lr})
        self._configure(**kwargs)

    def _configure(self, **options: Any) -> None:
        self.scale = options.get("scale", 1.0)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"] * self.scale)
        return loss


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (ScaledSGD, {"scale": 0.5}),
        (pytorch_optimizer.load_optimizer("magma"), {"weight_decay": 0.01, "betas": (0.8, 0.99)}),
    ],
    ids=["helper-method", "magma-inner-adamw"],
)
def test_an_argument_the_constructor_hands_on_with_its_kwargs_is_accepted(cls: type, options: Any) -> None:
    """A constructor handing its ``**kwargs`` on to a call (``ScaledSGD``'s ``self._configure(**kwargs)``,
    ``Magma``'s inner ``AdamW``) may read any name there: accepted, and trained as the hand-written module
    constructing the optimizer with it, instead of refused as never read or read only by a helper."""

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            return cls(self.parameters(), lr=0.1, **options)

    def trained(module: Any) -> Any:
        torch.manual_seed(1)  # Magma masks its updates at random
        fit(module, max_epochs=2)
        return module

    ours = trained(declared(OptimizerSpec(cls, lr=0.1, **options))())
    assert_same_weights(ours, trained(HandWritten()))
    unscaled = trained(declared(OptimizerSpec(cls, lr=0.1))())
    assert not torch.equal(unscaled.model_gen.layer1.weight, ours.model_gen.layer1.weight)


class _FunctionalSGD(torch.optim.Optimizer):
    """A user's SGD whose step hands each group's options to a functional update by keyword (``**hyper``)."""

    @staticmethod
    def _update(
        p: torch.Tensor, state: dict[str, Any], lr: float, momentum: float = 0.0, dampening: float = 0.0
    ) -> None:
        buf = state.setdefault("buf", torch.zeros_like(p))
        buf.mul_(momentum).add_(p.grad, alpha=1 - dampening)
        p.add_(buf, alpha=-lr)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, self.state[p], **hyper)
        return loss


class KnownKeysSGD(_FunctionalSGD):
    """Its defaults by ``dict(...)`` keywords, updated with the known keys of its ``**kwargs``."""

    def __init__(self, params: Any, lr: float = 0.1, **kwargs: Any) -> None:
        defaults = dict(lr=lr, momentum=0.0, dampening=0.0)
        defaults.update((k, v) for k, v in kwargs.items() if k in defaults)  # known hyperparameters only
        super().__init__(params, defaults)


class CopiedKeysSGD(_FunctionalSGD):
    """Its defaults by ``dict(...)`` keywords, each item of its ``**kwargs`` copied in by a loop."""

    def __init__(self, params: Any, lr: float = 0.1, **kwargs: Any) -> None:
        defaults = dict(lr=lr, momentum=0.0, dampening=0.0)
        for k, v in kwargs.items():
            defaults[k] = v
        super().__init__(params, defaults)


class UnpackedKeysSGD(_FunctionalSGD):
    """Its ``**kwargs`` merged into its defaults: the options are named only by ``_update``'s parameters."""

    def __init__(self, params: Any, lr: float = 0.1, **kwargs: Any) -> None:
        super().__init__(params, {"lr": lr, **kwargs})


def _trains_momentum_as_hand_written_and_refuses_a_misspelling(cls: type) -> None:
    """``cls`` declared with ``momentum=0.9`` trains as the hand-written module constructing it so (and not as
    without it), and a misspelt ``momentun`` is refused, told the option meant and listing it as accepted."""

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            return cls(self.parameters(), lr=0.1, momentum=0.9)

    ours = declared(OptimizerSpec(cls, lr=0.1, momentum=0.9))()
    fit(ours, max_epochs=2)
    fit(theirs := HandWritten(), max_epochs=2)
    assert_same_weights(ours, theirs)
    without = declared(OptimizerSpec(cls, lr=0.1))()
    fit(without, max_epochs=2)
    assert not torch.equal(without.model_gen.layer1.weight, ours.model_gen.layer1.weight)
    with pytest.raises(
        TypeError,
        match=rf"^Declared\.optimizer: `{cls.__name__}` got an unexpected argument `momentun` \(did you mean "
        r"`momentum`\?\) \(it takes `\*\*kwargs` but never reads `momentun`\)\. Accepted arguments: `lr`, .*`momentum`",
    ):
        declared(OptimizerSpec(cls, lr=0.1, momentun=0.9))


@pytest.mark.parametrize("cls", [KnownKeysSGD, CopiedKeysSGD, UnpackedKeysSGD])
def test_an_option_the_class_names_by_identifier_is_accepted_and_trains_as_hand_written(cls: type) -> None:
    """``momentum`` named as a ``dict(...)`` keyword of the defaults, or as a parameter of a method the step calls
    with a group's options unpacked (``self._update(p, state, **hyper)``), is read as surely as a quoted key:
    it was refused ("never reads `momentum`") though the hand-written module trains with it. A misspelling,
    which lands in the param groups unread, is still refused, told the option meant."""
    _trains_momentum_as_hand_written_and_refuses_a_misspelling(cls)


class _HeavyBallSGD(torch.optim.Optimizer):
    """A user's SGD whose step reads each group's momentum by its quoted key (``group.get("momentum", 0.0)``)."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    buf = self.state[p].setdefault("buf", torch.zeros_like(p))
                    buf.mul_(group.get("momentum", 0.0)).add_(p.grad)
                    p.add_(buf, alpha=-group["lr"])
        return loss


class QuotedDefaultsSGD(_HeavyBallSGD):
    """Its defaults a dict literal quoting ``momentum``, its ``**kwargs`` unpacked into it."""

    def __init__(self, params: Any, lr: float = 0.1, **kwargs: Any) -> None:
        super().__init__(params, {"lr": lr, "momentum": 0.0, **kwargs})


class GroupReadSGD(_HeavyBallSGD):
    """Its ``**kwargs`` merged into its defaults: ``momentum`` is quoted only where the step reads a group."""

    def __init__(self, params: Any, lr: float = 0.1, **kwargs: Any) -> None:
        super().__init__(params, dict(lr=lr, **kwargs))


class UpdatedSGD(_HeavyBallSGD):
    """Its defaults by ``dict(...)`` keywords, updated with its whole ``**kwargs``."""

    def __init__(self, params: Any, lr: float = 0.1, **kwargs: Any) -> None:
        defaults = dict(lr=lr, momentum=0.0)
        defaults.update(kwargs)
        super().__init__(params, defaults)


class MergedSGD(_HeavyBallSGD):
    """Its defaults a dict literal, merged with its whole ``**kwargs`` by ``|=``."""

    def __init__(self, params: Any, lr: float = 0.1, **kwargs: Any) -> None:
        defaults = {"lr": lr, "momentum": 0.0}
        defaults |= kwargs
        super().__init__(params, defaults)


@pytest.mark.parametrize("cls", [QuotedDefaultsSGD, GroupReadSGD, UpdatedSGD, MergedSGD])
def test_a_misspelt_option_of_a_class_merging_its_kwargs_into_its_defaults_is_refused_told_the_option(
    cls: type,
) -> None:
    """``defaults.update(kwargs)`` puts the declared keywords in the param groups as ``{**kwargs}`` does: a
    misspelt ``momentun`` was accepted (taken for keywords handed on to a callee that may read any name) and
    trained at ``momentum=0.0``. And where the class quotes ``momentum`` (its defaults ``{"momentum": 0.0}``,
    its step's ``group.get("momentum")``), the refusal listed `lr` alone, with no near miss. ``momentum``
    itself trains as the hand-written module."""
    _trains_momentum_as_hand_written_and_refuses_a_misspelling(cls)


class _AdamWWrapper(torch.optim.Optimizer):
    """A user's composition (Lookahead-style): it steps an inner ``AdamW``, sharing its param groups and state."""

    def _wrap(self, inner: torch.optim.Optimizer) -> None:
        super().__init__(inner.param_groups, inner.defaults)
        inner.param_groups, inner.state = self.param_groups, self.state
        self.inner = inner

    def step(self, closure: Any = None) -> Any:
        return self.inner.step(closure)


class UpdatedWrapper(_AdamWWrapper):
    """Its options a dict updated with its ``**kwargs``, handed to the inner ``AdamW`` unpacked."""

    def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
        options = {"lr": lr}
        options.update(kwargs)
        self._wrap(torch.optim.AdamW(params, **options))


class MergedWrapper(_AdamWWrapper):
    """Its options a dict merged with its ``**kwargs`` by ``|=``, handed to the inner ``AdamW`` unpacked."""

    def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
        options = dict(lr=lr)
        options |= kwargs
        self._wrap(torch.optim.AdamW(params, **options))


class UnpackedWrapper(_AdamWWrapper):
    """Its options a dict literal unpacking its ``**kwargs``, handed to the inner ``AdamW`` unpacked."""

    def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
        options = {"lr": lr, **kwargs}
        self._wrap(torch.optim.AdamW(params, **options))


class HelperWrapper(_AdamWWrapper):
    """Its options ``dict(lr=lr, **kwargs)``, handed whole to a method of its own building the inner ``AdamW``."""

    def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
        options = dict(lr=lr, **kwargs)
        self._wrap(self._build(params, options))

    @staticmethod
    def _build(params: Any, options: dict[str, Any]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, **options)


@pytest.mark.parametrize("cls", [UpdatedWrapper, MergedWrapper, UnpackedWrapper, HelperWrapper])
def test_an_option_of_a_class_handing_on_a_dict_filled_from_its_kwargs_is_accepted_and_trains_as_hand_written(
    cls: type,
) -> None:
    """A dict filled from the ``**kwargs`` (``options.update(kwargs)``, ``|=``, ``{**kwargs}``, ``dict(**kwargs)``)
    and handed on in turn (``AdamW(params, **options)``, a method of its own) hands on the keywords, as
    ``AdamW(params, **kwargs)`` does: the inner ``AdamW``'s ``amsgrad=True`` was refused ("never reads
    `amsgrad`") though the hand-written module trains with it."""

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            return cls(self.parameters(), lr=0.1, amsgrad=True)

    ours = declared(OptimizerSpec(cls, lr=0.1, amsgrad=True))()
    fit(ours, max_epochs=2)
    fit(theirs := HandWritten(), max_epochs=2)
    assert_same_weights(ours, theirs)
    assert ours.trainer.optimizers[0].inner.param_groups[0]["amsgrad"] is True


@pytest.mark.parametrize(
    ("name", "key", "meant"),
    [
        ("adam", "momentum", "betas=(<momentum>, <beta2>)"),
        ("adamw", "momentum", "betas=(<momentum>, <beta2>)"),
        ("sgd", "betas", "momentum=<betas[0]>"),
    ],
)
def test_another_optimizers_name_for_the_momentum_is_told_this_ones(name: str, key: str, meant: str) -> None:
    """``Adam(momentum=0.9)`` was refused with no hint (no argument is spelled close to ``momentum``): Adam's
    momentum is ``betas[0]``; SGD's, given ``betas``, is ``momentum``."""
    with pytest.raises(
        TypeError,
        match=rf"^Declared\.optimizer: `\w+` got an unexpected argument `{key}` \(did you mean `{re.escape(meant)}`\?\)\. ",
    ):
        declared(OptimizerSpec(name, lr=0.1, **{key: 0.9}))


@pytest.mark.parametrize("name", ["rprop", "lbfgs"])
def test_weight_decay_on_an_optimizer_without_one_is_told_so(name: str) -> None:
    """It was told "did you mean `layer_decay`?", the layer-wise lr decay: following it set the group lrs to
    1e-22, 1e-14 and 1e-06 instead of a weight decay."""
    cls = resolve_class(name, "optimizer", where="test")
    with pytest.raises(TypeError) as caught:
        declared(OptimizerSpec(name, lr=0.01, weight_decay=1e-4), name="Model")
    assert str(caught.value).startswith(
        f"Model.optimizer: `{cls.__name__}` got an unexpected argument `weight_decay` (`{cls.__name__}` takes no "
        "weight decay: leave it out, or declare an optimizer that takes `weight_decay`, such as `adamw` or `sgd`). "
        "Accepted arguments: "
    )


@pytest.mark.parametrize("key", ["lr_decay", "decay"])
def test_a_decay_an_optimizer_does_not_take_is_not_told_another_kind_of_decay(key: str) -> None:
    """``Adam(lr_decay=...)`` (Adagrad's lr decay) and ``decay`` were told "did you mean `no_decay`?", the recipe
    that leaves biases and norms out of the weight decay; a group's were told `weight_decay` and `decay_mult`."""
    with pytest.raises(TypeError) as caught:
        declared(OptimizerSpec("adam", lr=0.01, **{key: 0.1}), name="Model")
    assert str(caught.value).startswith(
        f"Model.optimizer: `Adam` got an unexpected argument `{key}`. Accepted arguments: `lr`, "
    )
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec("adam", groups=[ParamGroup("model_gen.layer1", **{key: 0.1})]), name="Model")
    assert str(caught.value).startswith(
        f"Model.optimizer.groups[0]: `{key}` is not a per-group option of `Adam`. Accepted: `amsgrad`, "
    )


@pytest.mark.parametrize(
    ("optimizer", "key", "meant"),
    [
        ("adamw", "no_wd", "no_decay"),
        pytest.param("adam", "decoupled_wd", "decoupled_weight_decay", marks=adam_has_decoupled_weight_decay),
        ("adamw", "no_weight_decay", "no_decay"),  # timm's name; was told `weight_decay`, its opposite
        ("rmsprop", "alfa", "alpha"),  # a one-word misspelling two edits away (review: its hint was lost)
        ("asgd", "lamda", "lambd"),
    ],
)
def test_an_abbreviated_or_another_librarys_option_is_told_the_option_it_means(
    optimizer: str, key: str, meant: str
) -> None:
    """``wd`` reads as ``weight_decay``, and a name that drops ``no`` is another option (review: the hints for
    ``no_wd`` and ``decoupled_wd`` were lost by the rule leaving out names with another word)."""
    with pytest.raises(
        TypeError, match=rf"got an unexpected argument `{key}` \(did you mean `{meant}`\?\)\. "
    ):
        declared(OptimizerSpec(optimizer, lr=0.01, **{key: True}), name="Model")


@pytest.mark.parametrize(("optimizer", "key"), [("sgd", "interval"), ("adamw", "epochs")])
def test_a_schedulers_option_given_to_the_optimizer_is_not_told_an_optimizer_option(
    optimizer: str, key: str
) -> None:
    """``interval`` was told `nesterov` and ``epochs`` `eps` (review): other words, not misspellings."""
    with pytest.raises(TypeError, match=rf"got an unexpected argument `{key}`\. Accepted arguments: "):
        declared(OptimizerSpec(optimizer, lr=0.01, **{key: 1}), name="Model")


def test_a_misspelt_option_of_the_declaration_is_still_told_it() -> None:
    with pytest.raises(
        TypeError, match=r"got an unexpected argument `no_decays` \(did you mean `no_decay`\?\)\. "
    ):
        declared(OptimizerSpec("adam", lr=0.01, no_decays=True), name="Model")


@needs_muon
def test_betas_on_muon_with_adamw_is_told_the_adamw_halfs_argument() -> None:
    """It was told "did you mean `momentum=<betas[0]>`?", the Muon groups' momentum."""
    with pytest.raises(TypeError) as caught:
        declared(OptimizerSpec("muon_adamw", betas=(0.9, 0.95)), name="Model")
    assert str(caught.value).startswith(
        "Model.optimizer: `MuonWithAdamW` got an unexpected argument `betas` (did you mean `adamw_betas`?). "
        "Accepted arguments: "
    )


@pytest.mark.parametrize(
    ("key", "option"),
    [("lr_mult", "scaling the optimizer's `lr`"), ("decay_mult", "scaling the optimizer's `weight_decay`")],
)
def test_a_group_multiplier_given_to_the_optimizer_is_told_it_is_a_param_group_option(
    key: str, option: str
) -> None:
    """``OptimizerSpec(lr_mult=...)`` was refused without a word of where a multiplier is declared."""
    with pytest.raises(TypeError) as caught:
        declared(OptimizerSpec("adam", lr=0.01, **{key: 2.0}), name="Model")
    assert str(caught.value).startswith(
        f"Model.optimizer: `Adam` got an unexpected argument `{key}` (`{key}` is a `ParamGroup` option {option} for "
        f"the parameters it selects: declare it in `groups=[ParamGroup(<select>, {key}=...)]`). Accepted arguments: "
    )


def test_eta_max_is_told_the_peak_is_the_optimizers_lr() -> None:
    """``CosineAnnealingLR(eta_max=...)`` was told "did you mean `T_max`?", a length: following it with 0.001 was
    refused as not an int."""
    with pytest.raises(TypeError) as caught:
        declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("cosine", eta_max=0.001)), name="Model")
    assert str(caught.value).startswith(
        "Model.optimizer.scheduler: `CosineAnnealingLR` got an unexpected argument `eta_max` (`eta_max` is not an "
        "option: the schedule's peak is the optimizer's `lr`, declared in the `OptimizerSpec`). Accepted arguments: "
    )

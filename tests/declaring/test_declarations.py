"""Declarations: names, discovery, inheritance and every validation error, checked by message."""

from __future__ import annotations

import copy
import re
import sys
import warnings
from typing import Any

import lightning as L
import pytest
import torch
from torch.optim import SGD, Adam, lr_scheduler

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.optimizers.muon_adamw import MuonWithAdamW
from lightning_optim.registry.lookup import OPTIMIZERS, SCHEDULERS
from tests.helpers import Classifier, adam_betas_is_builtin_tuple, fit, needs_muon


def define(**attributes: Any) -> type:
    return type("Model", (ConfigurableOptimizersMixin, Classifier), attributes)


def sequential(milestones: list[int]) -> SchedulerSpec:
    """A ``SequentialLR`` of three schedulers switching at ``milestones``."""
    inner = [SchedulerSpec("constant", factor=0.5, total_iters=100), SchedulerSpec("exponential", gamma=0.9)]
    return SchedulerSpec(
        "sequential", milestones=milestones, schedulers=[*inner, SchedulerSpec("constant", factor=0.1)]
    )


def test_reprs_read_like_the_declaration() -> None:
    spec = OptimizerSpec(
        Adam, params="model_gen", lr=0.01, scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step")
    )
    assert repr(spec) == (
        "OptimizerSpec(Adam, params='model_gen', lr=0.01, "
        "scheduler=SchedulerSpec('exponential', gamma=0.99, interval='step'))"
    )
    assert repr(ParamGroup("*.bias", weight_decay=0.0)) == "ParamGroup('*.bias', weight_decay=0.0)"


def test_declarations_are_frozen() -> None:
    spec = SchedulerSpec("step", step_size=3)
    with pytest.raises(AttributeError):
        spec.interval = "step"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.kwargs["step_size"] = 4  # type: ignore[index]


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=needs_muon) if OPTIMIZERS[n] is MuonWithAdamW else n for n in sorted(OPTIMIZERS)],
)
def test_every_optimizer_resolves_by_name(name: str) -> None:
    kwargs: dict[str, Any] = {"lr": 0.01} if name not in {"lbfgs", "sparseadam", "adafactor"} else {}
    model = define(optimizer=OptimizerSpec(name, **kwargs))
    assert model._lightning_optim_declared[0].cls is OPTIMIZERS[name]


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_name_resolves(name: str) -> None:
    from lightning_optim.registry.lookup import is_scheduler_class, resolve

    assert (
        resolve(name, kind="scheduler", registry=SCHEDULERS, accepts=is_scheduler_class) is SCHEDULERS[name]
    )


def test_dotted_paths_resolve() -> None:
    model = define(
        optimizer=OptimizerSpec(
            "torch.optim.AdamW", scheduler=SchedulerSpec("torch.optim.lr_scheduler.StepLR", step_size=2)
        )
    )
    declared = model._lightning_optim_declared[0]
    assert declared.cls is torch.optim.AdamW
    assert declared.schedulers[0].cls is lr_scheduler.StepLR


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (
            OptimizerSpec("adamm"),
            ValueError,
            "Model.optimizer: Expected a known optimizer name or a dotted import path but got 'adamm' (did you mean `adam`?)",
        ),
        (
            OptimizerSpec("torch.nn.Linear"),
            TypeError,
            "Model.optimizer: Expected `torch.nn.Linear` to resolve to a torch.optim.Optimizer subclass",
        ),
        (
            OptimizerSpec(torch.nn.Linear),
            TypeError,
            "Model.optimizer: Expected a torch.optim.Optimizer subclass",
        ),
        (
            OptimizerSpec("no_such_module.Opt"),
            ValueError,
            "Model.optimizer: cannot import module `no_such_module`",
        ),
        (
            OptimizerSpec(Adam, lrr=0.1),
            TypeError,
            "Model.optimizer: `Adam` got an unexpected argument `lrr` (did you mean `lr`?). Accepted arguments:",
        ),
        (
            OptimizerSpec(Adam, lr=-1.0),
            ValueError,
            "Model.optimizer: `Adam` rejected the declared options: Invalid learning rate: -1.0",
        ),
        (
            OptimizerSpec(Adam, params=3),
            TypeError,
            "Model.optimizer: Expected `params` to be a submodule path",
        ),
        (
            OptimizerSpec(Adam, scheduler="step"),
            TypeError,
            "Model.optimizer.scheduler: Expected a SchedulerSpec, a list of them, or None but got 'step'",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec(lr_scheduler.StepLR, step_size=30, lnterval="step")),
            TypeError,
            "Model.optimizer.scheduler: `StepLR` got an unexpected argument `lnterval` (did you mean `interval`?)",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, interval="stpe")),
            ValueError,
            "Model.optimizer.scheduler: Expected `interval` to be one of `step`, `epoch` but got 'stpe' (did you mean `step`?)",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, frequency=0)),
            ValueError,
            "Model.optimizer.scheduler: Expected `frequency` to be a positive int but got 0",
        ),
        (  # a wrong type is a TypeError, a wrong int a ValueError
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, frequency=True)),
            TypeError,
            "Expected `frequency` to be a positive int but got True",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, frequency=1.5)),
            TypeError,
            "Model.optimizer.scheduler: Expected `frequency` to be a positive int but got 1.5",
        ),
        (  # an entry of a list cannot be None: the message does not offer None
            OptimizerSpec(Adam, scheduler=[None, SchedulerSpec("step", step_size=3)]),
            TypeError,
            "Model.optimizer.scheduler[0]: Expected a SchedulerSpec but got None (remove the entry: a list holds "
            "schedulers)",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("plateau")),
            ValueError,
            "Model.optimizer.scheduler: `ReduceLROnPlateau` needs `monitor`",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, monitor="val_loss")),
            ValueError,
            "`monitor` only applies to `ReduceLROnPlateau`",
        ),
        (  # `strict` says what a plateau does when its metric is missing: refused elsewhere, as `monitor` is
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, strict=False)),
            ValueError,
            "Model.optimizer.scheduler: Expected `strict` only with `ReduceLROnPlateau` (what it does when its "
            "`monitor` metric is missing) but got `strict=False` with `StepLR`, which monitors nothing; remove "
            "`strict`.",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, strict="yes")),
            TypeError,
            "Expected `strict` to be a bool but got 'yes'",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, name="")),
            TypeError,
            "Expected `name` to be a non-empty str or None",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=3, warmup=1.5)),
            ValueError,
            "Expected `warmup` to be None, an int >= 0",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("step")),
            TypeError,
            "Model.optimizer.scheduler: `StepLR` needs the argument(s) `step_size`",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("exponential", gamma="fast")),
            TypeError,
            "Model.optimizer.scheduler: Expected `gamma` of `ExponentialLR` to be float but got 'fast'",
        ),
        pytest.param(
            OptimizerSpec(Adam, betas=0.9),
            TypeError,
            "Model.optimizer: Expected `betas` of `Adam` to be tuple[",
            marks=adam_betas_is_builtin_tuple,
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("plateau", monitor="v", mode="minimum")),
            ValueError,
            "Model.optimizer.scheduler: Expected `mode` of `ReduceLROnPlateau` to be one of `min`, `max` but got "
            "'minimum' (did you mean `min`?).",
        ),
        (
            OptimizerSpec(SGD, groups=[ParamGroup("layer1", lr="high")]),
            TypeError,
            "Model.optimizer.groups[0]: Expected `lr` of `SGD` to be",
        ),
        (
            OptimizerSpec(Adam, scheduler=SchedulerSpec("steplr", step_size=3, gama=0.5)),
            TypeError,
            "`gama` (did you mean `gamma`?)",
        ),
        (
            OptimizerSpec(SGD, groups=[ParamGroup("layer1", betas=(0.9, 0.99))]),
            ValueError,
            "Model.optimizer.groups[0]: `betas` is not a per-group option of `SGD`. Accepted:",
        ),
        (
            OptimizerSpec(SGD, groups=["layer1"]),
            TypeError,
            "Model.optimizer.groups[0]: Expected a ParamGroup but got 'layer1'",
        ),
        (
            OptimizerSpec(SGD, groups=[ParamGroup("a"), ParamGroup("b", name="a")]),
            ValueError,
            "param group names must be unique",
        ),
        (
            OptimizerSpec(SGD, scheduler=sequential(milestones=[4, 2])),
            ValueError,
            "Model.optimizer.scheduler: Expected `milestones` of `SequentialLR` to be increasing (`schedulers[i + 1]` "
            "takes over at `milestones[i]`) but got [4, 2]: torch finds the scheduler in use by bisecting them, which "
            "takes them as sorted, so out of order or repeated they leave a scheduler that never acts (did you mean "
            "[2, 4]?).",
        ),
        (
            OptimizerSpec(
                SGD,
                scheduler=SchedulerSpec(
                    "sequential",
                    milestones=[2],
                    schedulers=[
                        SchedulerSpec("linear", start_factor=0.1, total_iters=2),
                        SchedulerSpec("cosine"),
                    ],
                ),
            ),
            TypeError,
            "Model.optimizer.scheduler: Expected every length inside `SequentialLR` to be given but got none for "
            "`T_max` of `CosineAnnealingLR` (Model.optimizer.scheduler.schedulers[1]): a length left out is derived "
            "from the run, but a scheduler inside a composite runs only the part of it the composite gives it. "
            "Give `T_max`, or declare the schedulers as a list, `scheduler=[SchedulerSpec(...), ...]`, whose "
            "schedulers each derive their length: from their window for a `SequentialLR`'s phases (`begin=` at the "
            "milestone before, `end=` at the one after).",
        ),
        (
            OptimizerSpec(SGD, scheduler=sequential(milestones=[2, 2])),
            ValueError,
            "Expected `milestones` of `SequentialLR` to be increasing (`schedulers[i + 1]` takes over at "
            "`milestones[i]`) but got [2, 2]",
        ),
    ],
)
def test_declaration_errors_at_class_definition(spec: OptimizerSpec, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        define(optimizer=spec)


def test_onecycle_defaults_to_step_and_warns_on_explicit_epoch() -> None:
    step = define(optimizer=OptimizerSpec(SGD, scheduler=SchedulerSpec("onecycle", max_lr=1.0)))
    assert step._lightning_optim_declared[0].schedulers[0].interval == "step"
    with pytest.warns(UserWarning, match="is meant to be stepped after every optimizer step"):
        define(
            optimizer=OptimizerSpec(SGD, scheduler=SchedulerSpec("onecycle", max_lr=1.0, interval="epoch"))
        )


def test_shadowing_a_lightning_module_member_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=r"Model\.optimizers: the attribute name `optimizers` is a LightningModule member"
    ):
        define(optimizers=OptimizerSpec(Adam))


def test_declaring_and_writing_configure_optimizers_is_rejected() -> None:
    with pytest.raises(
        TypeError, match=r"declares optimizers \(optimizer\) and also defines `configure_optimizers`"
    ):
        define(optimizer=OptimizerSpec(Adam), configure_optimizers=lambda self: None)


class OwnOptimizerMixin:
    """A project's shared mixin writing ``configure_optimizers`` (before the declarations')."""

    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=0.05)  # type: ignore[attr-defined]


class ByHand(Classifier):
    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=0.3)


def test_configure_optimizers_beside_declarations_it_cannot_edit_names_the_way_out() -> None:
    """A ``configure_optimizers`` beside declarations of a base (a library's module), or a mixin writing one listed
    before the declarations' mixin, was told "Remove one of the two", which a base is not the user's to do: the
    message names ``<attr> = None`` in the subclass, and the reordered bases; each trains as it says."""

    class Library(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("sgd", lr=0.3)

    with pytest.raises(TypeError) as raised:

        class Mine(Library):
            configure_optimizers = OwnOptimizerMixin.configure_optimizers

    assert str(raised.value).endswith(
        "the declarations would be ignored. Remove `configure_optimizers` from `Mine` (the declarations then train), "
        "or to train with `test_configure_optimizers_beside_declarations_it_cannot_edit_names_the_way_out.<locals>."
        "Mine.configure_optimizers`, remove the inherited declarations in `Mine`: `optimizer = None`."
    )

    class Removed(Library):
        optimizer = None
        configure_optimizers = OwnOptimizerMixin.configure_optimizers

    assert set(fit(Removed(), max_steps=2).of()) == {0.05}
    with pytest.raises(TypeError) as raised:

        class Model(OwnOptimizerMixin, ConfigurableOptimizersMixin, Classifier):
            optimizer = OptimizerSpec("sgd", lr=0.3)

    assert str(raised.value).endswith(
        "also defines `configure_optimizers` in `OwnOptimizerMixin`; the declarations would be ignored. Put "
        "`ConfigurableOptimizersMixin` first: `class Model(ConfigurableOptimizersMixin, OwnOptimizerMixin, "
        "Classifier)`, or remove one of the two."
    )

    class Reordered(ConfigurableOptimizersMixin, OwnOptimizerMixin, Classifier):
        optimizer = OptimizerSpec("sgd", lr=0.3)

    assert fit(Reordered(), max_steps=2).history == fit(ByHand(), max_steps=2).history == [[[0.3]], [[0.3]]]


def test_two_catch_all_optimizers_are_rejected() -> None:
    with pytest.raises(ValueError, match="a, b all use `params=None`"):
        define(a=OptimizerSpec(Adam), b=OptimizerSpec(Adam))


# Each of these declared nothing: the mixin reads only `OptimizerSpec` class attributes, and trained with
# no scheduler, no group, or no optimizer at all, silently.
@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {"optimizer": OptimizerSpec(SGD, lr=0.1), "scheduler": SchedulerSpec("cosine")},
            "M.scheduler: Expected every `SchedulerSpec` to be an optimizer's `scheduler` but got one as a "
            "class attribute, which declares nothing. Declare `OptimizerSpec(..., scheduler=SchedulerSpec(...))` "
            "(or a list).",
        ),
        (
            {"optimizer": OptimizerSpec(SGD, lr=0.1), "schedulers": [SchedulerSpec("cosine")]},
            "M.schedulers: Expected every `SchedulerSpec` to be an optimizer's `scheduler` but got one in a list",
        ),
        (
            {"optimizer": OptimizerSpec(SGD, lr=0.1), "groups": (ParamGroup("bias", lr=0.2),)},
            "M.groups: Expected every `ParamGroup` to be in an optimizer's `groups` but got one in a tuple, "
            "which declares nothing. Declare `OptimizerSpec(..., groups=[ParamGroup(...)])`.",
        ),
        (
            {"optimizers": [OptimizerSpec(Adam, params="a"), OptimizerSpec(Adam, params="b")]},
            "M.optimizers: Expected every `OptimizerSpec` to be a class attribute of its own but got one in a "
            "list, which declares nothing. Declare `gen_opt = OptimizerSpec(...)` for each optimizer.",
        ),
        (
            {"optimizers": {"gen": OptimizerSpec(Adam, params="a")}},
            "M.optimizers: Expected every `OptimizerSpec` to be a class attribute of its own but got one in a dict",
        ),
    ],
    ids=["scheduler", "scheduler_list", "group_tuple", "optimizer_list", "optimizer_dict"],
)
def test_a_spec_that_declares_nothing_is_rejected(attributes: dict[str, Any], expected: str) -> None:
    with pytest.raises(TypeError) as error:
        type("M", (ConfigurableOptimizersMixin, Classifier), attributes)
    assert str(error.value).startswith(expected)


def test_specs_that_a_declaration_uses_and_other_attributes_are_left_alone() -> None:
    class Shared(ConfigurableOptimizersMixin, Classifier):  # declares nothing: specs for its subclasses
        cosine = SchedulerSpec("cosine")
        bias = ParamGroup("bias", lr=0.2)

    class M(Shared):
        warmup = SchedulerSpec("linear", start_factor=0.5, total_iters=2)
        schedulers = [warmup, Shared.cosine]
        optimizer = OptimizerSpec(SGD, lr=0.1, groups=[Shared.bias], scheduler=schedulers)
        both = (optimizer,)
        names = ["a", "b"]
        table = {"lr": 0.1}
        empty: tuple[Any, ...] = ()

    class Replaced(M):  # inherits `warmup` and `schedulers`, no longer used: the base's attributes
        optimizer = OptimizerSpec(SGD, lr=0.1)

    assert [d.attribute for d in M._lightning_optim_declared] == ["optimizer"]
    assert Replaced._lightning_optim_declared[0].schedulers == ()


def test_inheritance_replaces_in_place_and_none_removes() -> None:
    class Base(ConfigurableOptimizersMixin, L.LightningModule):
        first = OptimizerSpec(Adam, params="a")
        second = OptimizerSpec(Adam, params="b")
        third = OptimizerSpec(Adam, params="c")

    class Child(Base):
        first = OptimizerSpec(SGD, params="a", lr=0.1)
        second = None

    assert [p.attribute for p in Child._lightning_optim_declared] == ["first", "third"]
    assert Child._lightning_optim_declared[0].cls is SGD
    with pytest.raises(
        TypeError,
        match=r"^Bad\.first: Expected an OptimizerSpec \(to replace the base class's\) or None \(to remove it\) but "
        r"got 3: a base class declares `first` as an OptimizerSpec\.$",
    ):
        type("Bad", (Base,), {"first": 3})
    # a misspelt removal removed nothing: `second` trained on
    with pytest.raises(TypeError) as raised:
        type("Typo", (Base,), {"secnd": None})
    assert str(raised.value) == (
        "Typo.secnd: Expected `None` to remove a declared optimizer but no base class declares `secnd` "
        "(did you mean `second`?); `second` stays declared."
    )
    # None for a name no declaration is close to, or for an attribute a base defines, is the class's own business
    type("Unrelated", (Base,), {"example_input_array": None, "logger": None})


def test_no_declaration_is_an_error_when_fit_starts() -> None:
    with pytest.raises(ValueError, match="Model: no optimizer is declared"):
        fit(define()(), max_epochs=1)


FORGOT = (
    "test_a_declaration_on_a_module_without_the_mixin_is_refused.<locals>.Forgot.optimizer: an OptimizerSpec on a "
    "LightningModule that does not inherit ConfigurableOptimizersMixin is never used. Declare the class as "
    "`class Forgot(ConfigurableOptimizersMixin, L.LightningModule)`."
)


def test_a_declaration_on_a_module_without_the_mixin_is_refused() -> None:
    # our TypeError itself, never "RuntimeError: Error calling __set_name__" (Python < 3.12 wraps what
    # `__set_name__` raises in one, and no other hook of ours runs for a plain LightningModule: there the
    # class is refused when it is instantiated)
    if sys.version_info >= (3, 12):
        with pytest.raises(TypeError) as raised:

            class Forgot(L.LightningModule):
                optimizer = OptimizerSpec(Adam)

    else:

        class Forgot(L.LightningModule):
            optimizer = OptimizerSpec(Adam)

        with pytest.raises(TypeError) as raised:
            Forgot()

        class Sub(Forgot):  # still without the mixin: refused too
            pass

        with pytest.raises(TypeError, match=re.escape(FORGOT)):
            Sub()

        class Fixed(ConfigurableOptimizersMixin, Forgot):  # the mixin in front: the declaration is used
            pass

        assert isinstance(Fixed(), Forgot) and Fixed._lightning_optim_declared[0].cls is Adam
    assert type(raised.value) is TypeError and str(raised.value) == FORGOT


def test_a_parameterized_plain_module_without_the_mixin_keeps_its_constructor() -> None:
    if sys.version_info >= (3, 12):
        pytest.skip("refused at class definition")

    class Base(L.LightningModule):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width

    class Forgot(Base):
        optimizer = OptimizerSpec(Adam)

    with pytest.raises(TypeError, match=r"Forgot\.optimizer: an OptimizerSpec on a LightningModule"):
        Forgot(3)
    assert Base(3).width == 3  # the base class is untouched


def test_optimizer_methods_on_the_declaration_outside_a_run_explain_themselves() -> None:
    model = define(optimizer=OptimizerSpec(SGD, lr=0.1))()
    for name in ("step", "zero_grad", "param_groups", "state_dict"):
        with pytest.raises(AttributeError) as raised:
            getattr(model.optimizer, name)
        assert str(raised.value) == (
            f"Model.optimizer: `{name}` belongs to the live optimizer, but before a fit `Model.optimizer` is the "
            "declaration (OptimizerSpec(SGD, lr=0.1)). The live optimizer exists once `trainer.fit` has started: use "
            f"`self.optimizer.{name}` inside `training_step` (or another hook called during fit), or "
            "`self.optimizers()`."
        )
    # probes by other libraries (jsonargparse, copy, hasattr) see plain missing attributes
    spec = model.optimizer
    assert not hasattr(spec, "step") and not hasattr(spec, "__deepcopy__") and not hasattr(spec, "anything")
    with pytest.raises(AttributeError, match=r"^'OptimizerSpec' object has no attribute 'anything'$"):
        spec.anything  # noqa: B018
    assert copy.copy(spec) == spec and spec == OptimizerSpec(SGD, lr=0.1)


def test_a_spec_shared_by_two_classes_names_no_other_class_outside_a_run() -> None:
    """One ``OptimizerSpec`` assigned in two classes (a project's constant): the message before a fit for the
    first class named the second's declaration (``B.optimizer``); it names what both share."""
    shared = OptimizerSpec(SGD, lr=0.1)
    classifier, _ = (
        type(name, (ConfigurableOptimizersMixin, Classifier), {"optimizer": shared}) for name in "AB"
    )
    with pytest.raises(AttributeError) as raised:
        classifier().optimizer.zero_grad()
    assert str(raised.value).startswith(
        "optimizer: `zero_grad` belongs to the live optimizer, but before a fit `optimizer` is the declaration "
        "(OptimizerSpec(SGD, lr=0.1)). The live optimizer exists once `trainer.fit` has started: use "
        "`self.optimizer.zero_grad` inside"
    )


def test_select_may_be_given_by_keyword() -> None:
    assert ParamGroup(select="head", lr=0.1) == ParamGroup("head", lr=0.1)
    assert repr(ParamGroup(select="head", lr=0.1)) == "ParamGroup('head', lr=0.1)"
    with pytest.raises(TypeError, match=r"^ParamGroup: Expected a selector, the parameters the group takes"):
        ParamGroup(lr=0.1)
    with pytest.raises(TypeError, match=r"^ParamGroup: Expected the selector once but got it both"):
        ParamGroup("head", select="body")


@pytest.mark.parametrize(
    ("scheduler", "source"),
    [
        (
            SchedulerSpec("onecycle", max_lr=1.0),
            "`OneCycleLR` (Model.optimizer.scheduler) sets every param group's lr from `max_lr / div_factor`",
        ),
        (
            SchedulerSpec("cyclic", base_lr=0.01, max_lr=0.1, cycle_momentum=False),
            "`CyclicLR` (Model.optimizer.scheduler) sets every param group's lr from `base_lr`",
        ),
        (
            SchedulerSpec(
                "sequential",
                schedulers=[
                    SchedulerSpec("step", step_size=1),
                    SchedulerSpec("onecycle", max_lr=1.0, total_steps=9),
                ],
                milestones=[2],
            ),
            "`OneCycleLR` (Model.optimizer.scheduler.schedulers[1])",
        ),
    ],
    ids=["onecycle", "cyclic", "inside sequential"],
)
def test_an_lr_that_the_schedule_replaces_is_warned_about(scheduler: SchedulerSpec, source: str) -> None:
    with pytest.warns(
        UserWarning, match=r"Model\.optimizer: the declared `lr=0\.1` has no effect: "
    ) as caught:
        define(optimizer=OptimizerSpec(SGD, lr=0.1, scheduler=scheduler))
    assert source in str(caught[0].message) and caught[0].filename == __file__  # points at the declaration
    with pytest.warns(
        UserWarning, match=r"the declared `lr=0\.1` and `groups\[0\]`'s `lr=0\.5` have no effect"
    ):
        define(
            optimizer=OptimizerSpec(
                SGD, lr=0.1, groups=[ParamGroup("model_gen", lr=0.5)], scheduler=scheduler
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        define(optimizer=OptimizerSpec(SGD, scheduler=scheduler))  # no lr declared: nothing to warn about
        # an `lr_mult` scales the schedule's lr arguments for its group (test_lr_arguments_keep_the_group_scales)
        define(
            optimizer=OptimizerSpec(SGD, groups=[ParamGroup("model_gen", lr_mult=0.1)], scheduler=scheduler)
        )
        define(optimizer=OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("step", step_size=1)))


def test_the_mixin_after_lightning_module_is_refused() -> None:
    with pytest.raises(
        TypeError, match=r"lists `L\.LightningModule` before `ConfigurableOptimizersMixin`"
    ) as err:

        class Order(L.LightningModule, ConfigurableOptimizersMixin):
            optimizer = OptimizerSpec(Adam)

    assert "`class Order(ConfigurableOptimizersMixin, L.LightningModule)`" in str(err.value)


def test_the_mixin_after_ones_own_module_suggests_the_class_line_that_keeps_it() -> None:
    # the suggested line keeps `Classifier`, where `training_step` lives, and any other base
    with pytest.raises(
        TypeError, match=r"lists `Classifier` \(a `LightningModule`\) before `ConfigurableOptimizersMixin`"
    ) as err:

        class Order(Classifier, ConfigurableOptimizersMixin):
            optimizer = OptimizerSpec(Adam)

    assert "Put the mixin first: `class Order(ConfigurableOptimizersMixin, Classifier)`." in str(err.value)


def test_declarations_on_a_plain_class_are_allowed() -> None:
    class Presets:  # e.g. declarations kept for `with_declarations`
        fast = OptimizerSpec(Adam, lr=1e-2)

    assert Presets.fast.kwargs["lr"] == 1e-2


@pytest.mark.parametrize(
    ("kind", "option", "message"),
    [
        (Adam, {"betas": (1.5, 0.9)}, "Invalid beta parameter at index 0: 1.5"),
        (Adam, {"weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
        (Adam, {"eps": -1.0}, "Invalid epsilon value: -1.0"),
        (SGD, {"momentum": -0.5}, "Invalid momentum value: -0.5"),
    ],
)
def test_a_group_option_torch_rejects_as_an_argument_is_refused_at_class_definition(
    kind: type, option: dict[str, Any], message: str
) -> None:
    # torch checks an optimizer's arguments but not the options of the groups it is given: these trained
    with pytest.raises(ValueError) as raised:

        class Model(ConfigurableOptimizersMixin, Classifier):
            optimizer = OptimizerSpec(
                kind, lr=0.1, groups=[ParamGroup("layer1", lr=0.5), ParamGroup("layer2", **option)]
            )

    assert str(raised.value).endswith(
        f".Model.optimizer.groups[1]: `{kind.__name__}` rejected the declared options: {message}"
    )

"""``ConfigurableOptimizersMixin`` itself: which declarations a run, a preview and a description read."""

from __future__ import annotations

import copy
import gc
import io
import pickle
import re
import warnings
import weakref
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.optim import SGD, Adam
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR, StepLR

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    declarations,
    describe_optimizers,
    preview_schedule,
    with_declarations,
)
from tests.helpers import (
    FAST,
    Classifier,
    Net,
    TwoLosses,
    TwoNetsByName,
    assert_same_weights,
    declared,
    fit,
    loader,
)


def trained(module: L.LightningModule, **trainer_kwargs: Any) -> L.Trainer:
    """A real Trainer after fitting ``module`` for two steps on tiny data."""
    trainer = L.Trainer(**{**FAST, "max_steps": 2, **trainer_kwargs})
    trainer.fit(module, loader())
    return trainer


#: what a declaration changed on the class after its body is refused with, wherever it would be read
CHANGED = (
    r"Model.{name}: Expected the declarations to stay as the class defines them but got {names} assigned after "
    r"the class body .*with_declarations\(Model, {name}=OptimizerSpec\(...\)\)"
)


def test_a_declaration_replaced_on_the_class_after_its_body_is_refused() -> None:
    """A sweep replacing the declaration on the class was silently ignored (the class body's trained); honouring
    it would train it in this process only (spawned workers, pickles and ``with_declarations`` classes read the
    class as defined), so it is refused wherever the declarations are read, pointing at a subclass."""

    class Model(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("sgd", lr=0.1)

    early = Model()
    Model.optimizer = OptimizerSpec("adam", lr=0.5)  # type: ignore[assignment]
    expected = CHANGED.format(name="optimizer", names="`optimizer`")
    with pytest.raises(TypeError, match=expected):
        preview_schedule(early, max_epochs=1, steps_per_epoch=3)
    with pytest.raises(TypeError, match=expected):
        Model()
    with pytest.raises(TypeError, match=expected):
        trained(early)
    with pytest.raises(TypeError, match=expected):
        describe_optimizers(early)
    with pytest.raises(TypeError, match=expected):
        pickle.dumps(early)  # as for a spawned worker


@pytest.mark.parametrize("change", ["removed", "added"])
def test_a_declaration_removed_or_added_after_the_class_body_is_refused(change: str) -> None:
    class Model(ConfigurableOptimizersMixin, Classifier):
        first = OptimizerSpec("sgd", params="model_gen.layer1", lr=0.1)

    early = Model()
    if change == "removed":
        Model.first = None  # type: ignore[assignment]
        name = "first"
    else:
        Model.second = OptimizerSpec("sgd", params="model_gen.layer2", lr=0.2)  # type: ignore[attr-defined]
        name = "second"
    with pytest.raises(TypeError, match=CHANGED.format(name=name, names=f"`{name}`")):
        trained(early)


def test_with_declarations_is_the_way_to_replace_a_declaration() -> None:
    class Model(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("sgd", lr=0.1)

    trial = with_declarations(Model, optimizer=OptimizerSpec("adam", lr=0.5))
    (optimizer,) = trained(trial()).optimizers
    assert isinstance(optimizer, Adam) and optimizer.param_groups[0]["lr"] == 0.5
    (optimizer,) = trained(Model()).optimizers
    assert isinstance(optimizer, SGD) and optimizer.param_groups[0]["lr"] == 0.1


class GAN(ConfigurableOptimizersMixin, Classifier):
    """Two optimizers on the two layers of one network (``gen_opt`` takes what ``dis_opt`` leaves)."""

    gen_opt = OptimizerSpec(
        "adam", lr=0.01, scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step")
    )
    dis_opt = OptimizerSpec("sgd", params="model_gen.layer2", lr=0.1)


def test_with_declarations_none_removes_a_declaration_as_a_subclass_assigning_none() -> None:
    """``with_declarations(GAN, dis_opt=None)`` was refused ("Expected an OptimizerSpec or a dict but got None")
    while the docs and the mixin's messages said ``None`` removes one: it is now the subclass assigning ``None``,
    which trains the same (automatic optimization, the same lrs and weights) under a real Trainer."""

    class OnlyGen(GAN):
        dis_opt = None  # type: ignore[assignment]

    removed = with_declarations(GAN, dis_opt=None)
    assert removed is not GAN and issubclass(removed, GAN) and removed.__qualname__ == "GAN"
    assert list(declarations(removed)) == list(declarations(OnlyGen)) == ["gen_opt"]
    assert with_declarations(GAN, dis_opt=None) is removed
    assert type(pickle.loads(pickle.dumps(removed()))) is removed

    runs = []
    for cls in (removed, OnlyGen):
        module = cls()
        runs.append((module, fit(module, max_epochs=2).of()))
    (ours, lrs), (reference, reference_lrs) = runs
    assert ours.automatic_optimization and reference.automatic_optimization
    assert lrs == reference_lrs == pytest.approx([0.01 * 0.5**step for step in range(8)])
    assert_same_weights(ours, reference)


def test_with_declarations_none_is_checked_as_any_override() -> None:
    removed = with_declarations(GAN, dis_opt=None)
    # overriding the override: one subclass of GAN, as if at once; the removed name is no longer declared
    both = with_declarations(removed, gen_opt=OptimizerSpec("adam", lr=0.2))
    assert both.__mro__[1] is GAN and list(declarations(both)) == ["gen_opt"]
    assert both.gen_opt.kwargs == {"lr": 0.2}
    with pytest.raises(
        ValueError,
        match=r"GAN.dis_opt: Expected the name of a declared optimizer \(`gen_opt`\) but got 'dis_opt'",
    ):
        with_declarations(removed, dis_opt=OptimizerSpec("sgd", lr=0.1))
    with pytest.raises(ValueError, match=r"GAN.dis_op: .* but got 'dis_op' \(did you mean `dis_opt`\?\)"):
        with_declarations(GAN, dis_op=None)
    with pytest.raises(
        TypeError, match=r"GAN.dis_opt: Expected an OptimizerSpec, a dict or None \(to remove it\)"
    ):
        with_declarations(GAN, dis_opt=0.1)  # type: ignore[arg-type]


def test_a_declaration_whose_class_skipped_the_mixins_init_subclass_is_checked_and_used() -> None:
    class Registered(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("sgd", lr=0.1)

        def __init_subclass__(cls, **kwargs: Any) -> None:  # a model registry that forgets `super()`
            pass

    class Model(Registered):
        optimizer = OptimizerSpec("adam", lr=0.5)

    (optimizer,) = trained(Model()).optimizers
    assert isinstance(optimizer, Adam) and optimizer.param_groups[0]["lr"] == 0.5

    class Broken(Registered):
        optimizer = OptimizerSpec("adam", lrr=0.5)

    with pytest.raises(TypeError, match=r"Broken.optimizer: .*`lrr` \(did you mean `lr`\?\)"):
        trained(Broken())


class HandAuto(Classifier):
    """Hand-written: an ``lr`` class keyword, set after ``super().__init_subclass__()``, read when fitting."""

    lr = 0.1

    def __init_subclass__(cls, lr: float = 0.1, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.lr = lr

    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=self.lr)


def test_a_declaration_an_init_subclass_assigns_after_calling_super_is_the_class_statements() -> None:
    """Refused when fit started, as "assigned after the class body", though a worker importing the class runs
    the same ``__init_subclass__``; it trains at the keyword's lr as the hand-written keyword does."""

    class Auto(ConfigurableOptimizersMixin, Classifier):
        def __init_subclass__(cls, lr: float = 0.1, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            cls.optimizer = OptimizerSpec("sgd", lr=lr)

    class Model(Auto, lr=0.3):
        pass

    class Deeper(Model, lr=0.2):  # the keyword again, one class further
        pass

    for ours, lr in ((Model(), 0.3), (Deeper(), 0.2)):
        theirs = type("Hand", (HandAuto,), {}, lr=lr)()
        assert fit(ours, max_steps=3).history == fit(theirs, max_steps=3).history == [[[lr]]] * 3
        assert_same_weights(ours, theirs)
    Model.optimizer = OptimizerSpec("sgd", lr=0.5)  # type: ignore[assignment]
    with pytest.raises(
        TypeError,
        match=CHANGED.format(name="optimizer", names="`optimizer`") + r"` \(`None` removes one\)\.$",
    ):
        Model()  # a change after the class statement is refused as before


def test_a_declaration_an_init_subclass_without_the_mixin_assigns_after_super_names_the_way() -> None:
    """A class without the mixin listed before it: its ``__init_subclass__`` runs around the mixin's for the
    first class, which the mixin cannot follow; the message names the order that works."""

    class AutoLr:
        def __init_subclass__(cls, lr: float = 0.1, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            cls.optimizer = OptimizerSpec("sgd", lr=lr)

    class Model(AutoLr, ConfigurableOptimizersMixin, Classifier, lr=0.3):
        pass

    with pytest.raises(
        TypeError,
        match=CHANGED.format(name="optimizer", names="`optimizer`")
        + r"` \(`None` removes one\); in `.*AutoLr.__init_subclass__`, assign it before calling `super\(\).__init_subclass__\(\)`\.$",
    ):
        Model()

    class Again(Model, lr=0.2):  # its subclasses are declared after it
        pass

    assert fit(Again(), max_steps=1).history == [[[0.2]]]


def test_a_spec_assigned_to_the_instance_is_refused_with_the_supported_ways() -> None:
    class Model(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("sgd", lr=0.1)

        def __init__(self, lr: float = 0.1) -> None:
            super().__init__()
            self.optimizer = OptimizerSpec("sgd", lr=lr)  # type: ignore[assignment]

    expected = (
        r"Model.optimizer: Expected the declaration to be a class attribute but got `OptimizerSpec\(...\)` "
        r"assigned to the instance \(`self.optimizer = ...`\), which the mixin never reads.*"
        r"`with_declarations\(Model, optimizer=...\)`.*`HParam`"
    )
    with pytest.raises(TypeError, match=expected):
        trained(Model(lr=0.5))
    with pytest.raises(TypeError, match=expected):
        preview_schedule(Model(lr=0.5), max_epochs=1, steps_per_epoch=3)
    with pytest.raises(TypeError, match=expected):
        describe_optimizers(Model(lr=0.5))


class LeftOver(ConfigurableOptimizersMixin, Classifier):
    """A hand-written optimizer left in ``__init__`` under the declared name."""

    optimizer = OptimizerSpec(SGD, lr=0.1)

    def __init__(self) -> None:
        super().__init__()
        self.optimizer = SGD(self.parameters(), lr=0.5)  # type: ignore[assignment]


class ByNameStoredArgument(ConfigurableOptimizersMixin, TwoNetsByName):
    """An ``__init__`` argument stored under a declared name that the manual ``training_step`` reaches."""

    gen_opt = OptimizerSpec(SGD, params="model_gen", lr=0.1)
    dis_opt = OptimizerSpec(SGD, params="model_dis", lr=0.1)

    def __init__(self, gen_opt: str = "sgd") -> None:
        super().__init__()
        self.gen_opt = gen_opt  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("module", "name", "shown"),
    [(LeftOver, "optimizer", "<SGD object>"), (ByNameStoredArgument, "gen_opt", "'sgd'")],
)
def test_a_value_the_instance_holds_under_a_declared_name_is_refused_when_fit_starts(
    module: type[L.LightningModule], name: str, shown: str
) -> None:
    """It hid the declaration: the mixin trained the declared optimizer at its lr while ``self.optimizer`` was
    the user's ``SGD(lr=0.5)``, and a manual ``self.gen_opt.step()`` failed in the user's code with
    ``'str' object has no attribute 'step'``. A submodule under the name is refused the same way."""
    expected = (
        f"{module.__qualname__}.{name}: Expected `{name}` to name only the declared optimizer but the instance "
        f"also holds `self.{name} = {shown}`"
    )
    with pytest.raises(ValueError, match=re.escape(expected) + r".*not the live optimizer"):
        trained(module())


def test_an_init_argument_named_like_the_optimizer_kept_in_hparams_trains_as_declared(tmp_path: Any) -> None:
    """``save_hyperparameters`` keeps arguments in ``hparams``, not as attributes: nothing hides the declaration,
    fitted, saved and loaded back, as the hand-written module."""

    class Named(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1)

        def __init__(self, optimizer: str = "sgd") -> None:
            super().__init__()
            self.save_hyperparameters()

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            return SGD(self.parameters(), lr=0.1)

    ours, reference = Named(optimizer="adam"), HandWritten()
    trainer = trained(ours, default_root_dir=tmp_path)
    trained(reference)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), reference.parameters()))
    path = tmp_path / "named.ckpt"
    trainer.save_checkpoint(path)
    loaded = Named.load_from_checkpoint(path)
    assert loaded.hparams["optimizer"] == "adam" and "optimizer" not in vars(loaded)
    assert isinstance(trained(loaded, max_steps=4).optimizers[0], SGD)


def test_an_unchanged_class_trains_as_declared() -> None:
    class Model(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1)

    declared = Model._lightning_optim_declared
    trained(Model())
    assert Model._lightning_optim_declared is declared  # not declared again: nothing changed
    assert torch.is_tensor(next(Model().parameters()))


def test_a_spec_inherited_from_a_base_that_declares_nothing_is_refused_unless_used() -> None:
    class Base(ConfigurableOptimizersMixin, Classifier):  # "every model gets this schedule and this group"
        scheduler = SchedulerSpec("step", step_size=1, gamma=0.1)
        groups = [ParamGroup("model_gen.layer2", lr=0.0)]

    with pytest.raises(
        TypeError,
        match=r"^[\w.<>]*Model.scheduler: Expected every `SchedulerSpec` to be an optimizer's `scheduler` but got "
        r"one as a class attribute of the base class `[\w.<>]*Base`, which declares nothing \(no declaration of "
        r"`Model` uses it\). Declare `OptimizerSpec\(..., scheduler=SchedulerSpec\(...\)\)` \(or a list\), e.g. "
        r"`scheduler=Base.scheduler`, or set `scheduler = None` in `Model`.$",
    ):

        class Model(Base):
            optimizer = OptimizerSpec("sgd", lr=0.1)

    with pytest.raises(
        TypeError, match=r"Model.groups: .* got one in a list of the base class `[\w.<>]*Base`"
    ):

        class Model(Base):  # type: ignore[no-redef]
            optimizer = OptimizerSpec("sgd", lr=0.1, scheduler=Base.scheduler)

    class Uses(Base):
        optimizer = OptimizerSpec("sgd", lr=0.1, scheduler=Base.scheduler, groups=Base.groups)

    class Drops(Base):
        scheduler = None
        groups = None
        optimizer = OptimizerSpec("sgd", lr=0.1)

    class Replaced(Uses):  # the base that used them declares: its attributes are left alone
        optimizer = OptimizerSpec("sgd", lr=0.1)

    (optimizer,) = trained(Uses(), max_epochs=2, max_steps=-1, limit_train_batches=1).optimizers
    assert [group["lr"] for group in optimizer.param_groups] == [0.0, 0.1 * 0.1**2]
    assert [d.attribute for d in Drops._lightning_optim_declared] == ["optimizer"]
    assert Replaced._lightning_optim_declared[0].schedulers == ()


class HandSequential(Classifier):
    """A linear warmup then a cosine, per step, in torch's ``SequentialLR``."""

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1, foreach=False)
        parts = [LinearLR(optimizer, start_factor=0.1, total_iters=2), CosineAnnealingLR(optimizer, T_max=6)]
        scheduler = SequentialLR(optimizer, parts, milestones=[2])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def test_a_scheduler_spec_attribute_used_in_a_composite_scheduler_is_no_stray() -> None:
    """The parts of a ``"sequential"`` (or ``"chained"``) scheduler held as class attributes, of the class or of
    a base that declares nothing, were refused as strays "which declare nothing" (the composite's arguments were
    not looked into); they train as the hand-written ``SequentialLR``."""

    def sequential(*parts: SchedulerSpec) -> OptimizerSpec:
        composite = SchedulerSpec("sequential", schedulers=list(parts), milestones=[2], interval="step")
        return OptimizerSpec("sgd", lr=0.1, implementation="forloop", scheduler=composite)

    class Own(ConfigurableOptimizersMixin, Classifier):
        warmup = SchedulerSpec("linear", start_factor=0.1, total_iters=2)
        cosine = SchedulerSpec("cosine", T_max=6)
        optimizer = sequential(warmup, cosine)

    class WarmBase(ConfigurableOptimizersMixin, Classifier):  # declares nothing: a part for its subclasses
        WARMUP = SchedulerSpec("linear", start_factor=0.1, total_iters=2)

    class Fine(WarmBase):
        optimizer = sequential(WarmBase.WARMUP, SchedulerSpec("cosine", T_max=6))

    class Chained(ConfigurableOptimizersMixin, Classifier):
        decay = SchedulerSpec("exponential", gamma=0.5)
        optimizer = OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("chained", schedulers=(decay,)))

    reference = HandSequential()
    expected = fit(reference, max_epochs=2).history
    for cls in (Own, Fine):
        module = cls()
        assert fit(module, max_epochs=2).history == expected
        assert_same_weights(module, reference)
    assert [d.attribute for d in Chained._lightning_optim_declared] == ["optimizer"]
    with pytest.raises(TypeError, match=r"^[\w.<>]*Unused.cosine: Expected every `SchedulerSpec` to be an"):

        class Unused(ConfigurableOptimizersMixin, Classifier):  # still refused: no declaration uses it
            warmup = SchedulerSpec("linear", start_factor=0.1, total_iters=2)
            cosine = SchedulerSpec("cosine", T_max=6)
            optimizer = sequential(warmup, SchedulerSpec("cosine", T_max=6))


@pytest.mark.parametrize("through", ["super", "the mixin by name"])
def test_a_configure_optimizers_calling_super_is_refused_for_the_true_reason(through: str) -> None:
    expected = (
        r"Extends.configure_optimizers: Expected no `configure_optimizers` of the module's own but got one that "
        r"calls the mixin's \(`super\(\).configure_optimizers\(\)`\): the mixin writes `configure_optimizers` "
        r"from the declarations \(optimizer\) and an override of it is not supported.*`HParam`.*`lr_scheduler_step`"
    )
    with pytest.raises(TypeError, match=expected) as raised:

        class Extends(ConfigurableOptimizersMixin, Classifier):
            optimizer = OptimizerSpec("sgd", lr=0.1)

            if through == "super":

                def configure_optimizers(self) -> Any:  # extend the declared setup
                    return super().configure_optimizers()

            else:

                def configure_optimizers(self) -> Any:
                    return ConfigurableOptimizersMixin.configure_optimizers(self)

    # they would not: the override builds them (the explicit call was told so, and to "remove one of the two")
    assert "would be ignored" not in str(raised.value)


def test_declarations_of_several_bases_are_ordered_from_the_far_end_of_the_mro() -> None:
    class GenPart:  # declaration holders, as docs/guides/several-optimizers.md's "Declaration order" lists them
        gen_opt = OptimizerSpec("sgd", params="model_gen.layer2", lr=0.1, loss="gen_loss")

    class DisPart:
        dis_opt = OptimizerSpec("sgd", params="model_gen.layer1", lr=0.2, loss="dis_loss")

    class GAN(ConfigurableOptimizersMixin, GenPart, DisPart, L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model_gen = Net()
            self.losses: list[str] = []

        def loss(self, batch: Any, name: str) -> torch.Tensor:
            self.losses.append(name)
            x, y = batch
            return nn.functional.cross_entropy(self.model_gen(x), y)

        def gen_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self.loss(batch, "gen_opt")

        def dis_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self.loss(batch, "dis_opt")

    module = GAN()
    trainer = trained(module, max_steps=-1, max_epochs=1, limit_train_batches=1)
    assert [d.attribute for d in GAN._lightning_optim_declared] == ["dis_opt", "gen_opt"]
    assert module.losses == ["dis_opt", "gen_opt"]  # the stepping order
    assert [o.param_groups[0]["lr"] for o in trainer.optimizers] == [0.2, 0.1]


def test_an_optimizer_named_as_the_mixins_own_option_is_refused_as_that_option() -> None:
    with pytest.raises(
        ValueError,
        match=r"^Model\.resume_changed_setup: the attribute name `resume_changed_setup` is "
        r"ConfigurableOptimizersMixin's own option \(what a resume does with a changed setup\) and would be shadowed",
    ):
        type(
            "Model",
            (ConfigurableOptimizersMixin, Classifier),
            {"resume_changed_setup": OptimizerSpec(SGD, lr=0.1)},
        )


# Each trained without a word (the attribute read by nothing), or failed only when `fit` started: Lightning's
# lookup found the attribute for `lr` ("Expected the hyperparameter `lr` for `lr` to be a value but got
# HParam('lr', default=0.3)").
@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {"lr": HParam("lr", default=0.3), "optimizer": OptimizerSpec(SGD, lr=HParam("lr", default=0.1))},
            "M.lr: Expected every `HParam` to be a value in a declaration but got one as a class attribute, "
            "which declares nothing, under the name of the hyperparameter `lr` that M.optimizer reads for `lr` "
            "(HParam('lr', default=0.1)): Lightning's lookup (`lightning_getattr`) finds this attribute for `lr` "
            "wherever the module's hparams hold none, and it is no value. Use it in M.optimizer (`lr=lr`), or "
            "remove it.",
        ),
        (
            {
                "betas": (HParam("beta1"), 0.999),
                "optimizer": OptimizerSpec(Adam, scheduler=SchedulerSpec("step", step_size=HParam("betas"))),
            },
            "M.betas: Expected every `HParam` to be a value in a declaration but got one in a tuple, which "
            "declares nothing, under the name of the hyperparameter `betas` that M.optimizer.scheduler reads "
            "for `step_size` (HParam('betas'))",
        ),
    ],
    ids=["shadowing", "in_a_tuple"],
)
def test_an_hparam_as_a_class_attribute_beside_a_declaration_reading_its_name_is_refused(
    attributes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(TypeError) as error:
        type("M", (ConfigurableOptimizersMixin, Classifier), attributes)
    assert str(error.value).startswith(expected)


def test_an_hparam_kept_on_a_class_for_its_subclasses_is_accepted() -> None:
    """An `HParam` under a name no declaration of the class reads is kept for subclasses (a catalogue of
    defaults), also on a class that declares an optimizer of its own; it was refused there ("declares nothing")."""

    class Catalogue(ConfigurableOptimizersMixin, Classifier):
        WARMUP = HParam("warmup", default=0)
        optimizer = OptimizerSpec(SGD, lr=0.1)

    class Warmed(Catalogue):
        optimizer = OptimizerSpec(
            SGD, lr=0.1, scheduler=SchedulerSpec("cosine", T_max=8, warmup=Catalogue.WARMUP, interval="step")
        )

        def __init__(self, warmup: int = 2) -> None:
            super().__init__()
            self.save_hyperparameters()

    lrs = fit(Warmed(), max_epochs=1).of()
    assert lrs[:3] == pytest.approx([0.1 / 3, 0.2 / 3, 0.1])  # the warmup read from the subclass's hparams
    assert fit(Catalogue(), max_epochs=1).of() == [0.1] * 4


def test_an_hparam_inherited_from_a_base_that_declares_nothing_is_refused_unless_used() -> None:
    class Base(ConfigurableOptimizersMixin, Classifier):
        lr = HParam("lr", default=0.3)

    with pytest.raises(
        TypeError,
        match=r"^[\w.<>]*Model.lr: Expected every `HParam` to be a value in a declaration but got one as a class "
        r"attribute of the base class `[\w.<>]*Base`, which declares nothing, under the name of the hyperparameter "
        r"`lr` that [\w.<>]*Model.optimizer reads .* no value. Use it in [\w.<>]*Model.optimizer \(`lr=Base.lr`\), or "
        r"remove it.$",
    ):

        class Model(Base):
            optimizer = OptimizerSpec(SGD, lr=HParam("lr", default=0.1))

    class Uses(Base):
        optimizer = OptimizerSpec(SGD, lr=Base.lr)

    assert fit(Uses(), max_epochs=1).of() == [0.3] * 4  # the base's default: nothing saved


class NamedHParam(ConfigurableOptimizersMixin, Classifier):
    """``lr`` named once in the class body and used by the declaration: the attribute is what Lightning's lookup
    finds for ``lr`` where the hparams hold none."""

    lr = HParam("lr", default=0.3)
    optimizer = OptimizerSpec(SGD, lr=lr, scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5))


class NamedHParamSaved(NamedHParam):
    def __init__(self, lr: float = 0.2) -> None:
        super().__init__()
        self.save_hyperparameters()


class NamedHParamNoDefault(ConfigurableOptimizersMixin, Classifier):
    lr = HParam("lr")
    optimizer = OptimizerSpec(SGD, lr=lr)


class HandWrittenStepLR(Classifier):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.initial_lr = lr

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=self.initial_lr)
        return {"optimizer": optimizer, "lr_scheduler": StepLR(optimizer, step_size=1, gamma=0.5)}


@pytest.mark.parametrize(("module", "lr"), [(NamedHParam, 0.3), (NamedHParamSaved, 0.2)])
def test_an_hparam_class_attribute_a_declaration_uses_trains_with_the_saved_value_or_its_default(
    module: type[L.LightningModule], lr: float
) -> None:
    """With the value saved it trained; without, `fit` failed: the lookup read the attribute, the HParam itself,
    as the value (`Expected the hyperparameter `lr` for `lr` to be a value but got HParam('lr', default=0.3)`)."""
    ours, reference = module(), HandWrittenStepLR(lr)
    lrs = fit(ours, limit_train_batches=2).of()
    assert lrs == fit(reference, limit_train_batches=2).of() == [lr, lr, lr / 2, lr / 2, lr / 4, lr / 4]
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), reference.parameters()))


def test_an_hparam_class_attribute_without_default_and_no_value_is_a_missing_hparam() -> None:
    with pytest.raises(
        ValueError,
        match=r"^NamedHParamNoDefault.optimizer: Expected the module to have the hyperparameter `lr` for `lr` "
        r"\(declared as HParam\('lr'\), without default\) but `NamedHParamNoDefault` has none",
    ):
        trained(NamedHParamNoDefault())


# -- a fit keeps nothing alive --------------------------------------------------------------------------------
#
# A sweep or a notebook fits one module after another: once the user drops a module and its Trainer, the
# module, the Trainer (with its dataloaders) and the optimizers (with their state) must go, as they go with a
# hand-written `configure_optimizers`. Each case is a mixin module beside the hand-written one it stands for.


class HandStepScheduled(Classifier):
    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": StepLR(optimizer, 1, 0.5), "interval": "step"},
        }


class HandEpochScheduled(Classifier):
    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "lr_scheduler": StepLR(optimizer, 1, 0.5)}


class HandSGD(Classifier):
    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=0.1)


class LossDriven(ConfigurableOptimizersMixin, TwoLosses):
    gen_opt = OptimizerSpec(SGD, params="model_gen", lr=0.1, loss="gen_loss")
    dis_opt = OptimizerSpec(SGD, params="model_dis", lr=0.1, loss="dis_loss", every=2)


class HandTwoLosses(TwoLosses):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def configure_optimizers(self) -> Any:
        return [SGD(self.model_gen.parameters(), lr=0.1), SGD(self.model_dis.parameters(), lr=0.1)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        gen, dis = self.optimizers()  # type: ignore[misc]
        for optimizer, loss in ((gen, self.gen_loss), (dis, self.dis_loss)):
            if optimizer is dis and (batch_idx + 1) % 2:
                continue
            optimizer.zero_grad()
            self.manual_backward(loss(batch, batch_idx))
            optimizer.step()


class ManualScheduled(ConfigurableOptimizersMixin, TwoNetsByName):
    gen_opt = OptimizerSpec(
        SGD,
        params="model_gen",
        lr=0.1,
        scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5, interval="step"),
    )
    dis_opt = OptimizerSpec(
        SGD, params="model_dis", lr=0.1, scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5)
    )


class HandManualScheduled(TwoNetsByName):
    def configure_optimizers(self) -> Any:
        gen, dis = SGD(self.model_gen.parameters(), lr=0.1), SGD(self.model_dis.parameters(), lr=0.1)
        return [gen, dis], [{"scheduler": StepLR(gen, 1, 0.5), "interval": "step"}, StepLR(dis, 1, 0.5)]

    @property
    def gen_opt(self) -> Any:
        return self.optimizers()[0]  # type: ignore[index]

    @property
    def dis_opt(self) -> Any:
        return self.optimizers()[1]  # type: ignore[index]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        super().training_step(batch, batch_idx)
        gen, dis = self.lr_schedulers()  # type: ignore[misc]
        gen.step()
        if self.trainer.is_last_batch:
            dis.step()


StepScheduled = declared(
    OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5, interval="step"))
)
EpochScheduled = declared(OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5)))
SkipNonfinite = declared(OptimizerSpec(SGD, lr=0.1, skip_nonfinite=1))


class SubclassRedeclared(StepScheduled):  # type: ignore[misc, valid-type]
    optimizer = OptimizerSpec(
        Adam, lr=0.01, scheduler=SchedulerSpec(CosineAnnealingLR, interval="step", warmup=2)
    )


def lr_monitor(cls: type) -> Any:
    """An lr monitor for a module of ``cls``: this package's beside a mixin module, Lightning's beside a
    hand-written one."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    from lightning_optim import LRMonitor

    return LRMonitor() if issubclass(cls, ConfigurableOptimizersMixin) else LearningRateMonitor()


#: name: (the mixin module, the hand-written one it stands for, whether an lr monitor is attached, whether it resumes)
RELEASED = {
    "per-step scheduler": (StepScheduled, HandStepScheduled, False, False),
    "per-epoch scheduler": (EpochScheduled, HandEpochScheduled, False, False),
    "skip_nonfinite": (SkipNonfinite, HandSGD, False, False),
    "loss= with two optimizers": (LossDriven, HandTwoLosses, False, False),
    "manual optimization with schedulers": (ManualScheduled, HandManualScheduled, False, False),
    "LRMonitor attached": (StepScheduled, HandStepScheduled, True, False),
    "resumed from a checkpoint": (StepScheduled, HandStepScheduled, False, True),
    "subclass redeclaring the optimizer": (SubclassRedeclared, HandStepScheduled, False, False),
}


def fitted_and_dropped(cls: type, monitored: bool, checkpoint: Any) -> list[Any]:
    """Weak references to a module of ``cls``, its Trainer, optimizers and train data after a fit (resumed from
    ``checkpoint`` once it exists, else writing it), the strong ones gone. Lightning's ``LearningRateMonitor``
    holds the module's ``log`` method, so a ``monitored`` fit's monitor goes with its Trainer."""
    module, data = cls(), loader()
    logger = L.pytorch.loggers.CSVLogger(checkpoint.parent) if monitored else False
    callbacks = [lr_monitor(cls)] if monitored else []
    trainer = L.Trainer(**{**FAST, "max_epochs": 2, "logger": logger, "callbacks": callbacks})
    trainer.fit(module, data, ckpt_path=checkpoint if checkpoint.exists() else None)
    if not checkpoint.exists():
        trainer.save_checkpoint(checkpoint)
    return [weakref.ref(obj) for obj in (module, trainer, data, *trainer.optimizers)]


@pytest.mark.parametrize("kind", ["mixin", "hand-written"])
@pytest.mark.parametrize("case", list(RELEASED))
def test_a_fit_keeps_nothing_alive_once_the_module_and_trainer_are_dropped(
    case: str, kind: str, tmp_path: Any
) -> None:
    """Each fit of a mixin module with a per-step schedule, `skip_nonfinite` or `loss=` was kept alive for the
    rest of the process, with its Trainer, data and optimizers: module-level weak dicts held values that referred
    back to their keys (an optimizer's step outcomes, a schedule's gate, a module's training-step driver)."""
    mixin, hand, monitored, resumes = RELEASED[case]
    cls = mixin if kind == "mixin" else hand
    checkpoint = tmp_path / "last.ckpt"
    refs = []
    for _ in range(2 if resumes else 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the resumed fit's "mid-epoch" notes and the like
            refs += fitted_and_dropped(cls, monitored, checkpoint)
    gc.collect()
    alive = [type(ref()).__name__ for ref in refs if ref() is not None]
    assert not alive, f"{case}: still alive after the fit: {alive}"


class KeepsItsSchedule(ConfigurableOptimizersMixin, Classifier):
    """Keeps its schedule, as a manual loop written ``self.sched = self.lr_schedulers()`` does."""

    optimizer = OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("cosine", warmup=2, interval="step"))

    def on_train_start(self) -> None:
        self.sched = self.lr_schedulers()


class KeepsItsGroupsSchedule(KeepsItsSchedule):
    """Its schedule holds the scales of its optimizer's groups."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        groups=[ParamGroup("model_gen.layer1", lr_mult=0.1)],
        scheduler=SchedulerSpec("cosine", interval="step"),
    )


class KeepsItsTransformersSchedule(KeepsItsSchedule):
    """Its schedule holds a transformers schedule's record (its names of transformers' arguments)."""

    optimizer = OptimizerSpec(
        "sgd", lr=0.1, scheduler=SchedulerSpec("transformers/cosine", num_warmup_steps=2, interval="step")
    )


@pytest.mark.parametrize("keeps", [KeepsItsSchedule, KeepsItsGroupsSchedule, KeepsItsTransformersSchedule])
def test_a_module_keeping_its_schedule_is_saved_whole_and_copied_as_a_hand_written_one(
    keeps: type[KeepsItsSchedule],
) -> None:
    """``torch.save(model)`` and ``copy.deepcopy`` of it failed with ``cannot pickle 'mappingproxy' object``: the
    schedule held its declaration's read-only arguments and, through the hook that fixes its shape when training
    starts, the ``Trainer``; then, with a ``ParamGroup`` declared, its groups' scales, and for a
    ``"transformers/..."`` schedule, its record's names of transformers' arguments. A hand-written scheduler holds
    only its optimizer."""
    model = keeps()
    fit(model, max_epochs=2)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for again in (torch.load(buffer, weights_only=False), copy.deepcopy(model)):
        assert again.sched.state_dict() == model.sched.state_dict()
        assert again.sched.derive is None
        again.sched.step()
        assert again.sched.get_last_lr() != model.sched.get_last_lr()  # its own optimizer's, stepped alone

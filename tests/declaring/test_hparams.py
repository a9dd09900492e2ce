"""``HParam``: checked at class definition like a literal, read from the module when ``fit`` starts.

Every value read at ``fit`` is compared with the same declaration written with literals: same lr at every
step, same weights, and (for a bad value) the same message, with the hyperparameter named.
"""

from __future__ import annotations

import re
from typing import Any

import lightning as L
import pytest
import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR

import lightning_optim
from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    describe_optimizers,
    preview_schedule,
)
from tests.helpers import (
    FAST,
    Classifier,
    VitLike,
    assert_same_weights,
    fit,
    loader,
    steplr_gamma_is_annotated,
    torch_lrs,
)
from tests.training.test_losses import BATCHES as GAN_BATCHES
from tests.training.test_losses import HandWritten as HandWrittenGan
from tests.training.test_losses import data as gan_data
from tests.training.test_losses import declared as gan
from tests.training.test_skip_nonfinite import declared as nan_at
from tests.training.test_skip_nonfinite import rows as nan_rows


def declare(spec: OptimizerSpec, base: type[L.LightningModule] = Classifier) -> type[Any]:
    """A class ``Declared`` (as messages call it) declaring ``spec``, whose keyword arguments are its hparams."""

    def __init__(self: Any, **hparams: Any) -> None:
        base.__init__(self)
        self.save_hyperparameters(hparams)

    return type("Declared", (ConfigurableOptimizersMixin, base), {"optimizer": spec, "__init__": __init__})


def literal(spec: OptimizerSpec, base: type[L.LightningModule] = Classifier) -> type[Any]:
    return type("Declared", (ConfigurableOptimizersMixin, base), {"optimizer": spec})


def error_of(make: Any) -> BaseException:
    with pytest.raises((TypeError, ValueError)) as info:
        make()
    return info.value


def trainer(**kwargs: Any) -> L.Trainer:
    return L.Trainer(**{**FAST, "max_epochs": 1, **kwargs})


# HParam itself


def test_repr_and_export() -> None:
    assert repr(HParam("lr")) == "HParam('lr')"
    assert repr(HParam("weight_decay", default=0.01)) == "HParam('weight_decay', default=0.01)"
    assert repr(HParam("warmup", default=None)) == "HParam('warmup', default=None)"
    assert HParam("lr") == HParam("lr") and HParam("lr") != HParam("lr", default=None)
    assert "HParam" in lightning_optim.__all__
    assert lightning_optim.__all__ == sorted(lightning_optim.__all__, key=lambda n: (n[0].islower(), n))
    with pytest.raises(AttributeError):
        HParam("lr").name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((3,), TypeError, r"^HParam: Expected `name` to be a str \(the hyperparameter's name\) but got 3\.$"),
        (("",), ValueError, r"^HParam: Expected `name` to be an identifier such as 'lr' .* but got ''\.$"),
        (("model.lr",), ValueError, r"an identifier .* but got 'model\.lr'\.$"),
        (("lr", HParam("base_lr")), TypeError, r"^HParam\('lr'\): Expected `default` to be a value"),
    ],
)
def test_name_must_be_an_identifier(args: tuple[Any, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        HParam(*args)


# at class definition


BAD_DEFAULTS = [
    pytest.param({"lr": -1.0}, {}, id="rejected-by-torch"),
    pytest.param({"lr": float("nan")}, {}, id="nan-lr"),
    pytest.param({"momentum": "0.9"}, {}, id="type"),
    pytest.param({}, {"gamma": "0.5"}, id="scheduler-type", marks=steplr_gamma_is_annotated),
    pytest.param({}, {"warmup": 1.5}, id="warmup"),
    pytest.param({}, {"frequency": 0}, id="frequency"),
    pytest.param({}, {"warmup": 2, "warmup_start_factor": 1.0}, id="warmup-start-factor"),
    pytest.param({"layer_decay": 2.0, "layer_decay_blocks": "blocks"}, {}, id="layer-decay"),
    pytest.param({"skip_nonfinite": -1}, {}, id="skip-nonfinite"),
    pytest.param({"skip_nonfinite": 2.0}, {}, id="skip-nonfinite-type"),
    pytest.param({"every": 0}, {}, id="every"),
    pytest.param({"every": 2}, {}, id="every-without-loss"),
    pytest.param({}, {"begin": -1}, id="begin"),
    pytest.param({}, {"end": 0}, id="end"),
    pytest.param({}, {"begin": 3, "end": 2}, id="empty-window"),
    pytest.param({}, {"begin": 1, "warmup": 2}, id="window-and-warmup"),
]


@pytest.mark.parametrize(("optimizer", "scheduler"), BAD_DEFAULTS)
def test_a_default_is_checked_like_the_same_literal(
    optimizer: dict[str, Any], scheduler: dict[str, Any]
) -> None:
    def spec(wrap: Any) -> OptimizerSpec:
        options = {k: v if k == "layer_decay_blocks" else wrap(k, v) for k, v in optimizer.items()}
        return OptimizerSpec(
            "sgd",
            **{"lr": 0.1, **options},
            scheduler=SchedulerSpec("step", step_size=1, **{k: wrap(k, v) for k, v in scheduler.items()}),
        )

    expected = error_of(lambda: literal(spec(lambda k, v: v)))
    got = error_of(lambda: literal(spec(lambda k, v: HParam(k, default=v))))
    assert (type(got), str(got)) == (type(expected), str(expected))


def test_keys_are_checked_without_a_default() -> None:
    with pytest.raises(
        TypeError,
        match=r"^Declared\.optimizer: `SGD` got an unexpected argument `lnr` \(did you mean `lr`\?\)",
    ):
        literal(OptimizerSpec("sgd", lnr=HParam("lr")))
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer\.groups\[0\]: `lrr` is not a per-group option of `SGD` \(did you mean `lr`\?\)",
    ):
        literal(OptimizerSpec("sgd", groups=[ParamGroup("model_gen.layer1", lrr=HParam("lr"))]))
    with pytest.raises(
        TypeError, match=r"^Declared\.optimizer\.scheduler: `StepLR` got an unexpected argument `stepsize`"
    ):
        literal(OptimizerSpec("sgd", scheduler=SchedulerSpec("step", stepsize=HParam("s"))))
    with pytest.raises(
        TypeError, match=r"^Declared\.optimizer\.scheduler: `StepLR` needs the argument\(s\) `step_size`"
    ):
        literal(OptimizerSpec("sgd", scheduler=SchedulerSpec("step", gamma=HParam("gamma"))))
    # an option of the declaration that is checked against another keeps that check
    with pytest.raises(ValueError, match=r"`warmup_start_factor` only applies with a `warmup`"):
        literal(
            OptimizerSpec(
                "sgd", scheduler=SchedulerSpec("step", step_size=1, warmup_start_factor=HParam("f"))
            )
        )


def test_values_without_a_default_wait_for_fit() -> None:
    # every place an HParam may stand, none with a default: the class is defined, nothing is guessed
    spec = OptimizerSpec(
        "adamw",
        lr=HParam("lr"),
        betas=(HParam("beta1"), 0.999),
        groups=[ParamGroup("blocks", weight_decay=HParam("block_decay"))],
        layer_decay=HParam("layer_decay"),
        layer_decay_blocks="blocks",
        scheduler=SchedulerSpec(
            "sequential",
            schedulers=[
                SchedulerSpec("linear", start_factor=HParam("start"), total_iters=HParam("ramp")),
                SchedulerSpec("step", step_size=HParam("step_size"), gamma=HParam("gamma")),
            ],
            milestones=[HParam("ramp")],
            frequency=HParam("frequency"),
            warmup=HParam("warmup"),
            warmup_start_factor=HParam("start_factor"),
        ),
    )
    cls = literal(spec, VitLike)
    (declared,) = cls._lightning_optim_declared
    assert [(o.where, o.key, o.name) for o in declared.hparams] == [
        ("Declared.optimizer", "lr", "lr"),
        ("Declared.optimizer", "betas[0]", "beta1"),
        ("Declared.optimizer", "layer_decay", "layer_decay"),
        ("Declared.optimizer.groups[0]", "weight_decay", "block_decay"),
        ("Declared.optimizer.scheduler.schedulers[0]", "start_factor", "start"),
        ("Declared.optimizer.scheduler.schedulers[0]", "total_iters", "ramp"),
        ("Declared.optimizer.scheduler.schedulers[1]", "step_size", "step_size"),
        ("Declared.optimizer.scheduler.schedulers[1]", "gamma", "gamma"),
        ("Declared.optimizer.scheduler", "milestones[0]", "ramp"),
        ("Declared.optimizer.scheduler", "frequency", "frequency"),
        ("Declared.optimizer.scheduler", "warmup", "warmup"),
        ("Declared.optimizer.scheduler", "warmup_start_factor", "start_factor"),
    ]
    assert cls.optimizer is spec  # the declaration is kept as written


@pytest.mark.parametrize(
    ("spec", "where", "option"),
    [
        (OptimizerSpec("sgd", params=HParam("p")), "Declared.optimizer", "params"),
        (OptimizerSpec("sgd", no_decay=HParam("n")), "Declared.optimizer", "no_decay"),
        (OptimizerSpec("sgd", implementation=HParam("i")), "Declared.optimizer", "implementation"),
        (
            OptimizerSpec("sgd", layer_decay=0.5, layer_decay_blocks=HParam("b")),
            "Declared.optimizer",
            "layer_decay_blocks",
        ),
        (OptimizerSpec("sgd", groups=[ParamGroup(HParam("s"))]), r"Declared.optimizer.groups\[0\]", "select"),  # type: ignore[arg-type]
        (
            OptimizerSpec("sgd", groups=[ParamGroup("model_gen", name=HParam("n"))]),
            r"Declared.optimizer.groups\[0\]",
            "name",
        ),
        (
            OptimizerSpec("sgd", scheduler=SchedulerSpec("step", step_size=1, interval=HParam("i"))),  # type: ignore[arg-type]
            "Declared.optimizer.scheduler",
            "interval",
        ),
        (
            OptimizerSpec("sgd", scheduler=SchedulerSpec("step", step_size=1, unit=HParam("u"))),  # type: ignore[arg-type]
            "Declared.optimizer.scheduler",
            "unit",
        ),
        (
            OptimizerSpec("sgd", scheduler=SchedulerSpec("step", step_size=1, param=HParam("p"))),  # type: ignore[arg-type]
            "Declared.optimizer.scheduler",
            "param",
        ),
        (
            OptimizerSpec("sgd", scheduler=SchedulerSpec("plateau", monitor=HParam("m"))),
            "Declared.optimizer.scheduler",
            "monitor",
        ),
    ],
)
def test_an_hparam_only_stands_for_a_value(spec: OptimizerSpec, where: str, option: str) -> None:
    with pytest.raises(
        TypeError, match=rf"^{where}: Expected `{option}` of the \w+ to be a literal value but got HParam"
    ):
        literal(spec)


#: What the refusal of an HParam standing for a spec, or a spec's class, adds: the ways to choose one.
CHOSEN_PER_CLASS = (
    " A declaration is chosen per class, not per instance: `with_declarations(Declared, optimizer=OptimizerSpec(...))` "
    "returns the subclass declaring it, and `DeclarativeCLI` reads it from the config or command line "
    "(`--optim.optimizer.scheduler.class_path=...`, `--optim.optimizer.class_path=...`)."
)


@pytest.mark.parametrize(
    ("spec", "where", "named"),
    [
        (
            OptimizerSpec(HParam("o", default="adam")),
            "Declared.optimizer",
            "the first argument of the OptimizerSpec",
        ),  # type: ignore[arg-type]
        (
            OptimizerSpec("sgd", scheduler=SchedulerSpec(HParam("s", default="cosine"))),  # type: ignore[arg-type]
            "Declared.optimizer.scheduler",
            "the first argument of the SchedulerSpec",
        ),
        (
            OptimizerSpec("sgd", scheduler=[SchedulerSpec(HParam("s", default="cosine"))]),  # type: ignore[arg-type]
            "Declared.optimizer.scheduler[0]",
            "the first argument of the SchedulerSpec",
        ),
        (
            OptimizerSpec("sgd", scheduler=HParam("schedule")),
            "Declared.optimizer",
            "`scheduler` of the OptimizerSpec",
        ),  # type: ignore[arg-type]
    ],
)
def test_an_hparam_choosing_the_optimizer_or_scheduler_is_told_how_a_declaration_is_chosen(
    spec: OptimizerSpec, where: str, named: str
) -> None:
    """``OptimizerSpec(HParam("opt_name"))`` was told "Expected `optimizer` of the OptimizerSpec", a name the
    user never wrote (the first argument is ``cls_or_name``), and ``scheduler=HParam("schedule")``, the wiring
    of a spec ``__init__`` argument, got no pointer to the way that works. Both name what was written and give
    it; following it, the declaration the subclass holds trains as torch's scheduler by hand."""
    error = error_of(lambda: literal(spec))
    assert isinstance(error, TypeError)
    assert str(error).startswith(f"{where}: Expected {named} to be a literal value but got HParam(")
    assert str(error).endswith(CHOSEN_PER_CLASS)
    chosen = lightning_optim.with_declarations(
        literal(OptimizerSpec("sgd", lr=0.1)),
        optimizer=OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("exponential", gamma=0.5)),
    )
    recorder = fit(chosen(), max_epochs=3, limit_train_batches=2)
    expected = torch_lrs(lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5), 3)
    assert recorder.of()[::2] == expected


# at fit


CASES = [
    pytest.param(
        OptimizerSpec("sgd", lr=HParam("lr"), momentum=HParam("momentum", default=0.9)),
        OptimizerSpec("sgd", lr=0.3, momentum=0.9),
        {"lr": 0.3},
        Classifier,
        id="optimizer-arguments-and-a-default",
    ),
    pytest.param(
        OptimizerSpec("sgd", lr=0.1, momentum=HParam("momentum", default=0.9)),
        OptimizerSpec("sgd", lr=0.1, momentum=0.5),
        {"momentum": 0.5},
        Classifier,
        id="the-module-value-wins-over-the-default",
    ),
    pytest.param(
        OptimizerSpec("sgd", lr=0.2, groups=[ParamGroup("model_gen.layer1", lr_mult=HParam("head_mult"))]),
        OptimizerSpec("sgd", lr=0.2, groups=[ParamGroup("model_gen.layer1", lr_mult=0.5)]),
        {"head_mult": 0.5},
        Classifier,
        id="group-multiplier",
    ),
    pytest.param(
        OptimizerSpec("adamw", lr=0.01, betas=(HParam("beta1"), 0.99), implementation="forloop"),
        OptimizerSpec("adamw", lr=0.01, betas=(0.5, 0.99), implementation="forloop"),
        {"beta1": 0.5},
        Classifier,
        id="inside-a-tuple",
    ),
    pytest.param(
        OptimizerSpec("sgd", lr=HParam("lr"), groups=[ParamGroup("model_gen.layer1", lr=HParam("head_lr"))]),
        OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("model_gen.layer1", lr=0.4)]),
        {"lr": 0.1, "head_lr": 0.4},
        Classifier,
        id="group-option",
    ),
    pytest.param(
        OptimizerSpec(
            "sgd",
            lr=0.5,
            scheduler=SchedulerSpec(
                "step",
                step_size=HParam("step_size"),
                gamma=HParam("gamma", default=0.5),
                interval="step",
                frequency=HParam("frequency"),
                warmup=HParam("warmup"),
                warmup_start_factor=HParam("start", default=0.25),
            ),
        ),
        OptimizerSpec(
            "sgd",
            lr=0.5,
            scheduler=SchedulerSpec(
                "step",
                step_size=2,
                gamma=0.1,
                interval="step",
                frequency=2,
                warmup=1,
                warmup_start_factor=0.25,
            ),
        ),
        {"step_size": 2, "gamma": 0.1, "frequency": 2, "warmup": 1},
        Classifier,
        id="scheduler-arguments-and-stepping-options",
    ),
    pytest.param(
        OptimizerSpec(
            "sgd",
            lr=1.0,
            scheduler=SchedulerSpec(
                "sequential",
                schedulers=[
                    SchedulerSpec("linear", start_factor=HParam("start"), total_iters=HParam("ramp")),
                    SchedulerSpec("exponential", gamma=HParam("gamma")),
                ],
                milestones=[HParam("ramp")],
                interval="step",
            ),
        ),
        OptimizerSpec(
            "sgd",
            lr=1.0,
            scheduler=SchedulerSpec(
                "sequential",
                schedulers=[
                    SchedulerSpec("linear", start_factor=0.2, total_iters=3),
                    SchedulerSpec("exponential", gamma=0.7),
                ],
                milestones=[3],
                interval="step",
            ),
        ),
        {"start": 0.2, "ramp": 3, "gamma": 0.7},
        Classifier,
        id="nested-composite",
    ),
    pytest.param(
        OptimizerSpec(
            "sgd",
            lr=1.0,
            scheduler=[
                SchedulerSpec("linear", start_factor=HParam("start"), total_iters=2, interval="step"),
                SchedulerSpec("step", step_size=1, gamma=HParam("gamma")),
            ],
        ),
        OptimizerSpec(
            "sgd",
            lr=1.0,
            scheduler=[
                SchedulerSpec("linear", start_factor=0.25, total_iters=2, interval="step"),
                SchedulerSpec("step", step_size=1, gamma=0.5),
            ],
        ),
        {"start": 0.25, "gamma": 0.5},
        Classifier,
        id="several-schedulers",
    ),
    pytest.param(
        OptimizerSpec("sgd", scheduler=SchedulerSpec("onecycle", max_lr=HParam("max_lr"))),  # sets the lr
        OptimizerSpec("sgd", scheduler=SchedulerSpec("onecycle", max_lr=2.0)),
        {"max_lr": 2.0},
        Classifier,
        id="derived-length",
    ),
    pytest.param(
        OptimizerSpec(
            "sgd",
            lr=1.0,
            scheduler=[
                SchedulerSpec("linear", start_factor=0.25, end=HParam("ramp"), interval="step"),
                SchedulerSpec(
                    "cosine", eta_min=0.1, begin=HParam("ramp"), end=HParam("end", default=7), interval="step"
                ),
            ],
        ),
        OptimizerSpec(
            "sgd",
            lr=1.0,
            scheduler=[
                SchedulerSpec("linear", start_factor=0.25, end=3, interval="step"),
                SchedulerSpec("cosine", eta_min=0.1, begin=3, end=7, interval="step"),
            ],
        ),
        {"ramp": 3},
        Classifier,
        id="window",
    ),
    pytest.param(
        OptimizerSpec(
            "sgd",
            lr=1.0,
            scheduler=SchedulerSpec("linear", start_factor=0.5, end=HParam("end"), interval="step"),
        ),
        OptimizerSpec(
            "sgd", lr=1.0, scheduler=SchedulerSpec("linear", start_factor=0.5, end=0.5, interval="step")
        ),
        {"end": 0.5},
        Classifier,
        id="window-fraction-of-the-run",
    ),
    pytest.param(
        OptimizerSpec("sgd", lr=0.4, layer_decay=HParam("layer_decay"), layer_decay_blocks="blocks"),
        OptimizerSpec("sgd", lr=0.4, layer_decay=0.5, layer_decay_blocks="blocks"),
        {"layer_decay": 0.5},
        VitLike,
        id="layer-decay",
    ),
]


@pytest.mark.parametrize(("spec", "same", "hparams", "base"), CASES)
def test_fit_trains_exactly_like_the_literal_declaration(
    spec: OptimizerSpec, same: OptimizerSpec, hparams: dict[str, Any], base: type[L.LightningModule]
) -> None:
    ours, reference = declare(spec, base)(**hparams), literal(same, base)()
    assert fit(ours, max_epochs=2).history == fit(reference, max_epochs=2).history
    assert_same_weights(ours, reference)
    mine, theirs = ours.trainer.optimizers[0].param_groups, reference.trainer.optimizers[0].param_groups
    assert [{k: v for k, v in g.items() if k != "params"} for g in mine] == [
        {k: v for k, v in g.items() if k != "params"} for g in theirs
    ]


class WindowHandWritten(Classifier):
    """``ExponentialLR(gamma=0.5)`` in the window [2, 5) of its per-step updates, by hand: built at update 2
    (its first update, at the lr left), acting at updates 3 and 4, and no more from update 5."""

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=1.0)
        window = LambdaLR(optimizer, lambda update: 0.5 ** min(max(update - 2, 0), 2))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": window, "interval": "step"}}


def test_a_window_read_at_fit_equals_the_hand_written_module() -> None:
    spec = OptimizerSpec(
        "sgd",
        lr=1.0,
        scheduler=SchedulerSpec(
            "exponential", gamma=0.5, begin=HParam("begin", default=0), end=HParam("end"), interval="step"
        ),
    )
    ours, reference = declare(spec)(begin=2, end=5), WindowHandWritten()
    mine, theirs = fit(ours, max_epochs=2), fit(reference, max_epochs=2)
    assert mine.of() == theirs.of() == [1.0, 1.0, 1.0, 0.5, 0.25, 0.25, 0.25, 0.25]
    assert_same_weights(ours, reference)
    previewed = preview_schedule(declare(spec)(begin=2, end=5), max_epochs=2, steps_per_epoch=4)
    assert previewed == {"lr-optimizer": mine.of()}
    assert "window [2, 5)" in describe_optimizers(declare(spec)(begin=2, end=5))


def test_a_window_and_a_warmup_wait_for_the_value_without_default() -> None:
    # a window and a warmup are refused together; with one an HParam without default, when `fit` reads it
    window = SchedulerSpec("step", step_size=1, warmup=HParam("warmup"), begin=1)
    module = declare(OptimizerSpec("sgd", lr=0.1, scheduler=window))(warmup=None)
    fit(module, max_epochs=2)
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer\.scheduler: `warmup` from hparam `warmup` = 2: `warmup` cannot be combined",
    ):
        trainer().fit(declare(OptimizerSpec("sgd", lr=0.1, scheduler=window))(warmup=2), loader())


def test_skip_nonfinite_read_at_fit_skips_as_the_literal() -> None:
    # a NaN loss at batch 3, skipped: the same weights as the literal, and as the run without that batch
    ours, same, without = nan_at({3}, limit=HParam("limit")), nan_at({3}, limit=3), nan_at(limit=3)
    ours.limit = 3
    runs = [fit(ours, data=nan_rows(), max_epochs=1), fit(same, data=nan_rows(), max_epochs=1)]
    fit(without, data=nan_rows({3}), max_epochs=1)
    assert runs[0].history == runs[1].history
    assert_same_weights(ours, same)
    assert_same_weights(ours, without)
    # the value read is the limit: 3 NaN batches in a row stop training at 2, not at the default's 3
    fit(nan_at({2, 3, 4}, limit=HParam("limit", default=3)), data=nan_rows(), max_epochs=1)
    stopped = nan_at({2, 3, 4}, limit=HParam("limit", default=3))
    stopped.limit = 2
    with pytest.raises(ValueError, match=r"^Declared\.optimizer: Expected at most 2 consecutive updates"):
        fit(stopped, data=nan_rows(), max_epochs=1)


def test_every_read_at_fit_steps_as_the_literal_and_the_hand_written_loop() -> None:
    # a GAN's generator every `n_critic` batches: the mixin's training step, its lengths and its preview
    ours, same, hand_written = gan(every=HParam("n_critic"))(), gan(every=2)(), HandWrittenGan(every=2)
    ours.n_critic = 2
    runs = [fit(module, data=gan_data(), max_epochs=2) for module in (ours, same, hand_written)]
    assert runs[0].history == runs[1].history == runs[2].history
    assert_same_weights(ours, hand_written)
    with_default = gan(every=HParam("n_critic", default=1))()
    with_default.n_critic = 2
    options = {"max_epochs": 3, "steps_per_epoch": GAN_BATCHES, "max_steps": 7}
    assert preview_schedule(with_default, **options) == preview_schedule(gan(every=2), **options)
    assert preview_schedule(with_default, **options) != preview_schedule(gan(every=1), **options)
    # the run's check of the value read, in the literal's words
    too_rare = gan(every=HParam("n_critic"))()
    too_rare.n_critic = GAN_BATCHES + 1
    expected = error_of(lambda: trainer().fit(gan(every=GAN_BATCHES + 1)(), gan_data()))
    assert str(error_of(lambda: trainer().fit(too_rare, gan_data()))) == str(expected)


class FromDataModule(L.LightningDataModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.save_hyperparameters()

    def train_dataloader(self) -> Any:
        return loader()


class Attribute(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec("sgd", lr=HParam("lr"))


def test_lightnings_lookup_attribute_hparams_then_datamodule() -> None:
    module = Attribute()
    module.lr = 0.25  # a plain attribute, no save_hyperparameters
    fit(module, max_epochs=1)
    assert module.trainer.optimizers[0].param_groups[0]["lr"] == 0.25
    from_hparams = declare(OptimizerSpec("sgd", lr=HParam("lr")))(lr=0.125)
    fit(from_hparams, max_epochs=1)
    assert from_hparams.trainer.optimizers[0].param_groups[0]["lr"] == 0.125
    # the datamodule's hparams, as `lightning_getattr` reads them (it wins over the module's, as in Lightning)
    from_data = declare(OptimizerSpec("sgd", lr=HParam("lr")))(lr=0.125)
    run = trainer()
    run.fit(from_data, datamodule=FromDataModule(lr=0.0625))
    assert run.optimizers[0].param_groups[0]["lr"] == 0.0625


def test_a_missing_hparam_without_default_names_the_attribute_and_the_hparam() -> None:
    module = declare(OptimizerSpec("sgd", lr=HParam("lr"), momentum=HParam("momentum", default=0.0)))(lrs=0.1)
    message = (
        "Declared.optimizer: Expected the module to have the hyperparameter `lr` for `lr` (declared as "
        "HParam('lr'), without default) but `Declared` has none (did you mean `lrs`?): Lightning's lookup "
        "(`lightning_getattr`) finds no attribute `lr` of the module, no `lr` in `module.hparams` and none in "
        "the datamodule's hparams. Save it with `self.save_hyperparameters()` in `__init__`, set `self.lr`, or "
        "give HParam('lr', default=...)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        trainer().fit(module, loader())


BAD_VALUES = [
    pytest.param({"lr": 0.1}, {"lr": -1.0}, "lr", id="rejected-by-torch"),
    pytest.param({"lr": 0.1}, {"lr": float("inf")}, "lr", id="infinite-lr"),
    pytest.param({"lr": 0.1}, {"lr": "0.1"}, "lr", id="type"),
    pytest.param(
        {"gamma": 0.5},
        {"gamma": "0.5"},
        "scheduler.gamma",
        id="scheduler-type",
        marks=steplr_gamma_is_annotated,
    ),
    pytest.param({"step_size": 1}, {"step_size": 2.5}, "scheduler.step_size", id="int-argument"),
    pytest.param({"warmup": 2}, {"warmup": 1.5}, "scheduler.warmup", id="warmup"),
    pytest.param({"frequency": 1}, {"frequency": 0}, "scheduler.frequency", id="frequency"),
    pytest.param({"head_lr": 0.5}, {"head_lr": -0.5}, "groups[0].lr", id="group-option"),
    pytest.param({"skip_nonfinite": 1}, {"skip_nonfinite": -1}, "skip_nonfinite", id="skip-nonfinite"),
    pytest.param({"every": 1}, {"every": 0}, "every", id="every"),
    pytest.param({"every": 1}, {"every": 2}, "every", id="every-without-loss"),
    pytest.param({"begin": 1}, {"begin": 1.5}, "scheduler.begin", id="begin"),
    pytest.param({"end": 2}, {"end": 0}, "scheduler.end", id="end"),
]


@pytest.mark.parametrize(("good", "bad", "path"), BAD_VALUES)
def test_a_value_read_at_fit_is_checked_like_the_same_literal(
    good: dict[str, Any], bad: dict[str, Any], path: str
) -> None:
    def spec(value: Any) -> OptimizerSpec:
        values = {
            "lr": 0.1,
            "gamma": 0.5,
            "step_size": 1,
            "warmup": None,
            "frequency": 1,
            "head_lr": 0.5,
            "begin": None,
            "end": None,
            "skip_nonfinite": 0,
            "every": 1,
            **value,
        }
        return OptimizerSpec(
            SGD,
            lr=values["lr"],
            skip_nonfinite=values["skip_nonfinite"],
            every=values["every"],
            groups=[ParamGroup("model_gen.layer1", lr=values["head_lr"])],
            scheduler=SchedulerSpec(
                "step",
                step_size=values["step_size"],
                gamma=values["gamma"],
                warmup=values["warmup"],
                frequency=values["frequency"],
                begin=values["begin"],
                end=values["end"],
            ),
        )

    (name,) = bad
    expected = error_of(lambda: literal(spec(bad)))
    module = declare(spec({name: HParam(name)}))(**good)
    run = trainer(max_epochs=3)  # longer than the warmup of 2 epochs
    run.fit(module, loader())  # the good value trains
    module = declare(spec({name: HParam(name)}))(**bad)
    got = error_of(lambda: trainer(max_epochs=3).fit(module, loader()))
    # the literal's message, with the hyperparameter named after where it points
    where, _, rest = str(expected).partition(": ")
    full = f"Declared.optimizer.{path}"
    shown = full[len(where) + 1 :] if full.startswith(where + ".") else path
    assert type(got) is type(expected)
    assert str(got) == f"{where}: `{shown}` from hparam `{name}` = {bad[name]!r}: {rest}"


def test_the_same_hparam_in_two_places_reads_one_value() -> None:
    spec = OptimizerSpec("sgd", lr=HParam("lr"), groups=[ParamGroup("model_gen.layer1", lr=HParam("lr"))])
    module = declare(spec)(lr=-2.0)
    with pytest.raises(
        ValueError, match=r"^Declared\.optimizer: `lr`, `groups\[0\]\.lr` from hparam `lr` = -2\.0: "
    ):
        trainer().fit(module, loader())
    module = declare(spec)(lr=0.2)
    fit(module, max_epochs=1)
    assert [g["lr"] for g in module.trainer.optimizers[0].param_groups] == [0.2, 0.2]


def test_a_class_without_hparams_is_resolved_once() -> None:
    plain = literal(OptimizerSpec("sgd", lr=0.1))
    (declared,) = plain._lightning_optim_declared
    assert declared.hparams == ()
    module = plain()
    fit(module, max_epochs=1)
    assert module.trainer.optimizers[0].param_groups[0]["lr"] == 0.1
    assert torch.is_tensor(next(module.parameters()))


# a warmup read at fit that comes to 0: a sweep's no-warmup run


def cosine(**warmup: Any) -> OptimizerSpec:
    return OptimizerSpec("sgd", lr=0.5, scheduler=SchedulerSpec("cosine", **warmup))


#: torchvision's references/classification/train.py, ported: `--lr-warmup-epochs 0 --lr-warmup-decay 0.01` by
#: default, no warmup (the decay then unused); a sweep runs 0, 1, 5 warmup epochs
TORCHVISION = cosine(warmup=HParam("lr_warmup_epochs"), warmup_start_factor=HParam("lr_warmup_decay"))


class PlainCosine(Classifier):
    """What torchvision's script builds with `--lr-warmup-epochs 0` for a run of 4 epochs."""

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.5)
        return [optimizer], [CosineAnnealingLR(optimizer, T_max=4)]


@pytest.mark.parametrize(
    ("spec", "hparams"),
    [
        pytest.param(
            TORCHVISION, {"lr_warmup_epochs": 0, "lr_warmup_decay": 0.01}, id="torchvision-defaults"
        ),
        pytest.param(
            cosine(warmup=HParam("warmup"), warmup_start_factor=0.01), {"warmup": 0}, id="literal-factor"
        ),
        pytest.param(
            cosine(warmup=HParam("warmup", default=0), warmup_start_factor=0.01), {}, id="default-0"
        ),
        pytest.param(cosine(warmup=HParam("warmup"), warmup_start_factor=0.01), {"warmup": None}, id="none"),
    ],
)
def test_a_warmup_read_as_0_with_a_start_factor_trains_as_without_a_warmup(
    spec: OptimizerSpec, hparams: dict[str, Any]
) -> None:
    ours, without, hand = declare(spec)(**hparams), literal(cosine())(), PlainCosine()
    lrs = fit(ours, max_epochs=4).history
    assert lrs == fit(without, max_epochs=4).history == fit(hand, max_epochs=4).history
    assert_same_weights(ours, hand)


@pytest.mark.parametrize(
    ("warmup", "same"),
    [
        pytest.param(0, cosine(), id="0-no-warmup"),
        pytest.param(1, cosine(warmup=1, warmup_start_factor=0.01), id="1"),
        pytest.param(2, cosine(warmup=2, warmup_start_factor=0.01), id="2"),
        # a fraction of the run under one update is one update: the start factor applies
        pytest.param(0.01, cosine(warmup=1, warmup_start_factor=0.01), id="fraction-under-one-update"),
    ],
)
def test_a_sweep_over_the_warmup_trains_each_value_as_the_literal_declaration(
    warmup: float, same: OptimizerSpec
) -> None:
    ours = declare(TORCHVISION)(lr_warmup_epochs=warmup, lr_warmup_decay=0.01)
    reference = literal(same)()
    assert fit(ours, max_epochs=4).history == fit(reference, max_epochs=4).history
    assert_same_weights(ours, reference)


def test_a_start_factor_read_beside_a_warmup_read_as_0_is_still_checked() -> None:
    module = declare(TORCHVISION)(lr_warmup_epochs=0, lr_warmup_decay=1.5)
    message = (
        "Declared.optimizer.scheduler: `warmup_start_factor` from hparam `lr_warmup_decay` = 1.5: "
        "Expected `warmup_start_factor` to be a float in [0, 1) but got 1.5."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        trainer().fit(module, loader())


@pytest.mark.parametrize("start", [0.01, HParam("lr_warmup_decay"), HParam("lr_warmup_decay", default=0.01)])
def test_a_start_factor_beside_a_literal_warmup_of_0_is_refused_at_class_definition(start: Any) -> None:
    # the warmup is known to be 0 when the class is defined: no value of the factor can ever apply
    message = (
        "Declared.optimizer.scheduler: `warmup_start_factor` only applies with a `warmup`, but `warmup` is 0; "
        "give `warmup=` or remove `warmup_start_factor`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        literal(cosine(warmup=0, warmup_start_factor=start))


# Hugging Face's `TrainingArguments.warmup_ratio`, 0.0 by default: a fraction of the run that is no warmup


def step_cosine(**warmup: Any) -> OptimizerSpec:
    return OptimizerSpec("sgd", lr=0.5, scheduler=SchedulerSpec("cosine", interval="step", **warmup))


class StepCosine(Classifier):
    """What a Hugging Face port trains with `warmup_ratio=0.0` for a run of 4 epochs of 4 steps."""

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.5)
        scheduler = {"scheduler": CosineAnnealingLR(optimizer, T_max=16), "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


@pytest.mark.parametrize(
    ("spec", "hparams"),
    [
        pytest.param(step_cosine(warmup=HParam("warmup_ratio")), {"warmup_ratio": 0.0}, id="hf-default"),
        pytest.param(step_cosine(warmup=HParam("warmup_ratio", default=0.0)), {}, id="default-0.0"),
        pytest.param(
            step_cosine(warmup=HParam("warmup_ratio"), warmup_start_factor=0.01),
            {"warmup_ratio": 0.0},
            id="start-factor",
        ),
    ],
)
def test_a_warmup_ratio_read_as_0_0_trains_as_without_a_warmup(
    spec: OptimizerSpec, hparams: dict[str, Any]
) -> None:
    ours, without, hand = declare(spec)(**hparams), literal(step_cosine(warmup=0))(), StepCosine()
    lrs = fit(ours, max_epochs=4).history
    assert lrs == fit(without, max_epochs=4).history == fit(hand, max_epochs=4).history
    assert_same_weights(ours, hand)


@pytest.mark.parametrize(
    ("ratio", "same"),
    [
        pytest.param(0.0, step_cosine(warmup=0), id="0.0-no-warmup"),
        pytest.param(0.25, step_cosine(warmup=0.25), id="0.25"),
    ],
)
def test_a_sweep_over_the_warmup_ratio_trains_each_value_as_the_literal_declaration(
    ratio: float, same: OptimizerSpec
) -> None:
    ours = declare(step_cosine(warmup=HParam("warmup_ratio")))(warmup_ratio=ratio)
    reference = literal(same)()
    assert fit(ours, max_epochs=4).history == fit(reference, max_epochs=4).history
    assert_same_weights(ours, reference)


@pytest.mark.parametrize("start", [0.01, HParam("lr_warmup_decay")])
def test_a_start_factor_beside_a_literal_warmup_of_0_0_is_refused_at_class_definition(start: Any) -> None:
    # a literal 0.0 is known to be no warmup, as a literal 0 is
    message = (
        "Declared.optimizer.scheduler: `warmup_start_factor` only applies with a `warmup`, but `warmup` is 0.0; "
        "give `warmup=` or remove `warmup_start_factor`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        literal(step_cosine(warmup=0.0, warmup_start_factor=start))


def test_the_numeric_options_are_the_documented_ones_read_from_the_signatures() -> None:
    """`NUMERIC_OPTIONS` is read from the annotations that admit an `HParam` (what type checkers accept), so
    this pins the list docs/guides/hparams.md and API.md give to the signatures."""
    from lightning_optim.declaring.hparam import NUMERIC_OPTIONS

    documented = {
        OptimizerSpec: ("layer_decay", "layer_decay_min_scale", "skip_nonfinite", "every"),
        SchedulerSpec: ("frequency", "warmup", "warmup_start_factor", "begin", "end"),
    }
    assert dict(NUMERIC_OPTIONS) == documented

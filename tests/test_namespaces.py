"""A module of the ``pytorch_lightning`` namespace trains exactly as the same module of ``lightning.pytorch``.

``lightning`` 2.x installs the standalone ``pytorch-lightning`` distribution beside it: the same code under a
second name, whose classes are others (``pytorch_lightning.LightningModule`` is not
``lightning.pytorch.LightningModule``). Each test runs a real ``pytorch_lightning.Trainer`` and compares it
with a ``lightning.pytorch`` run of the same declarations, or with a hand-written ``pytorch_lightning``
module: the lr of every step and the final weights.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import lightning.pytorch
import pytest
import torch
from torch import nn
from torch.optim import Adam, AdamW

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, SchedulerSpec
from tests.helpers import FAST, Net, assert_same_weights, loader
from tests.training.test_resume import Resumable

pytorch_lightning = pytest.importorskip("pytorch_lightning")

NAMESPACES = {"lightning.pytorch": lightning.pytorch, "pytorch_lightning": pytorch_lightning}


def recorder(pl: ModuleType) -> Any:
    """A callback of namespace ``pl`` recording the lr of every param group of every optimizer before each
    training batch (``tests.helpers.LrRecorder``'s, for either Trainer)."""

    class LrRecorder(pl.Callback):
        def __init__(self) -> None:
            self.history: list[list[list[float]]] = []

        def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
            self.history.append([[float(g["lr"]) for g in opt.param_groups] for opt in trainer.optimizers])

    return LrRecorder()


def fit(
    module: Any, pl: ModuleType, ckpt_path: str | None = None, data: Any = None, **trainer_kwargs: Any
) -> Any:
    """Train ``module`` with ``pl.Trainer`` on tiny data (4 batches per epoch); return the lr history."""
    lrs = recorder(pl)
    callbacks = [lrs, *trainer_kwargs.pop("callbacks", [])]
    trainer = pl.Trainer(callbacks=callbacks, **{**FAST, "max_epochs": 2, **trainer_kwargs})
    trainer.fit(module, loader() if data is None else data, ckpt_path=ckpt_path)
    return lrs.history


def classifier(pl: ModuleType, **declarations: Any) -> Any:
    """A small classifier of namespace ``pl`` with the mixin and ``declarations``."""

    class Classifier(ConfigurableOptimizersMixin, pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.model_gen = Net()

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.cross_entropy(self.model_gen(x), y)
            self.log("train_loss", loss)
            return loss

    return type("Classifier", (Classifier,), declarations)()


def both(**declarations: Any) -> dict[str, Any]:
    return {name: classifier(pl, **declarations) for name, pl in NAMESPACES.items()}


COSINE = OptimizerSpec(
    AdamW,
    lr=1e-2,
    implementation="forloop",
    scheduler=SchedulerSpec("cosine", interval="step", warmup=2),
)


def test_adamw_with_a_per_step_cosine_after_warmup() -> None:
    modules = both(optimizer=COSINE)
    histories = {name: fit(modules[name], NAMESPACES[name]) for name in NAMESPACES}
    assert histories["pytorch_lightning"] == histories["lightning.pytorch"]
    lrs = [step[0][0] for step in histories["pytorch_lightning"]]
    assert lrs[:3] == pytest.approx([1e-2 / 3, 2e-2 / 3, 1e-2]) and lrs[-1] < lrs[2]
    assert_same_weights(modules["pytorch_lightning"], modules["lightning.pytorch"])


def test_class_definition_checks_know_a_pytorch_lightning_module() -> None:
    with pytest.raises(
        TypeError, match=r"lists `pytorch_lightning\.LightningModule` before `ConfigurableOptimizersMixin`"
    ) as err:

        class Order(pytorch_lightning.LightningModule, ConfigurableOptimizersMixin):
            optimizer = OptimizerSpec(Adam)

    assert "`class Order(ConfigurableOptimizersMixin, pytorch_lightning.LightningModule)`" in str(err.value)

    # raised at class definition from Python 3.12 on, before by the instance (tests/declaring)
    # the class line suggested in the namespace the module imported (it said `L.LightningModule`)
    with pytest.raises(
        TypeError,
        match=r"does not inherit ConfigurableOptimizersMixin is never used. Declare the class as "
        r"`class Forgot\(ConfigurableOptimizersMixin, pytorch_lightning.LightningModule\)`.$",
    ):

        class Forgot(pytorch_lightning.LightningModule):
            optimizer = OptimizerSpec(Adam)

        Forgot()


def nets(pl: ModuleType) -> type[Any]:
    """Two networks of namespace ``pl`` (a GAN's shape, kept simple), each with its loss."""

    class TwoNets(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.model_gen = Net()
            self.model_dis = Net()

        def gen_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.cross_entropy(self.model_gen(x), y)

        def dis_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.cross_entropy(self.model_dis(x), y)

    return TwoNets


def two_adams(gen: dict[str, Any], dis: dict[str, Any]) -> tuple[OptimizerSpec, OptimizerSpec]:
    """The generator's and the discriminator's Adam, each with a per-step exponential decay, plus ``gen``/``dis``."""
    return (
        OptimizerSpec(
            Adam,
            params="model_gen",
            lr=0.01,
            implementation="forloop",
            scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
            **gen,
        ),
        OptimizerSpec(
            Adam,
            params="model_dis",
            lr=0.02,
            implementation="forloop",
            scheduler=SchedulerSpec("exponential", gamma=0.8, interval="step"),
            **dis,
        ),
    )


def gan(pl: ModuleType) -> Any:
    """The README's GAN: manual optimization, each optimizer reached as ``self.<attribute>``."""

    class GAN(ConfigurableOptimizersMixin, nets(pl)):
        gen_opt, dis_opt = two_adams({}, {})

        def training_step(self, batch: Any, batch_idx: int) -> None:
            for opt, loss in ((self.gen_opt, self.gen_loss), (self.dis_opt, self.dis_loss)):
                opt.zero_grad()
                self.manual_backward(loss(batch, batch_idx))
                opt.step()

    return GAN()


def test_manual_gan_matches_a_hand_written_pytorch_lightning_module() -> None:
    class HandWritten(nets(pytorch_lightning)):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def configure_optimizers(self) -> Any:
            gen = Adam(self.model_gen.parameters(), lr=0.01)
            dis = Adam(self.model_dis.parameters(), lr=0.02)
            lr_scheduler = torch.optim.lr_scheduler
            return [gen, dis], [lr_scheduler.ExponentialLR(gen, 0.9), lr_scheduler.ExponentialLR(dis, 0.8)]

        def training_step(self, batch: Any, batch_idx: int) -> None:
            for opt, sch, loss in zip(
                self.optimizers(), self.lr_schedulers(), (self.gen_loss, self.dis_loss)
            ):
                opt.zero_grad()
                self.manual_backward(loss(batch, batch_idx))
                opt.step()
                sch.step()

    ours, theirs = gan(pytorch_lightning), HandWritten()
    history = fit(ours, pytorch_lightning)
    assert history == fit(theirs, pytorch_lightning)
    assert [step[0][0] for step in history] == pytest.approx([0.01 * 0.9**i for i in range(8)])
    assert_same_weights(ours, theirs)


def test_lr_monitor_logs_what_pytorch_lightnings_learning_rate_monitor_logs(tmp_path: Path) -> None:
    from pytorch_lightning.callbacks import LearningRateMonitor
    from pytorch_lightning.loggers import CSVLogger

    logged = {}
    for name, monitor in (
        ("ours", LRMonitor(log_momentum=True)),
        ("theirs", LearningRateMonitor(log_momentum=True)),
    ):
        logger = CSVLogger(tmp_path, name=name)
        fit(
            gan(pytorch_lightning), pytorch_lightning, callbacks=[monitor], logger=logger, log_every_n_steps=1
        )
        logged[name] = ((tmp_path / name / "version_0" / "metrics.csv").read_text(), monitor.lrs)
    assert logged["ours"] == logged["theirs"]
    assert set(logged["ours"][1]) == {"lr-gen_opt", "lr-dis_opt"}


def test_resume_from_a_mid_epoch_checkpoint_continues_the_run(tmp_path: Path) -> None:
    from pytorch_lightning.callbacks import ModelCheckpoint

    saving = ModelCheckpoint(tmp_path, every_n_train_steps=2, save_top_k=-1)
    whole = classifier(pytorch_lightning, optimizer=COSINE)
    uninterrupted = fit(
        whole, pytorch_lightning, data=Resumable(), callbacks=[saving], enable_checkpointing=True
    )
    resumed = classifier(pytorch_lightning, optimizer=COSINE)
    checkpoint = str(tmp_path / "epoch=1-step=6.ckpt")  # after batch 1 of epoch 1
    history = fit(resumed, pytorch_lightning, checkpoint, data=Resumable())
    assert history == uninterrupted[6:]
    assert_same_weights(resumed, whole)


def driven(pl: ModuleType) -> Any:
    """Automatic optimization of two optimizers (``loss=``), the discriminator at every second batch."""

    class Driven(ConfigurableOptimizersMixin, nets(pl)):
        gen_opt, dis_opt = two_adams({"loss": "gen_loss"}, {"loss": "dis_loss", "every": 2})

    return Driven()


def test_loss_and_every_train_as_under_lightning_pytorch() -> None:
    modules = {name: driven(pl) for name, pl in NAMESPACES.items()}
    histories = {name: fit(modules[name], NAMESPACES[name]) for name in NAMESPACES}
    assert histories["pytorch_lightning"] == histories["lightning.pytorch"]
    assert [step[1][0] for step in histories["pytorch_lightning"]] == pytest.approx(
        [0.02 * 0.8 ** (i // 2) for i in range(8)]
    )
    assert_same_weights(modules["pytorch_lightning"], modules["lightning.pytorch"])


def test_skip_nonfinite_skips_a_nan_batch_as_under_lightning_pytorch() -> None:
    from lightning_optim.training.outcomes import outcomes_of

    def nan_at_batch_2(pl: ModuleType) -> Any:
        class NaNAt(type(classifier(pl))):  # type: ignore[misc]
            optimizer = OptimizerSpec(
                Adam,
                lr=0.05,
                skip_nonfinite=3,
                implementation="forloop",
                scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
            )

            def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
                loss = super().training_step(batch, batch_idx)
                return loss * float("nan") if self.current_epoch == 0 and batch_idx == 2 else loss

        return NaNAt()

    modules = {name: nan_at_batch_2(pl) for name, pl in NAMESPACES.items()}
    histories = {name: fit(modules[name], NAMESPACES[name]) for name in NAMESPACES}
    assert histories["pytorch_lightning"] == histories["lightning.pytorch"]
    lrs = [step[0][0] for step in histories["pytorch_lightning"]]
    assert lrs[3] == lrs[2]  # the schedule waited for the skipped step
    assert outcomes_of(modules["pytorch_lightning"].trainer.optimizers[0]).skipped == 1
    assert_same_weights(modules["pytorch_lightning"], modules["lightning.pytorch"])


def test_hparam_and_preview() -> None:
    from lightning_optim import HParam, preview_schedule

    def tuned(pl: ModuleType) -> Any:
        class Tuned(type(classifier(pl))):  # type: ignore[misc]
            optimizer = OptimizerSpec(
                AdamW,
                lr=HParam("lr"),
                implementation="forloop",
                scheduler=SchedulerSpec("cosine", interval="step", warmup=2),
            )

            def __init__(self, lr: float = 1e-3) -> None:
                super().__init__()
                self.save_hyperparameters()

        return Tuned(lr=0.03)

    module = tuned(pytorch_lightning)
    previewed = preview_schedule(module, max_epochs=2, steps_per_epoch=4)
    history = fit(module, pytorch_lightning)
    assert [step[0][0] for step in history] == pytest.approx(previewed["lr-optimizer"])
    assert history[2][0][0] == pytest.approx(0.03)


def test_mixed_precision_with_clipping_as_under_lightning_pytorch() -> None:
    # `implementation="auto"` keeps a fused AdamW from a `MixedPrecision` plugin that clips: Lightning refuses to
    # clip an optimizer that unscales inside its step
    auto = OptimizerSpec(AdamW, lr=1e-2, scheduler=SchedulerSpec("cosine", interval="step", warmup=2))
    modules = both(optimizer=auto)
    options = {"precision": "bf16-mixed", "gradient_clip_val": 0.5}
    histories = {name: fit(modules[name], NAMESPACES[name], **options) for name in NAMESPACES}
    assert histories["pytorch_lightning"] == histories["lightning.pytorch"]
    assert_same_weights(modules["pytorch_lightning"], modules["lightning.pytorch"])


@pytest.mark.parametrize(
    "monitor", [LRMonitor, "LearningRateMonitor"], ids=["LRMonitor", "LearningRateMonitor"]
)
def test_lr_monitor_refuses_duplicate_group_names_in_the_trainers_namespace(
    monitor: Any, tmp_path: Path
) -> None:
    from pytorch_lightning.callbacks import LearningRateMonitor
    from pytorch_lightning.loggers import CSVLogger
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    class Named(nets(pytorch_lightning)):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self.gen_loss(batch, batch_idx) + self.dis_loss(batch, batch_idx)

        def configure_optimizers(self) -> Any:
            groups = [
                {"params": net.parameters(), "name": "same"} for net in (self.model_gen, self.model_dis)
            ]
            return Adam(groups, lr=0.01)

    callback = LearningRateMonitor() if monitor == "LearningRateMonitor" else monitor()
    with pytest.raises(MisconfigurationException, match="duplicated parameter group names"):
        fit(Named(), pytorch_lightning, callbacks=[callback], logger=CSVLogger(tmp_path))

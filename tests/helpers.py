"""Tiny real training setups shared by the tests: data, models, and an lr recorder."""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import lightning as L
import pytest
import torch
from lightning_utilities.core.imports import RequirementCache
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec
from lightning_optim.declaring.optimizer import declared_of
from lightning_optim.groups.planning import plan_all
from lightning_optim.registry.optimizers import tensor_options
from lightning_optim.utilities import compat

#: for tests of ``MuonWithAdamW`` and torch's ``Muon``, which need torch 2.9 (``compat.MUON``)
needs_muon = pytest.mark.skipif(
    not compat.torch_at_least(compat.MUON.minimum),
    reason=f"torch.optim.Muon needs torch >= {compat.MUON.minimum}",
)


#: the ``cli`` extra's requirement (``pyproject.toml``; ``tests/test_packaging.py`` checks that they agree)
CLI_EXTRA = "jsonargparse[signatures]>=4.39"

#: for tests of ``LightningCLI`` and ``DeclarativeCLI``, which need the ``cli`` extra
needs_cli_extra = pytest.mark.skipif(
    not RequirementCache(CLI_EXTRA), reason=f"LightningCLI needs the `cli` extra ({CLI_EXTRA})"
)


#: for tests of torch's ``Adafactor``, added in torch 2.5 (``compat.torch_optimizer_class("Adafactor")``)
needs_adafactor = pytest.mark.skipif(
    compat.torch_optimizer_class("Adafactor") is None,
    reason=f"torch.optim.Adafactor needs torch >= 2.5, not {torch.__version__}",
)


def _public_fully_shard() -> bool:
    try:
        from torch.distributed.fsdp import fully_shard  # noqa: F401
    except ImportError:
        return False
    return True


#: for the ``ModelParallelStrategy`` tests (FSDP2 on two CPU processes): torch's public ``fully_shard`` came in
#: torch 2.6; torch 2.4's (``torch.distributed._composable.fsdp``) makes CUDA streams and does not run on CPU
needs_fsdp2_on_cpu = pytest.mark.skipif(
    not _public_fully_shard(),
    reason=f"FSDP2 on CPU needs torch's public fully_shard (torch >= 2.6), not {torch.__version__}",
)


def _lightning_at_least(minimum: str) -> bool:
    return compat.release(L.__version__) >= compat.release(minimum)


#: for tests of the ``LearningRateFinder`` callback: before Lightning 2.5.3 the fit after it continues the
#: finder's exhausted data fetcher, so its first epoch ends early (Lightning #21056, fixed in 2.5.3)
needs_lr_finder_fix = pytest.mark.skipif(
    not _lightning_at_least("2.5.3"),
    reason="Lightning < 2.5.3 cuts the first epoch after LearningRateFinder short (Lightning #21056)",
)

#: ``BatchSizeFinder(mode="power", max_trials=POWER_TRIALS)`` from Lightning's initial batch size 2 keeps 4:
#: from Lightning 2.6 on it keeps the last size it tried (2, then 4); before, it doubles once more after its
#: last trial without trying that size (Lightning #21187, fixed in 2.6.0), so one trial (2) leads to 4
POWER_TRIALS = 2 if _lightning_at_least("2.6") else 1


#: whether Lightning steps the per-step schedulers after a batch whose ``on_train_batch_start`` returns -1 (ending
#: the epoch): from Lightning 2.6 on (Lightning #21307); before, the epoch ends before they step
CUT_BATCH_STEPS_SCHEDULERS = _lightning_at_least("2.6")


def _scheduler_refuses_an_added_group() -> bool:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5)
    optimizer.add_param_group({"params": [nn.Parameter(torch.zeros(1))], "lr": 0.01})
    try:
        with (
            warnings.catch_warnings()
        ):  # torch's "lr_scheduler.step() before optimizer.step()": no step is taken
            warnings.simplefilter("ignore")
            scheduler.step()
    except ValueError:
        return True
    return False


#: torch's schedulers that hold a value per group they were built on (``LambdaLR``, ``CosineAnnealingWarmRestarts``)
#: fail on a group added later from the torch releases on that zip the groups with their values strictly (2.10,
#: as far as known); torch 2.4 leaves the added group at its lr, as it does a hand-written module's
scheduler_refuses_an_added_group = pytest.mark.skipif(
    not _scheduler_refuses_an_added_group(),
    reason=f"torch {torch.__version__}'s LambdaLR leaves a param group added later at its lr instead of failing "
    "(torch 2.4: LRScheduler.step zips the groups with the values it holds non-strictly)",
)


#: torch 2.4 annotates Adam's ``betas`` as ``typing.Tuple[float, float]`` (later: ``tuple[...]``), which the
#: declaration errors quote
adam_betas_is_builtin_tuple = pytest.mark.skipif(
    not str(inspect.signature(torch.optim.Adam).parameters["betas"].annotation).startswith("tuple["),
    reason=f"torch {torch.__version__} annotates Adam's betas as typing.Tuple (torch 2.4), quoted by the error",
)

#: torch 2.4 leaves ``StepLR``'s ``gamma`` unannotated, so a string for it is not refused at class definition
steplr_gamma_is_annotated = pytest.mark.skipif(
    inspect.signature(torch.optim.lr_scheduler.StepLR).parameters["gamma"].annotation
    is inspect.Parameter.empty,
    reason=f"torch {torch.__version__}'s StepLR leaves `gamma` unannotated (torch 2.4): nothing to check it against",
)


#: torch 2.4 types SGD's ``lr`` and Adam's ``betas`` as Python numbers (later ``Union[float, Tensor]``), so
#: ``implementation="compiled"`` refuses SGD, RMSprop and a schedule of Adam's ``betas`` there
#: (``registry.optimizers.tensor_options``)
compiled_holds_sgd_lr_and_adam_betas = pytest.mark.skipif(
    "lr" not in tensor_options(torch.optim.SGD) or "betas" not in tensor_options(torch.optim.Adam),
    reason=f"torch {torch.__version__} types SGD's lr and Adam's betas as Python numbers (torch 2.4): "
    "implementation='compiled' refuses them there",
)

#: torch 2.4's ``Adam`` has no ``decoupled_weight_decay``, the option a hint names
adam_has_decoupled_weight_decay = pytest.mark.skipif(
    "decoupled_weight_decay" not in inspect.signature(torch.optim.Adam).parameters,
    reason=f"torch {torch.__version__}'s Adam has no decoupled_weight_decay (torch 2.4)",
)

#: ``Trainer.fit(weights_only=...)`` is a later Lightning's (2.5.0 has none), where the tests choose the load
fit_takes_weights_only = pytest.mark.skipif(
    "weights_only" not in inspect.signature(L.Trainer.fit).parameters,
    reason=f"Lightning {L.__version__}'s Trainer.fit takes no weights_only (Lightning 2.5)",
)

#: torch 2.4's inductor compiles its CPU kernels with -ffast-math, whose library turns on flush-to-zero in the
#: whole process once a compiled step ran there: Hypothesis then refuses to draw floats (2.0**-1073 is 0).
#: A string condition, so it is read when each test starts, after what ran before it in the worker
subnormals_representable = pytest.mark.skipif(
    "2.0**-1073 == 0",
    reason="a torch.compile on the CPU earlier in this process turned on flush-to-zero (torch 2.4's inductor "
    "builds with -ffast-math): Hypothesis cannot draw floats",
)


#: torch 2.4's ``SequentialLR`` reads ``last_epoch`` of each scheduler it holds, which its ``ChainedScheduler``
#: lacks: a ChainedScheduler in a SequentialLR's phase is refused by torch itself there
def _sequential_takes_chained() -> bool:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    chained = torch.optim.lr_scheduler.ChainedScheduler([torch.optim.lr_scheduler.ConstantLR(optimizer)])
    try:
        with (
            warnings.catch_warnings()
        ):  # torch's "lr_scheduler.step() before optimizer.step()": no step is taken
            warnings.simplefilter("ignore")
            torch.optim.lr_scheduler.SequentialLR(optimizer, [chained], milestones=[])
    except AttributeError:
        return False
    return True


sequential_takes_chained = pytest.mark.skipif(
    not _sequential_takes_chained(),
    reason=f"torch {torch.__version__}'s SequentialLR cannot hold a ChainedScheduler (torch 2.4: no last_epoch)",
)

#: torch 2.4's ``all_gather`` into a parameter that requires grad raises "a leaf Variable that requires grad is
#: being used in an in-place operation", which pytorch_optimizer's ``DistributedMuon`` does in every step
distributed_muon_steps = pytest.mark.skipif(
    not compat.torch_at_least("2.5"),
    reason=f"pytorch_optimizer's DistributedMuon cannot step under torch {torch.__version__} (torch 2.4: its "
    "all_gather into the parameters is an in-place operation on a leaf that requires grad)",
)

#: private torch names this package falls back from, absent from the oldest supported torch: their lookup
#: test is skipped there (``compat.PRIVATE_APIS`` says what replaces each)
PRIVATE_APIS_ADDED_LATER = {"torch._inductor.cpp_builder.get_cpp_compiler": "2.5"}


def transformers_with_torch(module_level: bool = False) -> Any:
    """The installed ``transformers``, skipping the test (or the module) where there is none, it refuses this
    torch, or its optimizers do not import with it (transformers imports an installed torchao, whose newest
    releases need a newer torch than 2.8)."""
    transformers = pytest.importorskip("transformers")
    if not transformers.utils.is_torch_available():  # transformers 5 needs torch >= 2.6
        pytest.skip(
            f"transformers {transformers.__version__} does not run with torch {torch.__version__}",
            allow_module_level=module_level,
        )
    try:
        import transformers.optimization
        from transformers import Trainer  # noqa: F401  (imports an installed torchao)
    except ImportError as err:
        pytest.skip(
            f"transformers {transformers.__version__} does not import with torch {torch.__version__}: {err}",
            allow_module_level=module_level,
        )
    return transformers


FAST = {
    "accelerator": "cpu",
    "devices": 1,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


def loader(n: int = 32, batch_size: int = 8, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=generator)
    y = torch.randint(0, 4, (n,), generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Linear(8, 16)
        self.layer2 = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(torch.relu(self.layer1(x)))


class Classifier(L.LightningModule):
    """A small classifier; subclasses add ``configure_optimizers`` or declarations."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = Net()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self.model_gen(x), y)
        self.log("train_loss", loss)
        return loss


class SparseEmbedding(Classifier):
    """An embedding with sparse gradients (what ``SparseAdam`` is for) feeding a dense head."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 8, sparse=True)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        tokens = (x.abs() * 10).long().clamp(max=9)[:, 0]
        return nn.functional.cross_entropy(self.model_gen(self.embedding(tokens)), y)


def planned(module: Any) -> list[tuple[Any, list[Any]]]:
    """Each declared optimizer of ``module`` with its planned param groups, as ``fit`` plans them."""
    declared_all = declared_of(module)
    return list(zip(declared_all, plan_all(module, [d.grouping for d in declared_all])))


#: This package's warning for a declared ``lr`` that a scheduler replaces when it is built (``OneCycleLR``,
#: ``CyclicLR``). Tests that declare one anyway, as their hand-written references do, assert it.
LR_REPLACED = r"no effect: `(OneCycleLR|CyclicLR)`"


#: Lightning's warning for a ``OneCycleLR`` stepped per epoch, which some tests declare on purpose (the message
#: is a regex without ``:``, which separates a filter's fields).
LIGHTNING_ONECYCLE_PER_EPOCH = "ignore:A `OneCycleLR` scheduler is using 'interval'.*'epoch':RuntimeWarning"


def lr_replaced(expected: bool = True) -> contextlib.AbstractContextManager[Any]:
    """Assert the ``LR_REPLACED`` warning (when ``expected``) around a declaration."""
    return pytest.warns(UserWarning, match=LR_REPLACED) if expected else contextlib.nullcontext()


def no_logger() -> Any:
    """Assert ``LRMonitor``'s warning for a ``Trainer`` without a logger (``FAST`` has none) around a fit."""
    return pytest.warns(UserWarning, match="`LRMonitor` is used with a `Trainer` that has no logger")


def declared(
    spec: OptimizerSpec, base: type[L.LightningModule] = Classifier, name: str = "Declared"
) -> type[Any]:
    """A mixin subclass of ``base`` named ``name`` (as error messages call it) declaring ``optimizer = spec``."""
    return type(name, (ConfigurableOptimizersMixin, base), {"optimizer": spec})


class TwoNets(L.LightningModule):
    """Two networks trained by two optimizers in manual optimization (a GAN's shape, kept simple)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = Net()
        self.model_dis = Net()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for net, opt in zip((self.model_gen, self.model_dis), self.optimizers()):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()


class TwoNetsByName(TwoNets):
    """``TwoNets`` whose ``training_step`` reaches the live optimizers by their attribute names (a module
    declaring ``gen_opt`` and ``dis_opt``), as a user's manual loop does."""

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for net, opt in ((self.model_gen, self.gen_opt), (self.model_dis, self.dis_opt)):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()


class TwoLosses(L.LightningModule):
    """``TwoNets``' networks with a loss method each and no training step (what ``loss=`` drives, and what a
    hand-written manual loop calls)."""

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


class LrRecorder(L.Callback):
    """Records, before every training batch, the lr of every param group of every optimizer."""

    def __init__(self) -> None:
        self.history: list[list[list[float]]] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.history.append([[float(g["lr"]) for g in opt.param_groups] for opt in trainer.optimizers])

    def of(self, optimizer: int = 0, group: int = 0) -> list[float]:
        return [step[optimizer][group] for step in self.history]


class DestroyProcessGroup(L.Callback):
    """Destroys the process group at the end of a multi-process fit, in each process. Lightning destroys only
    an NCCL group (at exit) and leaves a gloo one alive, and a process exiting with one may abort after its fit
    ended ("terminate called without an active exception", SIGABRT): a gloo worker thread that takes the GIL
    while the interpreter finalizes is ended by it, unwinding through C++ that may not throw. Every CPU test
    of ``devices=2`` passes it to its Trainer. Only after a fit that succeeded (``teardown`` is not called
    after an exception): a failed rank's peers may still wait in a collective."""

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def fit(module: L.LightningModule, *, data: DataLoader | None = None, **trainer_kwargs: Any) -> LrRecorder:
    """Train ``module`` with a real Trainer on tiny data; return the recorded lr history."""
    return fit_resumed(module, None, data=data, **trainer_kwargs)


def weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


class Block(nn.Module):
    """A pre-norm residual block: LayerNorm then Linear."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.fc(self.norm(h))


class VitLike(L.LightningModule):
    """A ViT's shape in miniature: embedding, stacked ``blocks``, a BatchNorm and a ``head``.

    The tokens come from the float features of ``loader()``, so it trains on the same tiny data.
    """

    def __init__(self, num_blocks: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(10, 8)
        self.blocks = nn.ModuleList([Block() for _ in range(num_blocks)])
        self.norm = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed((x.abs() * 3).long().clamp(max=9)).mean(1)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)


def fit_resumed(
    module: L.LightningModule, ckpt_path: str | None, *, data: DataLoader | None = None, **trainer_kwargs: Any
) -> LrRecorder:
    """Like ``fit``, resuming from ``ckpt_path`` (a Lightning checkpoint) when it is given."""
    recorder = LrRecorder()
    callbacks = [recorder, *trainer_kwargs.pop("callbacks", [])]
    options = {**FAST, "max_epochs": 3, **trainer_kwargs}
    trainer = L.Trainer(callbacks=callbacks, **options)
    trainer.fit(module, data if data is not None else loader(), ckpt_path=ckpt_path)
    return recorder


def as_written_by(checkpoint: Any, path: Any, **flags: Any) -> str:
    """``checkpoint`` saved again as an optimizer of the implementation ``flags`` (``fused``/``foreach``)
    writes it: a resume's reference, whose torch optimizer then runs that implementation."""
    saved = torch.load(checkpoint, weights_only=False)
    for group in saved["optimizer_states"][0]["param_groups"]:
        group.update(flags)
    torch.save(saved, path)
    return str(path)


def torch_lrs(make: Callable[[torch.optim.Optimizer], Any], steps: int, lr: float = 0.1) -> list[float]:
    """The lr a scheduler gives before each of ``steps`` steps, computed with torch alone (``make`` builds it on
    an ``SGD`` of one parameter at ``lr``): the reference a declared schedule is compared with."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs

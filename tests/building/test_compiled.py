"""``implementation="compiled"``: equal to the eager step, and no schedule ever compiles it again.

Every fit here runs a real Trainer twice on the same data, once eager (``"forloop"``, torch's default on the
CPU) and once compiled (inductor on the CPU), and compares the weights and the lrs. Tolerance: the compiled
step holds the lr and betas as float32 tensors (the eager one as Python floats, doubles) and inductor
reorders the update's arithmetic, so after 8-16 steps the weights agree to rtol 1e-5 / atol 2e-5 (Adam-family
updates move each weight by about the lr, up to 0.5 at OneCycle's peak here; measured differences reach 1e-5),
and the lrs to float32's rtol 1e-6; not bit for bit. Dynamo's graph
counter (``dynamo_graph_count``) proves that each optimizer compiled exactly once.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.precision import MixedPrecision

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.building.compiled import install_compiled_step
from lightning_optim.registry.optimizers import OPTIMIZER_INFO, tensor_options
from lightning_optim.utilities import compat
from tests import helpers
from tests.helpers import FAST, Classifier, TwoNetsByName, fit_resumed, loader
from tests.schedules.test_schedule import tensors_in
from tests.training.test_resume import SCHEDULERS, Logged, spec

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        compat.compile_unavailable("cpu") is not None, reason="torch.compile unavailable here"
    ),
]

#: torch >= 2.6 takes Adam's and AdamW's betas as tensors (their signature says so); before, a schedule of the
#: betas (OneCycle's default momentum cycle included) is refused under "compiled" at class definition
TENSOR_BETAS = "betas" in tensor_options(torch.optim.AdamW)

COMPILABLE = sorted(cls.__name__ for cls, info in OPTIMIZER_INFO.items() if info.compilable)


def dynamo_graph_count() -> int:
    """How many graphs Dynamo has compiled in this process (its ``unique_graphs`` counter)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


class GraphCounter(L.Callback):
    """Dynamo's graph count after each training batch."""

    def __init__(self) -> None:
        self.start = 0
        self.counts: list[int] = []

    def on_train_start(self, *args: Any) -> None:
        self.start = dynamo_graph_count()

    def on_train_batch_end(self, *args: Any) -> None:
        self.counts.append(dynamo_graph_count())

    def assert_no_recompilation(self, optimizers: int = 1) -> None:
        """Each optimizer compiled at most twice (its first step, which creates the state of some, and the
        steady one), and nothing in the second half of the run, where the schedules keep moving."""
        assert 0 < self.counts[-1] - self.start <= 2 * optimizers, (self.start, self.counts)
        assert self.counts[-1] == self.counts[len(self.counts) // 2], f"recompiled: {self.counts}"


def fit_both(make: Any, **trainer_kwargs: Any) -> tuple[Any, Any, Any, Any, GraphCounter]:
    """Fit ``make("forloop")`` and ``make("compiled")``; return both modules, both lr histories and the
    graph counts of the compiled fit."""
    eager = make("forloop")
    eager_lrs = fit_resumed(eager, None, **trainer_kwargs)
    compiled = make("compiled")
    graphs = GraphCounter()
    callbacks = [*trainer_kwargs.pop("callbacks", []), graphs]
    compiled_lrs = fit_resumed(compiled, None, callbacks=callbacks, **trainer_kwargs)
    return eager, compiled, eager_lrs, compiled_lrs, graphs


def assert_close_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=2e-5, msg=name)


def assert_close_lrs(a: Any, b: Any) -> None:
    assert len(a.history) == len(b.history)
    torch.testing.assert_close(torch.tensor(a.history), torch.tensor(b.history), rtol=1e-6, atol=0)


@pytest.mark.filterwarnings(helpers.LIGHTNING_ONECYCLE_PER_EPOCH)
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_steps_a_compiled_adamw_without_recompiling(name: str) -> None:
    # AdamW takes its betas as tensors too: OneCycle's and CyclicLR's momentum cycle drives betas[0] in place
    scheduler = spec(name, "step")
    if name in ("onecycle", "cyclic") and not TENSOR_BETAS:
        with pytest.raises(ValueError, match="cycles the momentum: `AdamW` takes `betas` as a Python number"):
            helpers.declared(OptimizerSpec("adamw", implementation="compiled", scheduler=scheduler))
        return

    def make(implementation: str) -> Any:
        lr = {} if name in ("onecycle", "cyclic") else {"lr": 0.05}  # they set the lr themselves
        declaration = OptimizerSpec(
            "adamw", weight_decay=0.01, implementation=implementation, scheduler=scheduler, **lr
        )
        return helpers.declared(declaration, base=Logged)()

    eager, compiled, eager_lrs, compiled_lrs, graphs = fit_both(make, max_epochs=2)
    graphs.assert_no_recompilation()
    assert len(set(map(str, eager_lrs.history))) > 1, "the schedule must move for the test to mean anything"
    assert_close_lrs(eager_lrs, compiled_lrs)
    assert_close_weights(eager, compiled)


@pytest.mark.skipif(not TENSOR_BETAS, reason="a beta1 schedule needs tensor betas (torch >= 2.6)")
def test_windows_lists_and_param_schedules_do_not_recompile() -> None:
    # a linear warmup window, then a cosine window, on the lr; a param schedule ramping beta1; plateau on top
    schedules = [
        SchedulerSpec("linear", start_factor=0.1, begin=0, end=4, interval="step"),
        SchedulerSpec("cosine", begin=4, end=16, interval="step"),
        SchedulerSpec(
            "linear", param="beta1", start_factor=1.0, end_factor=0.95, total_iters=12, interval="step"
        ),
        SchedulerSpec("plateau", monitor="metric", patience=0, factor=0.5),
    ]

    def make(implementation: str) -> Any:
        declaration = OptimizerSpec("adam", lr=0.05, implementation=implementation, scheduler=schedules)
        return helpers.declared(declaration, base=Logged)()

    eager, compiled, eager_lrs, compiled_lrs, graphs = fit_both(make, max_epochs=4)
    graphs.assert_no_recompilation()
    assert_close_lrs(eager_lrs, compiled_lrs)
    assert_close_weights(eager, compiled)
    betas = compiled.trainer.optimizers[0].param_groups[0]["betas"]
    assert all(isinstance(beta, torch.Tensor) for beta in betas)
    assert betas[0].item() == pytest.approx(0.9 * 0.95, rel=1e-6)  # the ramp ended: the held tensor moved


def _options(cls: type) -> dict[str, Any]:
    """Options that make each optimizer's update do something it can get wrong."""
    extra: dict[str, Any] = {
        "SGD": {"momentum": 0.9, "nesterov": True},
        "RMSprop": {"momentum": 0.5, "centered": True},
        "Adam": {"amsgrad": True},
        "Adagrad": {"lr_decay": 0.01},
        "NAdam": {"decoupled_weight_decay": True},
    }.get(cls.__name__, {})
    lr = 1.0 if cls.__name__ == "Adadelta" else 0.01
    weight_decay = {"weight_decay": 0.01} if cls.__name__ != "Rprop" else {}
    return {"lr": lr, **weight_decay, **extra}


@pytest.mark.parametrize("name", COMPILABLE)
def test_every_torch_optimizer_compiled_equals_eager(name: str) -> None:
    cls = getattr(torch.optim, name)
    scheduler = SchedulerSpec("cosine", warmup=2, interval="step")

    def make(implementation: str) -> Any:
        declaration = OptimizerSpec(
            name.lower(), implementation=implementation, scheduler=scheduler, **_options(cls)
        )
        return helpers.declared(declaration)()

    eager, compiled, eager_lrs, compiled_lrs, graphs = fit_both(make, max_epochs=2)
    graphs.assert_no_recompilation()
    assert_close_lrs(eager_lrs, compiled_lrs)
    assert_close_weights(eager, compiled)


class Gan(ConfigurableOptimizersMixin, TwoNetsByName):
    """Two compiled optimizers in manual optimization (``TwoNetsByName``: `self.gen_opt.step()`)."""

    gen_opt = OptimizerSpec(
        "adam",
        params="model_gen",
        implementation="compiled",
        scheduler=SchedulerSpec("onecycle", max_lr=0.05, interval="step", cycle_momentum=TENSOR_BETAS),
    )
    dis_opt = OptimizerSpec(
        "adamw",
        params="model_dis",
        lr=0.01,
        implementation="compiled",
        scheduler=SchedulerSpec("cosine", warmup=1),
    )


class EagerGan(Gan):
    gen_opt = OptimizerSpec(
        "adam",
        params="model_gen",
        scheduler=SchedulerSpec("onecycle", max_lr=0.05, interval="step", cycle_momentum=TENSOR_BETAS),
    )
    dis_opt = OptimizerSpec("adamw", params="model_dis", lr=0.01, scheduler=SchedulerSpec("cosine", warmup=1))


def test_manual_optimization_with_two_compiled_optimizers_equals_eager() -> None:
    eager = EagerGan()
    eager_lrs = fit_resumed(eager, None, max_epochs=2)
    compiled = Gan()
    graphs = GraphCounter()
    compiled_lrs = fit_resumed(compiled, None, max_epochs=2, callbacks=[graphs])
    graphs.assert_no_recompilation(optimizers=2)
    assert_close_lrs(eager_lrs, compiled_lrs)
    assert_close_weights(eager, compiled)


@pytest.mark.parametrize(
    "trainer_kwargs",
    [
        {"accumulate_grad_batches": 2, "gradient_clip_val": 0.05},
        {"precision": "bf16-mixed", "gradient_clip_val": 0.05},
        {"plugins": [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))]},
    ],
    ids=["accumulate-clip", "bf16-mixed-clip", "16-mixed-scaler"],
)
def test_lightning_closure_accumulation_clipping_and_precision_keep_working(
    trainer_kwargs: dict[str, Any],
) -> None:
    scheduler = SchedulerSpec("linear", start_factor=0.25, total_iters=4, interval="step")

    def make(implementation: str) -> Any:
        declaration = OptimizerSpec("adamw", lr=0.01, implementation=implementation, scheduler=scheduler)
        return helpers.declared(declaration)()

    eager, compiled, eager_lrs, compiled_lrs, graphs = fit_both(make, max_epochs=2, **trainer_kwargs)
    graphs.assert_no_recompilation()
    assert_close_lrs(eager_lrs, compiled_lrs)
    assert_close_weights(eager, compiled)


def test_resume_from_a_checkpoint_continues_like_the_uninterrupted_run(tmp_path: Path) -> None:
    declaration = OptimizerSpec(
        "adamw",
        lr=0.05,
        implementation="compiled",
        scheduler=SchedulerSpec("cosine", warmup=2, interval="step"),
    )
    cls = helpers.declared(declaration)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, every_n_epochs=1)
    full = cls()
    whole = fit_resumed(
        full, None, max_epochs=4, callbacks=[checkpoint], enable_checkpointing=True, default_root_dir=tmp_path
    )
    saved = torch.load(tmp_path / "epoch=1-step=8.ckpt", weights_only=False)
    group = saved["optimizer_states"][0]["param_groups"][0]
    assert isinstance(group["lr"], float) and all(
        isinstance(b, float) for b in group["betas"]
    )  # as eager saves
    resumed = cls()
    rest = fit_resumed(
        resumed,
        str(tmp_path / "epoch=1-step=8.ckpt"),
        max_epochs=4,
        enable_checkpointing=True,
        default_root_dir=tmp_path / "resumed",  # its checkpoints, not in the working directory
    )
    assert rest.history == whole.history[8:]
    helpers.assert_same_weights(full, resumed)


def test_resumed_from_a_fused_checkpoint_the_step_compiles(tmp_path: Path) -> None:
    # torch's load_state_dict brings the checkpoint's `fused=True` into the groups, and the compiled function
    # would run torch's fused path (graph breaks, nothing compiled) unless the groups keep their own options
    first = helpers.declared(OptimizerSpec("adamw", lr=0.01))()  # "auto": fused on the CPU
    fit_resumed(first, None, max_epochs=1, enable_checkpointing=True, default_root_dir=tmp_path / "first")
    (checkpoint,) = (tmp_path / "first").glob("**/*.ckpt")
    resumed = helpers.declared(OptimizerSpec("adamw", lr=0.01, implementation="compiled"))()
    graphs = GraphCounter()
    fit_resumed(resumed, str(checkpoint), max_epochs=2, callbacks=[graphs])
    groups = resumed.trainer.optimizers[0].param_groups
    assert [(g["fused"], g["foreach"]) for g in groups] == [(None, None)]
    assert 0 < graphs.counts[-1] - graphs.start <= 2, (graphs.start, graphs.counts)
    reference = helpers.declared(OptimizerSpec("adamw", lr=0.01, implementation="forloop"))()
    path = helpers.as_written_by(checkpoint, tmp_path / "forloop.ckpt", fused=None, foreach=False)
    fit_resumed(reference, path, max_epochs=2)
    assert_close_weights(reference, resumed)


def _decay(step: int) -> float:
    return 1 / (1 + step)


@pytest.mark.parametrize("written_by", ["this version", "an earlier version"])
def test_a_compiled_checkpoint_holds_numbers_and_resumes_an_eager_run(
    tmp_path: Path, written_by: str
) -> None:
    # torch's scheduler copies the held lr tensor into `initial_lr`, `base_lrs` and `_last_lr`; resumed with
    # tensors there, an eager run got a tensor lr written in place, and Lightning's LearningRateMonitor, which
    # keeps the object, recorded its last value for every step
    def make(implementation: str) -> Any:
        scheduler = SchedulerSpec(torch.optim.lr_scheduler.LambdaLR, lr_lambda=_decay, interval="step")
        return helpers.declared(
            OptimizerSpec("adamw", lr=0.01, implementation=implementation, scheduler=scheduler)
        )()

    fit_resumed(
        make("compiled"), None, max_epochs=1, enable_checkpointing=True, default_root_dir=tmp_path / "first"
    )
    (checkpoint,) = (tmp_path / "first").glob("**/*.ckpt")
    saved = torch.load(checkpoint, weights_only=False)
    group, inner = saved["optimizer_states"][0]["param_groups"][0], saved["lr_schedulers"][0]["inner"]
    if written_by == "this version":
        assert tensors_in(saved["optimizer_states"][0]["param_groups"]) == []
        assert tensors_in(saved["lr_schedulers"]) == []
    else:
        group["initial_lr"] = torch.tensor(group["initial_lr"])
        inner.update({key: [torch.tensor(v) for v in inner[key]] for key in ("base_lrs", "_last_lr")})
        torch.save(saved, checkpoint)
    monitor = L.pytorch.callbacks.LearningRateMonitor(logging_interval="step")
    resumed = make("auto")
    options = {"logger": CSVLogger(tmp_path), "log_every_n_steps": 1, "callbacks": [monitor]}
    fit_resumed(resumed, str(checkpoint), max_epochs=2, **options)
    assert type(resumed.trainer.optimizers[0].param_groups[0]["lr"]) is float
    assert tensors_in(resumed.trainer.optimizers[0].state_dict()["param_groups"]) == []  # its checkpoints too
    base = torch.tensor(0.01).item()  # the compiled run's lr: a float32 tensor
    expected = [group["lr"]] + [base * _decay(s) for s in range(5, 8)]  # the checkpoint's lr, then LambdaLR's
    assert list(monitor.lrs.values()) == [expected]


def test_lr_monitor_logs_the_eager_values(tmp_path: Path) -> None:
    def make(implementation: str) -> Any:
        declaration = OptimizerSpec(
            "adam",
            implementation=implementation,
            groups=[ParamGroup("model_gen.layer1", weight_decay=0.1)],
            scheduler=SchedulerSpec("onecycle", max_lr=0.05, interval="step", cycle_momentum=TENSOR_BETAS),
        )
        return helpers.declared(declaration)()

    logged = []
    for implementation in ("forloop", "compiled"):
        monitor = LRMonitor(log_momentum=True)
        logger = CSVLogger(tmp_path, name=implementation)
        fit_resumed(
            make(implementation), None, max_epochs=1, callbacks=[monitor], logger=logger, log_every_n_steps=1
        )
        logged.append(monitor.lrs)
    assert logged[0].keys() == logged[1].keys() and len(logged[0]) == 2  # one key per param group
    for key in logged[0]:
        torch.testing.assert_close(
            torch.tensor(logged[0][key]), torch.tensor(logged[1][key]), rtol=1e-6, atol=0
        )


def test_each_optimizer_compiles_its_own_copy_of_the_update() -> None:
    # Dynamo's recompile limit (8) counts per code object, dead optimizers included: sharing torch's
    # `Adam.step` code, the ninth Adam of a process would silently run eagerly
    from lightning_optim.building.compiled import install_compiled_step

    before = dynamo_graph_count()
    for _ in range(10):
        param = torch.nn.Parameter(torch.ones(4))
        optimizer = torch.optim.Adam([param], lr=0.1)
        install_compiled_step(optimizer)
        param.grad = torch.ones(4)
        optimizer.step()
        assert param.detach().lt(1).all()
    assert dynamo_graph_count() - before == 10


# -- refused: at class definition, or when fit starts ---------------------------------------------------------


def _define(spec_: OptimizerSpec) -> None:
    helpers.declared(spec_, name="Model")


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (
            OptimizerSpec(
                "sgd",
                lr=0.1,
                momentum=0.9,
                implementation="compiled",
                scheduler=SchedulerSpec("onecycle", max_lr=1.0),
            ),
            "Model.optimizer.scheduler: Expected a schedule under `implementation='compiled'` to drive an option that "
            "`SGD` takes as a tensor (`lr`) but got `cycle_momentum=True` (`OneCycleLR`'s default), which cycles the "
            "momentum: `SGD` takes `momentum` as a Python number only, which Dynamo compiles into the step as a "
            "constant (every new value would compile it again). Pass `cycle_momentum=False`, or use another "
            "`implementation` for this optimizer.",
        ),
        (
            OptimizerSpec(
                "adamw",
                implementation="compiled",
                scheduler=[
                    SchedulerSpec("cosine"),
                    SchedulerSpec("linear", param="weight_decay", end_factor=0.1),
                ],
            ),
            "but got param='weight_decay': `AdamW` takes `weight_decay` as a Python number only, which Dynamo "
            "compiles into the step as a constant",
        ),
        (
            OptimizerSpec("lbfgs", implementation="compiled"),
            "Model.optimizer: Expected `implementation` to be one of `auto` for `LBFGS` (it re-evaluates the "
            "closure inside its step) but got 'compiled'.",
        ),
        (
            OptimizerSpec("muon_adamw", implementation="compiled"),
            "only torch's own optimizers are compiled",
        ),
        (
            OptimizerSpec("adafactor", implementation="compiled"),
            "Model.optimizer: Expected `implementation` to be one of `auto`, `foreach`, `forloop` for `Adafactor` "
            "(its step reads the step count and the norms of each parameter and update as Python numbers "
            "with `.item()`, where torch.compile breaks the graph and runs the whole step eagerly) but got 'compiled'.",
        ),
        (
            OptimizerSpec("muon", implementation="compiled"),
            "Model.optimizer: Expected `implementation` to be one of `auto` for `Muon` (its `lr` cannot be a "
            "tensor, so every new lr would compile the step again) but got 'compiled'.",
        ),
        (
            OptimizerSpec("adam", implementation="compiled", fused=True),
            "Model.optimizer: Expected either `implementation` or `fused=` but got both",
        ),
    ],
    ids=["cycle-momentum", "weight-decay-schedule", "lbfgs", "not-torch", "adafactor", "muon", "fused-too"],
)
def test_refused_at_class_definition(declaration: OptimizerSpec, message: str) -> None:
    if not OPTIMIZER_INFO[torch.optim.SGD].compilable and "`SGD`" in message:
        pytest.skip(
            "this torch's SGD does not type its lr as a tensor (2.4): compiled SGD is refused outright"
        )
    if declaration.optimizer in ("muon_adamw", "muon") and not compat.torch_at_least("2.9"):
        pytest.skip("Muon and MuonWithAdamW need torch >= 2.9")
    if declaration.optimizer == "adafactor" and compat.torch_optimizer_class("Adafactor") is None:
        pytest.skip("torch.optim.Adafactor needs torch >= 2.5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as raised:
            _define(declaration)
    assert message in str(raised.value)


@pytest.mark.parametrize("foreach", [False, True], ids=["forloop", "foreach"])
def test_torchs_adafactor_step_does_not_compile(foreach: bool) -> None:
    """Why ``implementation="compiled"`` refuses torch's ``Adafactor``: under ``torch.compile`` its step (either
    loop) compiles no graph at all (``.item()`` inside its loop over the parameters), so it would run eagerly
    while ``"compiled"`` was asked for. Should a torch compile it, this fails: accept it then."""
    adafactor = compat.torch_optimizer_class("Adafactor")
    if adafactor is None:
        pytest.skip("torch.optim.Adafactor needs torch >= 2.5")
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    optimizer = adafactor(params, lr=torch.tensor(0.01), foreach=foreach)
    install_compiled_step(optimizer)
    start = dynamo_graph_count()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            for param in params:
                param.grad = torch.ones_like(param)
            optimizer.step()
    assert dynamo_graph_count() == start


def test_refused_when_fit_starts_without_a_cpp_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PATH", ""
    )  # inductor's g++ is found on the PATH; without it nothing compiles on the CPU
    model = helpers.declared(OptimizerSpec("adamw", implementation="compiled"), name="Model")()
    trainer = L.Trainer(**{**FAST, "max_epochs": 1})
    with pytest.raises(
        ValueError, match=r"Model.optimizer: Expected a step torch.compile can compile .* no C\+\+"
    ):
        trainer.fit(model, loader())


def test_auto_never_compiles_on_the_cpu() -> None:
    # the decision table has CUDA rows only: on the CPU compiling took 16-33 s and paid back after thousands of
    # steps at best (docs/guides/performance.md)
    model = helpers.declared(OptimizerSpec("rmsprop"))()
    fit_resumed(model, None, max_epochs=1)
    assert not isinstance(model.trainer.optimizers[0].param_groups[0]["lr"], torch.Tensor)


# -- CUDA (benchmarks/gpu_check.sh runs these) -----------------------------------------------------------------

CUDA = pytest.mark.skipif(
    not torch.cuda.is_available() or compat.compile_unavailable("cuda") is not None,
    reason="needs CUDA and triton",
)


@pytest.mark.gpu
@CUDA
@pytest.mark.parametrize("optimizer", ["adamw", "rmsprop"])
def test_cuda_compiled_equals_foreach_under_bf16_mixed(optimizer: str) -> None:
    scheduler = SchedulerSpec(
        "onecycle", max_lr=0.05, interval="step", cycle_momentum=optimizer == "adamw" and TENSOR_BETAS
    )

    def make(implementation: str) -> Any:
        chosen = "foreach" if implementation == "forloop" else implementation
        return helpers.declared(OptimizerSpec(optimizer, implementation=chosen, scheduler=scheduler))()

    eager, compiled, eager_lrs, compiled_lrs, graphs = fit_both(
        make, max_epochs=2, accelerator="gpu", devices=1, precision="bf16-mixed", gradient_clip_val=0.05
    )
    graphs.assert_no_recompilation()
    assert_close_lrs(eager_lrs, compiled_lrs)
    assert_close_weights(eager.cpu(), compiled.cpu())


class Wide(Classifier):
    """About 100M parameters: a size where issue 23's H200 rows say compiling RMSprop pays back."""

    def __init__(self) -> None:
        super().__init__()
        self.wide = torch.nn.Linear(10_000, 10_000)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        return loss + self.wide.weight[0, 0] * 0


class StopAfter(L.Callback):
    def __init__(self, batches: int) -> None:
        self.batches = batches

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        trainer.should_stop = trainer.global_step >= self.batches


@pytest.mark.gpu
@CUDA
def test_cuda_auto_compiles_rmsprop_where_a_long_run_repays_it() -> None:
    model = helpers.declared(OptimizerSpec("rmsprop", lr=1e-3), base=Wide)()
    trainer = L.Trainer(
        **{**FAST, "max_epochs": -1, "max_steps": 200_000, "accelerator": "gpu", "devices": 1},
        callbacks=[StopAfter(3)],
    )
    trainer.fit(model, loader())
    assert isinstance(trainer.optimizers[0].param_groups[0]["lr"], torch.Tensor)  # held: compiled
    short = helpers.declared(OptimizerSpec("rmsprop", lr=1e-3), base=Wide)()
    trainer = L.Trainer(
        **{**FAST, "max_steps": 100, "accelerator": "gpu", "devices": 1}, callbacks=[StopAfter(3)]
    )
    trainer.fit(short, loader())
    assert not isinstance(
        trainer.optimizers[0].param_groups[0]["lr"], torch.Tensor
    )  # 100 steps repay nothing


class SideHead(Classifier):
    """A classifier with a head used on odd batches only (a branch, an MoE expert not routed to): which
    parameters have a gradient changes from one step to the next."""

    def __init__(self) -> None:
        super().__init__()
        self.side = torch.nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        if batch_idx % 2 == 1:
            x, y = batch
            loss = loss + torch.nn.functional.cross_entropy(self.side(x), y)
        return loss


@helpers.compiled_holds_sgd_lr_and_adam_betas
def test_a_changing_set_of_parameters_with_gradients_is_reported_once() -> None:
    # Dynamo guards on which gradients are None: every new pattern compiles the step again, and after its
    # recompile limit (8) the step runs eagerly. No exact way around it, so the user is told, once.
    module = helpers.declared(OptimizerSpec("sgd", lr=0.1, implementation="compiled"), base=SideHead)()
    counter = GraphCounter()
    with pytest.warns(UserWarning) as record:
        L.Trainer(**FAST, max_epochs=1, limit_train_batches=4, callbacks=[counter]).fit(module, loader())
    messages = [str(w.message) for w in record if "compiles the step again" in str(w.message)]
    assert messages == [
        "Declared.optimizer: Expected the same parameters to have a gradient at every step under "
        "`implementation='compiled'` but `side.weight` has one at step 2 and had none at step 1: Dynamo "
        "compiles the step again for every new pattern of parameters without a gradient, and after its "
        "recompile limit (8) runs it eagerly for the rest of the run. Use `implementation='auto'` for a model "
        "whose parameters do not all get a gradient at every step (branches, MoE experts)."
    ]
    assert counter.counts[-1] - counter.start == 2  # the two patterns, each compiled once

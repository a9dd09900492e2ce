"""``"bnb/<name>"``: bitsandbytes' optimizers by name, against bitsandbytes driven by hand in a real Trainer.

The model has tensors of at least 4096 elements (bitsandbytes' ``min_8bit_size``), so their state really is
8-bit; the biases stay 32-bit, as bitsandbytes decides.
"""

from __future__ import annotations

import gc
import inspect
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml
from torch import nn

from lightning_optim import (
    HParam,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    describe_optimizers,
    preview_schedule,
    spec_from_dict,
    spec_to_dict,
)
from lightning_optim.registry import bnb as bnb_records
from lightning_optim.registry import external
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.tools.state_size import tensor_bytes
from tests.helpers import assert_same_weights, declared, fit, fit_resumed, loader
from tests.training.test_resume import Resumable, checkpoints

bnb = pytest.importorskip("bitsandbytes")

LR = 1e-2
STEP = SchedulerSpec("step", step_size=2, gamma=0.5, interval="step")


class Wide(L.LightningModule):
    """An embedding and a hidden layer of 4096 elements each (8-bit state), small biases (32-bit)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(128, 32)
        self.inp = nn.Linear(8, 32)
        self.hidden = nn.Linear(32, 128)
        self.out = nn.Linear(128, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        tokens = (x.abs() * 40).long().clamp(max=127)[:, 0]
        hidden = torch.relu(self.hidden(torch.relu(self.inp(x) + self.embed(tokens))))
        return nn.functional.cross_entropy(self.out(hidden), y)


class ByHand(Wide):
    """bitsandbytes' AdamW8bit and a StepLR, written as a user would without this package."""

    def configure_optimizers(self) -> Any:
        optimizer = bnb.optim.AdamW8bit(self.parameters(), lr=LR)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def state_dtypes(trainer: L.Trainer, module: nn.Module) -> dict[str, torch.dtype]:
    optimizer = trainer.optimizers[0]
    return {name: optimizer.state[p]["state1"].dtype for name, p in module.named_parameters()}


@pytest.mark.parametrize(
    "name",
    [n for n, c in vars(bnb.optim).items() if isinstance(c, type) and issubclass(c, torch.optim.Optimizer)],
)
def test_every_bitsandbytes_optimizer_has_its_lower_case_name(name: str) -> None:
    cls = getattr(bnb.optim, name)
    assert resolve_class(f"bnb/{name.lower()}", "optimizer", where="M") is cls
    if name.startswith("Paged"):
        assert resolve_class(f"bnb/paged_{name[5:].lower()}", "optimizer", where="M") is cls


def test_adamw8bit_trains_like_bitsandbytes_by_hand() -> None:
    reference = ByHand()
    expected = fit(reference, max_epochs=2)
    module = declared(OptimizerSpec("bnb/adamw8bit", lr=LR, scheduler=STEP), base=Wide)()
    recorded = fit(module, max_epochs=2)
    trainer = module.trainer
    assert type(trainer.optimizers[0]) is bnb.optim.AdamW8bit
    assert recorded.history == expected.history
    assert len(set(recorded.of())) > 1
    assert_same_weights(module, reference)
    dtypes = state_dtypes(trainer, module)
    assert dtypes["hidden.weight"] == dtypes["embed.weight"] == torch.uint8
    assert dtypes["hidden.bias"] == torch.float32  # under min_8bit_size


def test_adamw8bit_resumes_mid_epoch_exactly(tmp_path: Path) -> None:
    cls = declared(OptimizerSpec("bnb/adamw8bit", lr=LR, scheduler=STEP), base=Wide)
    options = {"max_epochs": 4, "enable_checkpointing": True, "default_root_dir": tmp_path}
    whole_module = cls()
    save = checkpoints(tmp_path / "ckpt", every_n_train_steps=5)
    whole = fit_resumed(whole_module, None, data=Resumable(), callbacks=[save], **options)
    resumed_module = cls()
    path = tmp_path / "ckpt" / "epoch=1-step=5.ckpt"  # after batch 0 of epoch 1
    rest = fit_resumed(resumed_module, str(path), data=Resumable(), **options)
    assert len(whole.history) == 16
    assert rest.history == whole.history[5:]
    assert_same_weights(whole_module, resumed_module)
    assert state_dtypes(resumed_module.trainer, resumed_module)["hidden.weight"] == torch.uint8


class ByHand32BitEmbedding(Wide):
    """The 32-bit embedding state bitsandbytes documents: ``override_config`` by hand."""

    def configure_optimizers(self) -> Any:
        manager = bnb.optim.GlobalOptimManager.get_instance()
        manager.override_config(self.embed.weight, "optim_bits", 32)
        return bnb.optim.AdamW8bit(
            [
                {"params": [self.embed.weight]},
                {"params": [p for n, p in self.named_parameters() if n != "embed.weight"]},
            ],
            lr=LR,
        )


def test_a_group_keeps_its_state_in_32_bit_like_override_config_by_hand() -> None:
    reference = ByHand32BitEmbedding()
    fit(reference, max_epochs=1)
    manager = bnb.optim.GlobalOptimManager.get_instance()
    del manager.pid2config[id(reference.embed.weight)]
    spec = OptimizerSpec("bnb/adamw8bit", lr=LR, groups=[ParamGroup("embed", optim_bits=32)])
    module = declared(spec, base=Wide)()
    fit(module, max_epochs=1)
    assert_same_weights(module, reference)
    dtypes = state_dtypes(module.trainer, module)
    assert dtypes["embed.weight"] == torch.float32
    assert dtypes["hidden.weight"] == torch.uint8


def test_a_second_fit_does_not_inherit_the_first_ones_precision() -> None:
    spec = OptimizerSpec("bnb/adamw8bit", groups=[ParamGroup("embed", min_8bit_size=HParam("embed_minimum"))])
    module = declared(spec, base=Wide)()
    module.embed_minimum = 10**6  # 32-bit state: the embedding is smaller
    fit(module, max_steps=1)
    assert state_dtypes(module.trainer, module)["embed.weight"] == torch.float32
    module.embed_minimum = 4096
    fit(module, max_steps=1)
    assert state_dtypes(module.trainer, module)["embed.weight"] == torch.uint8
    # the same parameters under a declaration without the option: bitsandbytes' own default again
    module.embed_minimum = 10**6
    fit(module, max_steps=1)
    module.__class__ = declared(OptimizerSpec("bnb/adamw8bit"), base=Wide)
    fit(module, max_steps=1)
    assert state_dtypes(module.trainer, module)["embed.weight"] == torch.uint8


def test_overrides_are_dropped_with_their_parameters() -> None:
    module = declared(
        OptimizerSpec("bnb/adamw8bit", groups=[ParamGroup("embed", optim_bits=32)]), base=Wide
    )()
    fit(module, max_steps=1)
    manager = bnb.optim.GlobalOptimManager.get_instance()
    key = id(module.embed.weight)
    assert manager.pid2config[key] == {"optim_bits": 32}
    del module
    gc.collect()
    assert key not in manager.pid2config
    assert key not in bnb_records._OURS


def test_a_group_may_also_set_min_8bit_size() -> None:
    spec = OptimizerSpec("bnb/adamw8bit", groups=[ParamGroup("hidden.bias", min_8bit_size=16)])
    module = declared(spec, base=Wide)()
    fit(module, max_steps=1)
    dtypes = state_dtypes(module.trainer, module)
    assert dtypes["hidden.bias"] == torch.uint8  # 128 elements, now above its own minimum
    assert dtypes["out.bias"] == torch.float32


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (
            OptimizerSpec("bnb/adamw8bit", groups=[ParamGroup("embed", optim_bits=16)]),
            ValueError,
            r"^Declared\.optimizer\.groups\[0\]: Expected `optim_bits` to be 8 or 32 \(bitsandbytes' state "
            r"precisions\) but got 16\.",
        ),
        (
            OptimizerSpec("bnb/adamw8bit", groups=[ParamGroup("embed", optim_bitz=32)]),
            ValueError,
            r"`optim_bitz` is not a per-group option of `AdamW8bit` \(did you mean `optim_bits`\?\)",
        ),
        (
            OptimizerSpec("bnb/adamw8bit", implementation="fused"),
            ValueError,
            r"Expected `implementation` to be one of `auto` for `AdamW8bit` \(it has no `fused` option\)",
        ),
        (
            OptimizerSpec("bnb/sgd8bit", lr=0.1),  # found by fuzzing: bitsandbytes raises NotImplementedError
            ValueError,
            r"^Declared\.optimizer: Expected `momentum` of `SGD8bit` to be > 0 \(bitsandbytes' SGD and LARS have no "
            r"momentum-free form\) but got 0 \(its default\)\.$",
        ),
        (
            OptimizerSpec("bnb/pytorchlars", momentum=0.0),  # found by fuzzing: UnboundLocalError in its step
            ValueError,
            r"Expected `momentum` of `PytorchLARS` to be > 0 .* but got 0\.0\.$",
        ),
        (
            OptimizerSpec("bnb/pytorchlars", momentum=0.9, groups=[ParamGroup("embed", optim_bits=32)]),
            ValueError,
            r"`optim_bits` is not a per-group option of `PytorchLARS`",  # it has no GlobalOptimManager
        ),
        (
            OptimizerSpec("adamw", groups=[ParamGroup("embed", optim_bits=32)]),
            ValueError,
            r"`optim_bits` is not a per-group option of `AdamW`",
        ),
    ],
)
def test_bad_declarations_fail_at_class_definition(spec: OptimizerSpec, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        declared(spec, base=Wide)


def _betas_read(cls: type) -> int | None:
    default = (
        inspect.signature(cls).parameters.get("betas", inspect.Parameter("betas", 1, default=None)).default
    )
    return len(default) if isinstance(default, tuple) else None


#: every bitsandbytes optimizer of the registry that takes ``betas``, by name, with how many it reads
BETAS = {
    name: _betas_read(record.cls)
    for name, record in bnb_records.names(bnb.optim).items()
    if _betas_read(record.cls) is not None
}


def test_the_betas_each_optimizer_reads() -> None:
    """AdEMAMix reads three betas, every other one two (``Optimizer2State`` passes a third only to AdEMAMix's
    kernel; Lion's ``Optimizer1State`` none): as many as its default holds."""
    assert {name for name, length in BETAS.items() if length == 3} == {
        name for name in BETAS if "ademamix" in name
    }
    assert set(BETAS.values()) == {2, 3}
    assert {"lion8bit", "adamw8bit", "lamb8bit", "paged_lion8bit", "ademamix8bit"} <= BETAS.keys()


@pytest.mark.parametrize(("name", "length"), sorted(BETAS.items()))
def test_betas_of_a_length_the_optimizer_does_not_read_are_refused(name: str, length: int) -> None:
    """bitsandbytes takes any length: it drops Lion8bit's third beta and reads 0.0 for AdEMAMix8bit's missing
    third one. (AdEMAMix annotates its betas as three floats: a declared tuple of another length is refused by
    that annotation, as any other argument's type.)"""
    cls = resolve_class(f"bnb/{name}", "optimizer", where="test")
    read = (0.9, 0.99, 0.999)[:length]
    for betas in ((*read, 0.5), read[:-1]):
        expected = rf"Expected `betas` of `{cls.__name__}` to "
        with pytest.raises((TypeError, ValueError), match=r"^Declared\.optimizer: " + expected):
            declared(OptimizerSpec(f"bnb/{name}", betas=betas), base=Wide)
        with pytest.raises((TypeError, ValueError), match=r"^Declared\.optimizer\.groups\[0\]: " + expected):
            declared(OptimizerSpec(f"bnb/{name}", groups=[ParamGroup("embed", betas=betas)]), base=Wide)
    declared(OptimizerSpec(f"bnb/{name}", betas=read, groups=[ParamGroup("embed", betas=read)]), base=Wide)


def test_lion8bit_with_a_third_beta_is_refused_saying_why() -> None:
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec("bnb/lion8bit", betas=(0.9, 0.99, 0.999)), base=Wide)
    assert str(caught.value) == (
        "Declared.optimizer: Expected `betas` of `Lion8bit` to hold 2 values (as its default (0.9, 0.99): "
        "bitsandbytes reads no more and drops the rest) but got 3: (0.9, 0.99, 0.999)."
    )


def test_lion8bit_would_train_the_same_without_its_third_beta() -> None:
    """Why the third beta is refused: bitsandbytes' Lion8bit takes it and trains as without it."""
    weights = []
    for betas in ((0.9, 0.99), (0.9, 0.99, 0.5)):
        module = Wide()
        optimizer = bnb.optim.Lion8bit(module.parameters(), lr=LR, betas=betas)
        for _ in range(3):
            for param in module.parameters():
                param.grad = torch.full_like(param, 0.1)
            optimizer.step()
        weights.append(module.hidden.weight.detach().clone())
    assert torch.equal(*weights)


@pytest.mark.parametrize(
    ("name", "bits", "hint"),
    [
        ("bnb/adamw8bit", 32, "`bnb/adamw` with `optim_bits=32`, or "),
        ("bnb/paged_adamw8bit", 32, "`bnb/pagedadamw` with `optim_bits=32`, or "),
        ("bnb/adam32bit", 8, "`bnb/adam` with `optim_bits=8`, or "),
    ],
)
def test_a_constructor_precision_the_class_ignores_is_refused(name: str, bits: int, hint: str) -> None:
    cls = resolve_class(name, "optimizer", where="test")
    kept = 40 - bits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # paged optimizers fall back to plain ones on CPU
        built = cls([nn.Parameter(torch.zeros(1))], optim_bits=bits)
    assert built.args.optim_bits == kept  # bitsandbytes takes the value and keeps its own
    message = (
        f"Declared.optimizer: Expected `optim_bits` of `{cls.__name__}` to be left out (its state is {kept}-bit "
        f"whatever it is given: bitsandbytes keeps the argument only for compatibility) but got {bits} (did you "
        f"mean {hint}`ParamGroup(..., optim_bits={bits})` for some parameters?)."
    )
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec(name, optim_bits=bits), base=Wide)
    assert str(caught.value) == message


def test_a_constructor_precision_the_class_keeps_trains_with_it() -> None:
    module = declared(OptimizerSpec("bnb/adamw", lr=LR, optim_bits=8), base=Wide)()
    reference = declared(OptimizerSpec("bnb/adamw8bit", lr=LR), base=Wide)()
    fit(module, max_steps=2)
    fit(reference, max_steps=2)
    assert_same_weights(module, reference)
    assert state_dtypes(module.trainer, module)["hidden.weight"] == torch.uint8


def test_describe_shows_the_precision_each_group_holds() -> None:
    """``rest`` sets no ``optim_bits``: it holds AdamW8bit's own 8 bits (its tensors under bitsandbytes'
    ``min_8bit_size`` of 4096 elements keep 32-bit state whatever the setting)."""
    spec = OptimizerSpec("bnb/adamw8bit", lr=LR, groups=[ParamGroup("embed", optim_bits=32)])
    module = declared(spec, base=Wide)()
    rows = describe_optimizers(module).splitlines()[1:4]
    assert [(row.split()[0], row.split()[-1]) for row in rows] == [
        ("group", "optim_bits"),
        ("embed", "32"),
        ("rest", "8"),
    ]
    fit(module, max_steps=1)
    dtypes = state_dtypes(module.trainer, module)
    assert (dtypes["embed.weight"], dtypes["hidden.weight"]) == (torch.float32, torch.uint8)


def test_an_unsupported_constructor_precision_fails_when_fit_starts() -> None:
    module = declared(OptimizerSpec("bnb/adam", optim_bits=16), base=Wide)()
    with pytest.raises(ValueError, match=r"^Declared\.optimizer: Expected `optim_bits` to be 8 or 32"):
        fit(module, max_steps=1)


def test_auto_leaves_bitsandbytes_to_its_own_kernels(caplog: pytest.LogCaptureFixture) -> None:
    module = declared(OptimizerSpec("bnb/adamw8bit"), base=Wide)()
    with caplog.at_level("INFO", logger="lightning_optim"):
        fit(module, max_steps=1)
    assert (
        "`AdamW8bit` uses the default implementation (auto: torch's default, `AdamW8bit` has no fused"
        in caplog.text
    )


def test_missing_bitsandbytes_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes.optim", None)
    monkeypatch.setattr(external, "_LOADED", {})
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected the `bitsandbytes` package for `bnb/\.\.\.` optimizer names but it "
        r"is not installed .*`pip install lightning-optim\[bnb\]`",
    ):
        declared(OptimizerSpec("bnb/adamw8bit"))


def test_describe_shows_the_state_bytes_the_run_holds() -> None:
    spec = OptimizerSpec("bnb/adamw8bit", lr=LR, groups=[ParamGroup("embed", optim_bits=32)])
    module = declared(spec, base=Wide)()
    text = describe_optimizers(module)
    fit(module, max_steps=1)
    optimizer = module.trainer.optimizers[0]
    seen: set[Any] = set()
    held = [sum(tensor_bytes(optimizer.state[p], seen) for p in g["params"]) for g in optimizer.param_groups]
    rows = {line.split()[0]: line.split()[3] for line in text.splitlines()[2:4]}
    assert rows == {"embed": str(held[0]), "rest": str(held[1])}
    assert held[0] == 2 * 4096 * 4  # two float32 states


@pytest.mark.filterwarnings(
    "ignore:`LRMonitor` is used with a `Trainer` that has no logger"
)  # expected: no logger here
def test_lr_monitor_and_preview_agree() -> None:
    module = declared(OptimizerSpec("bnb/lion8bit", lr=LR, scheduler=STEP), base=Wide)
    monitor = LRMonitor(logging_interval="step")
    fit(module(), max_epochs=2, callbacks=[monitor], log_every_n_steps=1)
    preview = preview_schedule(module, max_epochs=2, steps_per_epoch=len(loader()))
    assert preview == {"lr-optimizer": monitor.lrs["lr-optimizer"]}


def test_yaml_config_round_trip() -> None:
    spec = OptimizerSpec("bnb/paged_adamw8bit", lr=LR, groups=[ParamGroup("embed", optim_bits=32)])
    data = yaml.safe_load(yaml.safe_dump(spec_to_dict(spec)))
    assert data["class_path"] == "bitsandbytes.optim.adamw.PagedAdamW8bit"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # paged optimizers fall back to plain ones on CPU
        module = declared(spec_from_dict(data), base=Wide)()
        fit(module, max_steps=1)
    assert type(module.trainer.optimizers[0]) is bnb.optim.PagedAdamW8bit
    assert state_dtypes(module.trainer, module)["embed.weight"] == torch.float32


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["adamw8bit", "paged_adamw8bit"])
def test_trains_on_cuda_like_bitsandbytes_by_hand(name: str) -> None:
    cls = resolve_class(f"bnb/{name}", "optimizer", where="M")

    class Reference(Wide):
        def configure_optimizers(self) -> Any:
            return cls(self.parameters(), lr=LR)

    reference = Reference()
    fit(reference, max_epochs=2, accelerator="gpu")
    module = declared(
        OptimizerSpec(f"bnb/{name}", lr=LR, groups=[ParamGroup("embed", optim_bits=32)]), base=Wide
    )()
    fit(module, max_epochs=2, accelerator="gpu")
    dtypes = state_dtypes(module.trainer, module)
    assert (dtypes["embed.weight"], dtypes["hidden.weight"]) == (torch.float32, torch.uint8)
    plain = declared(OptimizerSpec(f"bnb/{name}", lr=LR), base=Wide)()
    fit(plain, max_epochs=2, accelerator="gpu")
    assert_same_weights(plain, reference)

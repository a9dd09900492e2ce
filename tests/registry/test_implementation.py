"""The optimizer implementation the mixin picks (``OptimizerSpec(implementation=...)``, default ``"auto"``).

``"auto"`` uses torch's fused kernel where it is fastest (Adam, AdamW, SGD, Adagrad on CPU; see
``benchmarks/bench_optimizer_step.py``) and safe, so weights differ from torch's default for-loop only by
float rounding; everything else (an explicit ``fused=``/``foreach=``, a gradient scaler, sparse gradients,
optimizers without a fused kernel) keeps torch's own choice. Timings live in ``benchmarks/``, not here.
Precision x clipping x optimization rows (what the Trainer rules out) are in ``test_implementation_matrix.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins import MixedPrecision
from torch.optim import SGD, Adagrad, Adam, AdamW, RMSprop

from lightning_optim import HParam, OptimizerSpec, ParamGroup
from lightning_optim.registry.optimizers import OPTIMIZER_INFO, optimizer_info
from tests.helpers import (
    FAST,
    Classifier,
    SparseEmbedding,
    as_written_by,
    assert_same_weights,
    compiled_holds_sgd_lr_and_adam_betas,
    declared,
    fit,
    fit_resumed,
    loader,
    weights,
)

SHORT = {"max_epochs": 2}  # 4 batches per epoch: 8 optimizer steps


def handwritten(cls: type, **kwargs: Any) -> type[L.LightningModule]:
    def configure_optimizers(self: Any) -> Any:
        return cls(self.parameters(), **kwargs)

    return type("HandWritten", (Classifier,), {"configure_optimizers": configure_optimizers})


def implementation_of(module: L.LightningModule) -> tuple[Any, Any]:
    defaults = module.trainer.optimizers[0].defaults
    return defaults.get("fused"), defaults.get("foreach")


CASES = {
    "Adam": (Adam, {"lr": 0.01}),
    "AdamW": (AdamW, {"lr": 0.01, "weight_decay": 0.1}),
    "SGD": (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    "Adagrad": (Adagrad, {"lr": 0.1}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_auto_picks_fused_and_trains_like_torch_default(case: str, caplog: pytest.LogCaptureFixture) -> None:
    cls, kwargs = CASES[case]
    ours, theirs = declared(OptimizerSpec(cls, **kwargs))(), handwritten(cls, **kwargs)()
    initial = weights(theirs)
    with caplog.at_level(logging.INFO, logger="lightning_optim"):
        assert fit(ours, **SHORT).history == fit(theirs, **SHORT).history
    assert implementation_of(ours) == (True, None)
    assert implementation_of(theirs) == (None, None)  # torch's default: the for-loop on CPU
    lines = [r.getMessage() for r in caplog.records if r.name == "lightning_optim"]
    assert lines == [
        f"Declared.optimizer: `{cls.__name__}` uses the fused implementation "
        "(auto: fused kernel is fastest on `cpu`)."
    ]
    got, expected = weights(ours), weights(theirs)
    for name in expected:
        assert not torch.equal(expected[name], initial[name]), name  # it trained
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        ({"fused": False}, (False, None)),
        ({"foreach": True}, (None, True)),
        ({"foreach": False}, (None, False)),
        ({"implementation": "forloop"}, (None, False)),
        ({"implementation": "foreach"}, (None, True)),
        ({"implementation": "fused"}, (True, None)),
    ],
    ids=lambda v: repr(v).replace(" ", ""),
)
def test_declared_implementation_wins(declaration: dict[str, Any], expected: tuple[Any, Any]) -> None:
    ours = declared(OptimizerSpec(Adam, lr=0.01, **declaration))()
    fit(ours, max_epochs=1, limit_train_batches=1)
    assert implementation_of(ours) == expected


def test_forloop_is_bitwise_torch_default() -> None:
    ours = declared(OptimizerSpec(AdamW, lr=0.01, implementation="forloop"))()
    theirs = handwritten(AdamW, lr=0.01)()
    fit(ours, **SHORT), fit(theirs, **SHORT)
    got, expected = weights(ours), weights(theirs)
    assert all(torch.equal(got[name], expected[name]) for name in expected)


class ForwardingAdamW(AdamW):
    """A user's AdamW with an option of its own, handing the rest of its ``**kwargs`` on to ``AdamW``."""

    def __init__(self, params: Any, lr: float = 1e-3, extra: float = 0.5, **kwargs: Any) -> None:
        self.extra = extra
        super().__init__(params, lr=lr, **kwargs)


class KeepingAdamW(AdamW):
    """A user's AdamW that keeps its ``**kwargs`` to itself: ``AdamW`` never sees ``foreach``/``fused``."""

    def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
        self.options = kwargs
        super().__init__(params, lr=lr)


@pytest.mark.parametrize(
    ("implementation", "arguments"),
    [("forloop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True})],
)
def test_a_subclass_handing_its_kwargs_to_a_torch_optimizer_takes_the_implementation(
    implementation: str, arguments: dict[str, bool]
) -> None:
    """``implementation="forloop"`` (what the README tells a port to declare) was refused for a subclass of
    ``AdamW`` handing its ``**kwargs`` on ("it has no `foreach` option"), though ``foreach=False`` was accepted
    and applied: it now trains bit for bit as the hand-written module passing the argument."""
    ours = declared(OptimizerSpec(ForwardingAdamW, lr=0.01, implementation=implementation))()
    theirs = handwritten(ForwardingAdamW, lr=0.01, **arguments)()
    fit(ours, **SHORT), fit(theirs, **SHORT)
    assert implementation_of(ours) == implementation_of(theirs)
    assert_same_weights(ours, theirs)


def test_a_subclass_keeping_its_kwargs_from_the_torch_optimizer_is_refused_the_implementation() -> None:
    """Its constructor takes ``**kwargs`` but does not pass them on: the trial build shows ``AdamW`` never got
    ``foreach=False``, so ``"forloop"`` would silently run torch's default."""
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected `KeepingAdamW` to hand `foreach=False` on to `AdamW` for "
        r"`implementation='forloop'` but got an optimizer holding `foreach=None`: its constructor takes "
        r"`\*\*kwargs` but does not pass `foreach` on to `AdamW.__init__`\. Pass its `\*\*kwargs` on there, or "
        r"leave `implementation` at 'auto'\.$",
    ):
        declared(OptimizerSpec(KeepingAdamW, lr=0.01, implementation="forloop"))


class KeepingAdamWWithoutDefaultLr(KeepingAdamW):
    """``KeepingAdamW`` whose ``lr`` is required: declared as an ``HParam``, no trial optimizer is built."""

    def __init__(self, params: Any, lr: float, **kwargs: Any) -> None:
        super().__init__(params, lr=lr, **kwargs)


def test_a_subclass_keeping_its_kwargs_and_waiting_for_an_hparam_is_refused_at_fit() -> None:
    """A required argument waiting for its ``HParam`` leaves nothing built at class definition: the declaration
    resolved again with the value when ``fit`` starts builds its trial optimizer then, and is refused there."""

    class FromHparams(Classifier):
        def __init__(self) -> None:
            super().__init__()
            self.lr = 0.01

    module = declared(
        OptimizerSpec(KeepingAdamWWithoutDefaultLr, lr=HParam("lr"), implementation="forloop"),
        base=FromHparams,
    )()
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: `lr` from hparam `lr` = 0\.01: Expected `KeepingAdamWWithoutDefaultLr` to hand ",
    ):
        fit(module, max_epochs=1)


def test_group_option_counts_as_declared(caplog: pytest.LogCaptureFixture) -> None:
    ours = declared(OptimizerSpec(Adam, lr=0.01, groups=[ParamGroup("model_gen.layer1", foreach=False)]))()
    with caplog.at_level(logging.INFO, logger="lightning_optim"):
        fit(ours, max_epochs=1, limit_train_batches=1)
    assert implementation_of(ours) == (None, None)
    assert "uses the forloop implementation (declared `foreach=`)" in caplog.text


def test_optimizer_without_fused_kernel_keeps_torch_default(caplog: pytest.LogCaptureFixture) -> None:
    ours = declared(OptimizerSpec(RMSprop, lr=0.01))()
    with caplog.at_level(logging.INFO, logger="lightning_optim"):
        fit(ours, max_epochs=1, limit_train_batches=1)
    assert implementation_of(ours) == (None, None)
    assert (
        "`RMSprop` uses the forloop implementation (auto: torch's default, `RMSprop` has no fused"
        in caplog.text
    )


def _amp_trainer(**kwargs: Any) -> L.Trainer:
    return L.Trainer(
        **FAST, max_epochs=1, limit_train_batches=2, plugins=[MixedPrecision("16-mixed", "cpu")], **kwargs
    )


def test_fp16_gradient_scaler_keeps_torch_default(caplog: pytest.LogCaptureFixture) -> None:
    # Lightning refuses clipping with a fused optimizer under mixed precision (it unscales inside `step`):
    # a declared fused kernel is our error at fit (tests/registry/test_implementation_matrix.py) ...
    explicit = declared(OptimizerSpec(Adam, lr=0.01, fused=True))()
    with pytest.raises(ValueError, match=r"Declared\.optimizer: Expected no fused kernel with .*'16-mixed'"):
        _amp_trainer(gradient_clip_val=1.0).fit(explicit, loader())
    # ... and "auto" does not pick it there
    ours = declared(OptimizerSpec(Adam, lr=0.01))()
    with caplog.at_level(logging.INFO, logger="lightning_optim"):
        _amp_trainer(gradient_clip_val=1.0).fit(ours, loader())
    assert implementation_of(ours) == (None, None)
    assert (
        "auto: torch's default, 16-mixed precision with gradient clipping by norm: fused kernels"
        in caplog.text
    )
    # without clipping, the gradient scaler alone rules it out: hooks before the step would see scaled
    # gradients, since Lightning skips `scaler.unscale_` for an optimizer that unscales in `step`
    caplog.clear()
    unclipped = declared(OptimizerSpec(Adam, lr=0.01))()
    with caplog.at_level(logging.INFO, logger="lightning_optim"):
        _amp_trainer().fit(unclipped, loader())
    assert implementation_of(unclipped) == (None, None)
    assert "auto: torch's default, fp16 mixed precision uses a gradient scaler" in caplog.text


@pytest.mark.parametrize("declaration", [{"fused": True}, {"implementation": "fused"}])
def test_sparse_gradients_keep_torch_default(declaration: dict[str, Any]) -> None:
    # a declared fused kernel for a module with `sparse=True` is refused when fit starts (torch raised from
    # inside the first step); gradients that turn out sparse otherwise: tests/registry/test_fused_steps.py
    explicit = declared(OptimizerSpec(SGD, lr=0.1, **declaration), base=SparseEmbedding)()
    declared_as = "fused=True" if "fused" in declaration else "implementation='fused'"
    with pytest.raises(
        ValueError,
        match=rf"^Declared\.optimizer: Expected parameters with dense gradients for `{declared_as}` but got "
        r"`embedding\.weight` of a module with `sparse=True`: torch's fused `SGD` does not take sparse "
        r"gradients\. Use `implementation='auto'` \(torch's default for sparse gradients\) or 'foreach'\.$",
    ):
        fit(explicit, max_epochs=1, limit_train_batches=1)
    ours = declared(OptimizerSpec(SGD, lr=0.1), base=SparseEmbedding)()
    fit(ours, max_epochs=1, limit_train_batches=2)
    assert implementation_of(ours) == (None, None)


@pytest.mark.parametrize(("name", "cls"), [("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop")])
def test_an_optimizer_refusing_sparse_gradients_is_refused_for_a_sparse_module_when_fit_starts(
    name: str, cls: str
) -> None:
    # torch raised "Adam does not support sparse gradients" (for AdamW too) from inside the first step
    module = declared(OptimizerSpec(name, lr=0.01), base=SparseEmbedding)()
    with pytest.raises(
        ValueError,
        match=rf"^Declared\.optimizer: Expected parameters with dense gradients for `{cls}` but got "
        rf"`embedding\.weight` of a module with `sparse=True`: torch's `{cls}` does not take sparse gradients\. "
        r"Give them an optimizer of their own that does \(`OptimizerSpec\('sparseadam', params=\.\.\.\)` beside "
        r"this one on the other parameters, or 'sgd', 'adagrad'\), or build the module with `sparse=False`\.$",
    ):
        fit(module, max_epochs=1, limit_train_batches=1)
    assert module.trainer.global_step == 0


@pytest.mark.parametrize(
    ("name", "cls", "error"),
    [
        ("sgd", "SGD", "add(sparse, dense) is not supported"),
        ("adagrad", "Adagrad", "weight_decay option is not compatible with sparse gradients"),
    ],
)
def test_weight_decay_on_a_sparse_module_is_refused_when_fit_starts(name: str, cls: str, error: str) -> None:
    # torch raised `error` from inside the first step; a group with weight_decay=0 for the sparse ones trains
    module = declared(OptimizerSpec(name, lr=0.01, weight_decay=0.01), base=SparseEmbedding)()
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected `weight_decay=0` for the parameters of a module with `sparse=True` "
        rf"but got `embedding\.weight` \(`weight_decay=0\.01`\): torch's `{cls}` adds the decay to their sparse "
        r"gradients, which it cannot\.",
    ):
        fit(module, max_epochs=1, limit_train_batches=1)
    assert module.trainer.global_step == 0
    kept = OptimizerSpec(name, lr=0.01, weight_decay=0.01, groups=[ParamGroup("embedding", weight_decay=0.0)])
    fit(declared(kept, base=SparseEmbedding)(), max_epochs=1, limit_train_batches=2)


class HandWrittenSparseGroups(SparseEmbedding):
    def configure_optimizers(self) -> Any:
        groups = [
            {"params": self.embedding.parameters(), "weight_decay": 0.0},
            {"params": self.model_gen.parameters()},
        ]
        return SGD(groups, lr=0.1, weight_decay=0.01)


def test_a_sparse_module_decayed_by_a_decay_mult_is_checked_at_the_decay_its_group_gets() -> None:
    # decay_mult=0.0 gives the embedding's group weight_decay=0, which torch's SGD trains: it was refused,
    # quoting the optimizer's 0.01, because the check read the groups before their scales were applied
    spec = OptimizerSpec("sgd", lr=0.1, weight_decay=0.01, groups=[ParamGroup("embedding", decay_mult=0.0)])
    ours, theirs = declared(spec, base=SparseEmbedding)(), HandWrittenSparseGroups()
    fit(ours, max_epochs=1, limit_train_batches=2), fit(theirs, max_epochs=1, limit_train_batches=2)
    assert [g["weight_decay"] for g in ours.trainer.optimizers[0].param_groups] == [0.0, 0.01]
    assert_same_weights(ours, theirs)
    halved = OptimizerSpec("sgd", lr=0.1, weight_decay=0.01, groups=[ParamGroup("embedding", decay_mult=0.5)])
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected `weight_decay=0` for the parameters of a module with `sparse=True` "
        r"but got `embedding\.weight` \(`weight_decay=0\.005`\): torch's `SGD` adds the decay",
    ):
        fit(declared(halved, base=SparseEmbedding)(), max_epochs=1, limit_train_batches=1)


class TiedSparseEmbedding(L.LightningModule):
    """A sparse embedding whose weight a dense head shares (tied input and output embeddings): torch sums the two
    gradients into a dense one."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = torch.nn.Embedding(10, 8, sparse=True)
        self.head = torch.nn.Linear(8, 10, bias=False)
        self.head.weight = self.embedding.weight

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        tokens = (x.abs() * 10).long().clamp(max=9)
        return torch.nn.functional.cross_entropy(self.head(self.embedding(tokens).mean(1)), y)


def test_a_sparse_module_weight_tied_to_a_dense_one_gets_dense_gradients() -> None:
    # it was refused as sparse ("Give them an optimizer of their own that does (`OptimizerSpec('sparseadam', ...")
    # and SparseAdam then refused its dense gradient ("or use another optimizer (e.g. `adam`)")
    ours = declared(OptimizerSpec("adam", lr=0.01), base=TiedSparseEmbedding)()
    theirs = type(
        "HandWritten",
        (TiedSparseEmbedding,),
        {"configure_optimizers": lambda self: Adam(self.parameters(), lr=0.01, fused=True)},
    )()
    initial = weights(theirs)
    fit(ours, max_epochs=1, limit_train_batches=2), fit(theirs, max_epochs=1, limit_train_batches=2)
    assert implementation_of(ours) == (True, None)
    assert not torch.equal(weights(theirs)["embedding.weight"], initial["embedding.weight"])
    assert_same_weights(ours, theirs)
    sparse_adam = declared(OptimizerSpec("sparseadam", lr=0.01), base=TiedSparseEmbedding)()
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected sparse gradients for `SparseAdam` but parameter `embedding\.weight` got "
        r"a dense one: it is `embedding\.weight` of a module with `sparse=True` and `head\.weight` of one without, and "
        r"torch sums their gradients into a dense one\. Give it an optimizer that takes dense gradients \(e\.g\. "
        r"`adam`\), or untie them\.$",
    ):
        fit(sparse_adam, max_epochs=1, limit_train_batches=1)


TORCH_OPTIMIZERS = sorted(
    (cls for cls in OPTIMIZER_INFO if cls.__module__.startswith("torch.optim.")), key=lambda c: c.__name__
)


@pytest.mark.parametrize("cls", TORCH_OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_the_record_says_whether_the_step_takes_sparse_gradients(cls: type) -> None:
    embedding = torch.nn.Embedding(4, 2, sparse=True)
    optimizer = cls(embedding.parameters())

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = embedding(torch.tensor([1, 2])).sum()
        loss.backward()
        return loss

    try:
        optimizer.step(closure)
    except RuntimeError as error:
        assert "sparse" in str(error)
        stepped = False
    else:
        stepped = True
    assert optimizer_info(cls).sparse_gradients is stepped


@pytest.mark.parametrize(
    ("optimizer", "declaration", "match"),
    [
        (Adam, {"implementation": "fuzed"}, r"but got 'fuzed' \(did you mean `fused`\?\)\."),
        (Adam, {"implementation": None}, r"Expected `implementation` to be one of `auto`, .* but got None\."),
        (
            Adam,
            {"implementation": "fused", "foreach": False},
            r"Expected either `implementation` or `foreach=`",
        ),
        pytest.param(
            RMSprop,
            {"implementation": "fused"},
            r"Expected `implementation` to be one of `auto`, `foreach`, `forloop`, `compiled` for `RMSprop` "
            r"\(it has no `fused` option\) but got 'fused'\.",
            marks=compiled_holds_sgd_lr_and_adam_betas,  # torch 2.4: RMSprop's lr is no tensor, so no `compiled`
        ),
        # a differentiable optimizer cannot step a module's leaf parameters at all
        (
            Adam,
            {"implementation": "fused", "differentiable": True},
            r"Expected `differentiable` to be False but got True",
        ),
    ],
    ids=["misspelt", "none", "both", "no-kernel", "differentiable"],
)
def test_bad_implementation_is_reported_at_class_definition(
    optimizer: type, declaration: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=r"Declared\.optimizer: .*" + match):
        declared(OptimizerSpec(optimizer, **declaration))


def test_repr_shows_declared_implementation() -> None:
    assert (
        repr(OptimizerSpec("adam", lr=0.1, implementation="foreach"))
        == "OptimizerSpec('adam', lr=0.1, implementation='foreach')"
    )
    assert repr(OptimizerSpec("adam", lr=0.1)) == "OptimizerSpec('adam', lr=0.1)"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", ["Adam", "AdamW", "SGD"])
def test_auto_choice_makes_no_host_device_sync(case: str) -> None:
    cls, kwargs = CASES[case]
    module = declared(OptimizerSpec(cls, **kwargs))().cuda()
    for p in module.parameters():
        p.grad = torch.randn_like(p)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        optimizer = module.configure_optimizers()[
            "optimizer"
        ]  # the choice: device/dtype checks, no tensor reads
        optimizer.step()
        optimizer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert optimizer.defaults["fused"] is True


def test_resume_keeps_the_fused_implementation_and_matches_an_uninterrupted_run(tmp_path: Any) -> None:
    spec = OptimizerSpec(AdamW, lr=0.01)
    uninterrupted = declared(spec)()
    fit(uninterrupted, max_epochs=2)
    first = declared(spec)()
    fit(first, max_epochs=1, enable_checkpointing=True, default_root_dir=tmp_path)
    (checkpoint,) = tmp_path.glob("**/*.ckpt")
    resumed = declared(spec)()
    fit_resumed(resumed, checkpoint, max_epochs=2)
    assert implementation_of(resumed) == (True, None)
    assert resumed.trainer.optimizers[0].param_groups[0]["fused"] is True
    got, expected = weights(resumed), weights(uninterrupted)
    assert all(torch.equal(got[name], expected[name]) for name in expected)


@pytest.mark.parametrize(
    ("device", "declared_options", "group_momenta", "expected"),
    [
        ("cuda", {"lr": 0.1}, [None], "foreach"),  # plain SGD: foreach measured faster on CUDA
        ("cuda", {"lr": 0.1, "momentum": 0.0}, [None, None], "foreach"),
        ("cuda", {"lr": 0.1, "momentum": 0.9}, [None], None),  # with momentum fused stays the choice
        ("cuda", {"lr": 0.1}, [None, 0.9], None),  # one group with momentum: fused for the optimizer
        ("cpu", {"lr": 0.1}, [None], None),  # on CPU fused is fastest for plain SGD too
    ],
)
def test_plain_sgd_on_cuda_prefers_foreach(
    device: str, declared_options: dict[str, Any], group_momenta: list[Any], expected: str | None
) -> None:
    # the decision for a device type, checked here without one: the record's rule on the groups' options
    from lightning_optim.registry.implementation import group_options

    groups = [{"params": []} if m is None else {"params": [], "momentum": m} for m in group_momenta]
    rule = optimizer_info(SGD).auto_rule(device, group_options(SGD, declared_options, groups))
    assert (rule.implementation if rule else None) == expected


def test_plain_sgd_on_cpu_still_picks_fused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lightning_optim"):
        module = declared(OptimizerSpec(SGD, lr=0.1))()
        fit(module, **SHORT)
    assert implementation_of(module) == (True, None)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("momentum", "expected"), [(0.0, (None, None)), (0.9, (True, None))])
def test_cuda_plain_sgd_gets_foreach(momentum: float, expected: tuple[Any, Any]) -> None:
    # torch's default on CUDA is foreach: `"auto"` leaves it for plain SGD, and picks fused with momentum
    module = declared(OptimizerSpec(SGD, lr=0.1, momentum=momentum))().cuda()
    optimizer = module.configure_optimizers()["optimizer"]
    defaults = optimizer.defaults
    assert (defaults.get("fused"), defaults.get("foreach")) == expected


@pytest.mark.parametrize("precision", ["bf16-true", "16-true"])
@pytest.mark.parametrize("declaration", [{"implementation": "fused"}, {"fused": True}])
def test_declared_fused_kernel_that_leaves_the_weights_unchanged_is_refused_at_fit(
    precision: str, declaration: dict[str, Any]
) -> None:
    # torch 2.13's fused CPU SGD leaves bf16/fp16 parameters unchanged (all but their last numel % 32
    # elements): "auto" checks that once per dtype and avoids it, and a declared fused kernel is refused
    module = declared(OptimizerSpec(SGD, lr=0.1, momentum=0.9, **declaration))()
    declared_as = "fused=True" if "fused" in declaration else "implementation='fused'"
    dtype = "bfloat16" if precision == "bf16-true" else "float16"
    with pytest.raises(
        ValueError,
        match=rf"^Declared\.optimizer: Expected a fused kernel that updates the parameters for `{declared_as}` "
        rf"but torch's fused `SGD` on `cpu` leaves `{dtype}` parameters unchanged \(a one-step check\), so "
        r"the model would not train\. Use `implementation='auto'` \(torch's default here\) or 'foreach', or "
        r"another precision\.$",
    ):
        fit(module, max_epochs=1, limit_train_batches=1, precision=precision)


class ComplexPhase(Classifier):
    """A classifier with a complex parameter (a learned phase), which torch's fused kernels do not take."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = torch.nn.Parameter(torch.randn(4, dtype=torch.cfloat))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = (self.model_gen(x).to(torch.cfloat) * self.phase).real
        return torch.nn.functional.cross_entropy(logits, y)


@pytest.mark.parametrize("cls", [Adam, AdamW, SGD, Adagrad], ids=lambda cls: cls.__name__)
def test_declared_fused_kernel_with_a_complex_parameter_is_refused_at_fit(cls: type) -> None:
    # torch raised "`fused=True` requires all the params to be floating point Tensors ..." from inside the first
    # step, in no frame of this package; "auto" keeps torch's default for them and trains as the hand-written one
    module = declared(OptimizerSpec(cls, lr=0.01, implementation="fused"), base=ComplexPhase)()
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected floating-point parameters for `implementation='fused'` but got "
        rf"`phase` \(`complex64`\): torch's fused `{cls.__name__}` takes floating-point tensors only\. Use "
        r"`implementation='auto'` \(torch's default for them\) or 'foreach'\.$",
    ):
        fit(module, max_epochs=1, limit_train_batches=1)
    assert module.trainer.global_step == 0
    ours = declared(OptimizerSpec(cls, lr=0.01), base=ComplexPhase)()
    theirs = type(
        "HandWritten", (ComplexPhase,), {"configure_optimizers": lambda self: cls(self.parameters(), lr=0.01)}
    )()
    fit(ours, max_epochs=1, limit_train_batches=2), fit(theirs, max_epochs=1, limit_train_batches=2)
    assert implementation_of(ours) == (None, None)
    assert_same_weights(ours, theirs)


def _flags(module: L.LightningModule) -> list[tuple[Any, Any]]:
    return [(g.get("fused"), g.get("foreach")) for g in module.trainer.optimizers[0].param_groups]


@pytest.mark.parametrize("built", ["auto", "fused", "foreach", "forloop", "compiled"])
@pytest.mark.parametrize("saved", ["auto", "fused", "foreach", "forloop", "compiled"])
def test_loading_a_state_keeps_the_built_implementation(built: str, saved: str) -> None:
    # torch's `load_state_dict` takes every group option from the state, `fused`/`foreach` included
    def optimizer(implementation: str) -> torch.optim.Optimizer:
        spec = OptimizerSpec(
            AdamW, lr=0.01, implementation=implementation, groups=[ParamGroup("model_gen.layer1")]
        )
        return declared(spec)().configure_optimizers()["optimizer"]

    source, target = optimizer(saved), optimizer(built)
    for group in source.param_groups:
        for p in group["params"]:
            p.grad = torch.ones_like(p)
    if saved != "compiled":  # its step would compile; the groups' options are what this is about
        source.step()
    expected = [(g["fused"], g["foreach"]) for g in target.param_groups]
    target.load_state_dict(source.state_dict())
    assert [(g["fused"], g["foreach"]) for g in target.param_groups] == expected
    assert len(target.state) == len(source.state)  # the state was loaded


def test_resume_runs_the_declared_implementation_not_the_checkpoints(tmp_path: Any) -> None:
    # a checkpoint of the default ("auto": fused on CPU) resumed with "forloop" declared, e.g. to compare a port
    # bit for bit: it steps as torch's for-loop AdamW resumed from that checkpoint
    first = declared(OptimizerSpec(AdamW, lr=0.01))()
    fit(first, max_epochs=1, enable_checkpointing=True, default_root_dir=tmp_path / "first")
    (checkpoint,) = (tmp_path / "first").glob("**/*.ckpt")
    resumed = declared(OptimizerSpec(AdamW, lr=0.01, implementation="forloop"))()
    fit_resumed(resumed, checkpoint, **SHORT)
    assert _flags(resumed) == [(None, False)]
    reference = handwritten(AdamW, lr=0.01, foreach=False)()
    fit_resumed(
        reference, as_written_by(checkpoint, tmp_path / "forloop.ckpt", fused=None, foreach=False), **SHORT
    )
    got, expected = weights(resumed), weights(reference)
    assert all(torch.equal(got[name], expected[name]) for name in expected)


def test_resume_under_bf16_true_trains_with_the_implementation_auto_picks_there(tmp_path: Any) -> None:
    # torch's fused CPU SGD leaves bf16 weights unchanged: "auto" avoids it under bf16-true, also when the
    # checkpoint (a float32 run's) was written by the fused kernel
    spec = OptimizerSpec(SGD, lr=0.1, momentum=0.9)
    first = declared(spec)()
    fit(first, max_epochs=1, enable_checkpointing=True, default_root_dir=tmp_path / "first")
    (checkpoint,) = (tmp_path / "first").glob("**/*.ckpt")
    assert (
        torch.load(checkpoint, weights_only=False)["optimizer_states"][0]["param_groups"][0]["fused"] is True
    )
    resumed = declared(spec)()
    before = {n: w.to(torch.bfloat16) for n, w in weights(first).items()}
    fit_resumed(resumed, checkpoint, precision="bf16-true", **SHORT)
    assert _flags(resumed) == [(None, None)]  # torch's default, the for-loop on CPU
    got = weights(resumed)
    assert all(not torch.equal(got[name], before[name]) for name in got)  # it trained
    reference = handwritten(SGD, lr=0.1, momentum=0.9)()
    path = as_written_by(checkpoint, tmp_path / "default.ckpt", fused=None, foreach=None)
    fit_resumed(reference, path, precision="bf16-true", **SHORT)
    expected = weights(reference)
    assert all(torch.equal(got[name], expected[name]) for name in expected)

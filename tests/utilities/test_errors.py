"""Near-miss suggestions: the candidate a user meant, as the declaration errors show it; the messages' voice."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from torch.optim import lr_scheduler

import lightning_optim
from lightning_optim import OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import adam_has_decoupled_weight_decay, declared, fit, torch_lrs


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # a swap of two neighbouring letters is one edit: `adam`, not `adamax` (difflib's pick)
        (
            "adma",
            "Expected a known optimizer name or a dotted import path but got 'adma' (did you mean `adam`?).",
        ),
        # the attribute that differs only in case, as Python's own AttributeError suggests
        ("torch.optim.adamw", "module `torch.optim` has no attribute `adamw` (did you mean `AdamW`?)"),
        ("torch.optim.SDG", "module `torch.optim` has no attribute `SDG` (did you mean `SGD`?)"),
    ],
)
def test_a_misspelt_optimizer_name_suggests_the_one_meant(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"Declared.optimizer: {message}")):
        declared(OptimizerSpec(name, lr=0.1))


def _texts(tree: ast.AST) -> list[str]:
    """Every string literal of ``tree`` (adjacent literals as one, an f-string's fields as ``{}``)."""
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return texts + [
        "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in n.values)
        for n in ast.walk(tree)
        if isinstance(n, ast.JoinedStr)
    ]


def test_no_message_glues_its_expected_sentence_after_a_semicolon() -> None:
    """The voice is `Where: Expected ... but got ...: why.`; was: "...after every optimizer step; Expected
    `frequency` to be 1 but got 2." and five more, a capital after a semicolon."""
    package = Path(lightning_optim.__file__).parent
    glued = [
        f"{path.relative_to(package)}: {text}"
        for path in sorted(package.rglob("*.py"))
        for text in _texts(ast.parse(path.read_text(encoding="utf-8")))
        if "; Expected" in text
    ]
    assert glued == []


#: Required arguments of the schedulers the option hints below are declared on.
_SCHEDULER_ARGUMENTS: dict[str, dict[str, Any]] = {
    "step": {"step_size": 2},
    "multistep": {"milestones": [2]},
    "cosine": {"T_max": 4},
    "exponential": {"gamma": 0.9},
    "onecycle": {"max_lr": 0.1, "total_steps": 8, "interval": "step"},
    "plateau": {"monitor": "train_loss"},
    "cyclic": {"base_lr": 0.01, "max_lr": 0.1, "interval": "step"},
    "linear": {},
    "cosine_restarts": {"T_0": 2},
}


def _with_option(where: str, key: str, value: Any) -> OptimizerSpec:
    """A declaration giving ``key=value`` to ``where``: a scheduler's name, ``"group"`` (a ParamGroup of SGD) or an
    optimizer's name."""
    if where == "group":
        return OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("model_gen.layer1", **{key: value})])
    if where in _SCHEDULER_ARGUMENTS:
        scheduler = SchedulerSpec(where, **_SCHEDULER_ARGUMENTS[where], **{key: value})
        return OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=scheduler)
    return OptimizerSpec(where, lr=0.01, **{key: value})


def _refusal(spec: OptimizerSpec) -> str:
    """What declaring ``spec`` is refused with, up to the list of what is accepted."""
    with pytest.raises((TypeError, ValueError)) as caught:
        declared(spec, name="Model")
    return str(caught.value).split(" Accepted")[0]


@pytest.mark.parametrize(
    ("where", "key", "meant"),
    [
        ("adam", "lrr", "lr"),
        ("adam", "lr_", "lr"),
        ("adam", "Lr", "lr"),
        ("adam", "betass", "betas"),
        ("adam", "beta", "betas"),
        ("adam", "beta1", "betas"),
        ("adam", "beta_2", "betas"),
        ("adam", "betas1", "betas"),
        ("adam", "epsilon", "eps"),
        ("adam", "esp", "eps"),
        ("adam", "eps_", "eps"),
        ("adam", "weight_deacy", "weight_decay"),
        ("adam", "weightdecay", "weight_decay"),
        ("adam", "weight_decays", "weight_decay"),
        ("adam", "wdecay", "weight_decay"),
        ("adam", "amsgrads", "amsgrad"),
        ("adam", "ams_grad", "amsgrad"),
        ("adam", "amsgard", "amsgrad"),
        ("adam", "maximise", "maximize"),
        ("adam", "for_each", "foreach"),
        ("adam", "capturable_", "capturable"),
        ("adam", "differentiable_", "differentiable"),
        ("adam", "no_decays", "no_decay"),
        pytest.param("adam", "decoupled_wd", "decoupled_weight_decay", marks=adam_has_decoupled_weight_decay),
        ("adam", "lr_decay", ""),
        ("adam", "decay", ""),
        ("adam", "momentum", "betas=(<momentum>, <beta2>)"),
        ("adam", "nesterov", ""),
        ("adam", "implementaton", "implementation"),
        ("adam", "layer_decy", "layer_decay"),
        ("adam", "layer_decay_rul", "layer_decay_rule"),
        ("adam", "layer_decay_block", "layer_decay_blocks"),
        ("adam", "layer_decay_min_scal", "layer_decay_min_scale"),
        ("adam", "skip_nonfinte", "skip_nonfinite"),
        ("adam", "skip_non_finite", "skip_nonfinite"),
        ("adam", "schedular", "scheduler"),
        ("adam", "group", "groups"),
        ("adam", "param", "params"),
        ("adam", "loss_fn", "loss"),
        ("adamw", "no_wd", "no_decay"),
        ("adamw", "no_weight_decay", "no_decay"),
        ("adamw", "weight_decay_rate", "weight_decay"),
        ("adamw", "epochs", ""),
        ("sgd", "momentun", "momentum"),
        ("sgd", "momemtum", "momentum"),
        ("sgd", "mometum", "momentum"),
        ("sgd", "nestrov", "nesterov"),
        ("sgd", "dampning", "dampening"),
        ("sgd", "dampenning", "dampening"),
        ("sgd", "betas", "momentum=<betas[0]>"),
        ("sgd", "interval", ""),
        ("rmsprop", "alfa", "alpha"),
        ("rmsprop", "alph", "alpha"),
        ("rmsprop", "centred", "centered"),
        ("asgd", "lamda", "lambd"),
        ("asgd", "t_0", "t0"),
        ("adagrad", "initial_accumulator", "initial_accumulator_value"),
        ("adagrad", "initial_accumulator_val", "initial_accumulator_value"),
        ("adadelta", "rhoo", "rho"),
        ("adadelta", "roh", "rho"),
        ("step", "gama", "gamma"),
        ("step", "step_sizes", "step_size"),
        ("step", "stepsize", "step_size"),
        ("step", "step", "step_size"),
        ("step", "steps", "step_size"),
        ("step", "size", "step_size"),
        ("step", "last_epcoh", "last_epoch"),
        ("step", "intervl", "interval"),
        ("step", "lnterval", "interval"),
        ("step", "frequncy", "frequency"),
        ("step", "warmpu", "warmup"),
        ("step", "warm_up", "warmup"),
        ("step", "monitr", "monitor"),
        ("multistep", "milestone", "milestones"),
        ("multistep", "mile_stones", "milestones"),
        ("cosine", "t_max", "T_max"),
        ("cosine", "tmax", "T_max"),
        ("cosine", "Tmax", "T_max"),
        ("cosine", "T_Max", "T_max"),
        ("cosine", "etamin", "eta_min"),
        ("cosine", "eta", "eta_min"),
        ("cosine", "min", "eta_min"),
        ("cosine", "eta_mim", "eta_min"),
        ("cosine", "warmup_steps", "warmup"),
        ("cosine", "warmup_epochs", "warmup"),
        ("cosine", "warmup_ratio", "warmup"),
        ("exponential", "gamme", "gamma"),
        ("onecycle", "max_lrs", "max_lr"),
        ("onecycle", "maxlr", "max_lr"),
        ("onecycle", "total_step", "total_steps"),
        ("onecycle", "pct_starts", "pct_start"),
        ("onecycle", "anneal_stratergy", "anneal_strategy"),
        ("onecycle", "three_phse", "three_phase"),
        ("onecycle", "div_factr", "div_factor"),
        ("onecycle", "final_div", "final_div_factor"),
        ("onecycle", "cycle_momentun", "cycle_momentum"),
        ("onecycle", "base_momentm", "base_momentum"),
        ("onecycle", "max_momentun", "max_momentum"),
        ("plateau", "patient", "patience"),
        ("plateau", "patiance", "patience"),
        ("plateau", "factr", "factor"),
        ("plateau", "threshhold", "threshold"),
        ("plateau", "cooldwon", "cooldown"),
        ("plateau", "min_lrs", "min_lr"),
        ("cyclic", "base_lrs", "base_lr"),
        ("cyclic", "step_size_upp", "step_size_up"),
        ("cyclic", "scale_func", "scale_fn"),
        ("cyclic", "scale_mod", "scale_mode"),
        ("linear", "start_factr", "start_factor"),
        ("linear", "end_factr", "end_factor"),
        ("linear", "total_iter", "total_iters"),
        ("cosine_restarts", "T0", "T_0"),
        ("cosine_restarts", "T_mul", "T_mult"),
        ("cosine_restarts", "t_mult", "T_mult"),
        ("group", "lrr", "lr"),
        ("group", "lr_multiplier", "lr_mult"),
        ("group", "wd_mult", "decay_mult"),
        ("group", "weight_decy", "weight_decay"),
        ("group", "weightdecay", "weight_decay"),
        ("group", "momentun", "momentum"),
        ("group", "nam", "name"),
        ("group", "decay_mul", "decay_mult"),
        ("group", "lr_mul", "lr_mult"),
    ],
)
def test_a_misspelt_option_is_told_the_option_it_misspells(where: str, key: str, meant: str) -> None:
    """The hints of realistic misspellings and abbreviations, as they were before other libraries' names were
    told the option they mean (``""``: no hint, no name spelled close is the option meant)."""
    hint = f" (did you mean `{meant}`?)" if meant else ""
    refused = rf"`{key}`( is not a per-group option of `SGD`)?{re.escape(hint)}\."
    assert re.search(rf"(got an unexpected argument |: ){refused}$", _refusal(_with_option(where, key, 0.5)))


@pytest.mark.parametrize(
    ("where", "key", "message"),
    [
        # was told `warmup`, which trains a second warmup before OneCycleLR's own
        (
            "onecycle",
            "warmup_pct",
            "`OneCycleLR` got an unexpected argument `warmup_pct` (did you mean `pct_start`?).",
        ),
        # mmseg's decay rate; was told `layer_decay_rule`, itself refused without a `layer_decay`
        (
            "adamw",
            "layer_decay_rate",
            "`AdamW` got an unexpected argument `layer_decay_rate` (did you mean `layer_decay`?).",
        ),
        # a factor of the optimizer's decay; was told `weight_decay`, which sets the group's decay to the factor
        (
            "group",
            "weight_decay_mult",
            "`weight_decay_mult` is not a per-group option of `SGD` (did you mean `decay_mult`?).",
        ),
        ("sgd", "weight_decay_mult", "`SGD` got an unexpected argument `weight_decay_mult`."),
        # was told `last_epoch`, where a schedule resumes (torch then asks for an `initial_lr`)
        ("step", "epochs", "`StepLR` got an unexpected argument `epochs`."),
    ],
)
def test_a_name_spelled_like_another_quantity_is_not_told_it(where: str, key: str, message: str) -> None:
    assert _refusal(_with_option(where, key, 0.3)).endswith(message)


@pytest.mark.parametrize(
    ("where", "key", "meant"),
    [
        ("cosine", "min_lr", "eta_min"),  # timm's and mmengine's name
        ("cosine_restarts", "min_lr", "eta_min"),
        ("cosine", "lr_min", "eta_min"),  # timm's CosineLRScheduler
        ("rmsprop", "rho", "alpha"),  # keras' RMSprop
        ("adam", "learning_rate", "lr"),  # keras' and transformers' name
        ("group", "learning_rate", "lr"),
        ("group", "lr_scale", "lr_mult"),  # timm's param groups
        ("adamw", "min_scale", "layer_decay_min_scale"),  # timm's param_groups_layer_decay
        ("sgd", "skip_nan", "skip_nonfinite"),
        ("sgd", "skip_nans", "skip_nonfinite"),
    ],
)
def test_another_librarys_name_for_an_option_is_told_the_option_it_means(
    where: str, key: str, meant: str
) -> None:
    """These were refused without a hint: no option is spelled like them."""
    refused = _refusal(_with_option(where, key, 0.1))
    assert refused.endswith(
        (f"argument `{key}` (did you mean `{meant}`?).", f"of `SGD` (did you mean `{meant}`?).")
    )


@pytest.mark.parametrize(("where", "key"), [("asgd", "rho"), ("plateau", "lr_min")])
def test_another_librarys_name_is_not_told_an_option_of_another_meaning(where: str, key: str) -> None:
    """ASGD's ``alpha`` is the power of its averaging, not keras' ``rho`` (RMSprop's ``alpha``); a scheduler
    without an ``eta_min`` is not told it."""
    assert _refusal(_with_option(where, key, 0.1)).endswith(f"got an unexpected argument `{key}`.")


def test_following_the_hint_for_warmup_pct_trains_as_torchs_onecycle() -> None:
    """``warmup_pct=0.3`` was told `warmup`: followed, it trained [0.0013, 0.0027, 0.004] and then the cycle from
    its peak, instead of the cycle of ``pct_start=0.3``."""
    scheduler = {"max_lr": 0.1, "interval": "step", "cycle_momentum": False}
    hint = re.search(r"did you mean `(\w+)`", _refusal(_with_option("onecycle", "warmup_pct", 0.3)))
    assert hint is not None
    spec = OptimizerSpec("sgd", scheduler=SchedulerSpec("onecycle", **scheduler, **{hint[1]: 0.3}))
    recorder = fit(declared(spec)(), max_epochs=2, limit_train_batches=4)
    torch_cycle = torch_lrs(
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=8, pct_start=0.3, cycle_momentum=False),
        8,
    )
    assert recorder.of() == pytest.approx(torch_cycle)


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("warmup_steps", "pct_start=<warmup_steps / total_steps>"),
        ("warmup_epochs", "pct_start=<warmup_epochs / epochs>"),
        ("warmup_iters", "pct_start=<warmup_iters / total_steps>"),  # mmengine's, detectron2's
        ("warmup_t", "pct_start=<warmup_t / total_steps>"),  # timm's
        ("warmup_ratio", "pct_start"),  # transformers': the fraction pct_start is
    ],
)
def test_a_count_of_onecycles_rising_phase_is_told_pct_start_as_a_fraction_of_the_cycle(
    key: str, meant: str
) -> None:
    # was told `warmup`, which trains a second warmup before OneCycleLR's own rising phase
    assert _refusal(_with_option("onecycle", key, 2)).endswith(
        f"`OneCycleLR` got an unexpected argument `{key}` (did you mean `{meant}`?)."
    )


def test_following_the_hint_for_warmup_steps_trains_as_torchs_onecycle() -> None:
    """``warmup_steps=2`` of an 8-step cycle was told `warmup`: followed, it trained 2 steps up to ``max_lr / 25``
    and then the whole cycle from there; told ``pct_start=<warmup_steps / total_steps>``, it trains torch's cycle
    rising for 2 steps."""
    scheduler = {"max_lr": 0.1, "interval": "step", "cycle_momentum": False}
    hint = re.search(
        r"did you mean `(\w+)=<warmup_steps / total_steps>`",
        _refusal(_with_option("onecycle", "warmup_steps", 2)),
    )
    assert hint is not None
    spec = OptimizerSpec("sgd", scheduler=SchedulerSpec("onecycle", **scheduler, **{hint[1]: 2 / 8}))
    recorder = fit(declared(spec)(), max_epochs=2, limit_train_batches=4)
    torch_cycle = torch_lrs(
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=8, pct_start=0.25, cycle_momentum=False),
        8,
    )
    assert recorder.of() == pytest.approx(torch_cycle)
    assert recorder.of().index(max(recorder.of())) == 1  # its rising phase: the 2 steps of warmup_steps=2


def test_following_the_hint_for_weight_decay_mult_scales_the_groups_decay() -> None:
    """``ParamGroup(weight_decay_mult=0.1)`` was told `weight_decay`: followed, the group trained at a decay of 0.1,
    twice the optimizer's 0.05, instead of a tenth of it."""
    hint = re.search(r"did you mean `(\w+)`", _refusal(_with_option("group", "weight_decay_mult", 0.1)))
    assert hint is not None
    group = ParamGroup("model_gen.layer1", **{hint[1]: 0.1})
    module = declared(OptimizerSpec("sgd", lr=0.1, weight_decay=0.05, groups=[group]))()
    fit(module, max_epochs=1, limit_train_batches=2)
    assert [g["weight_decay"] for g in module.trainer.optimizers[0].param_groups] == pytest.approx(
        [0.005, 0.05]
    )

"""Precision x gradient clipping x optimization x optimizer: the mixin trains wherever the hand-written module does.

Each cell fits two tiny modules with the same ``Trainer`` settings: a ``ConfigurableOptimizersMixin``
module declaring ``OptimizerSpec(cls, **kwargs)`` (``implementation="auto"``, the default), and its
hand-written twin whose ``configure_optimizers`` returns ``cls(self.parameters(), **kwargs)`` (torch's
default implementation). Axes:

* precision: ``16-mixed`` and ``bf16-mixed`` by default (``--precision`` adds ``32-true`` etc.);
* clipping: none, ``"norm"`` or ``"value"`` (``gradient_clip_val=0.5``);
* optimization: automatic (the Trainer's ``gradient_clip_val``/``gradient_clip_algorithm``) or manual
  (``training_step`` calls ``self.clip_gradients(opt, ...)`` between ``manual_backward`` and ``step``);
* optimizer: Adam, AdamW, SGD(momentum=0.9), Adagrad.

Verdicts: ``ok`` (both fit, the mixin's weights are finite and within 2% of the distance the twin's weights
moved in training from the twin's: the implementations may differ by float rounding); ``FAIL`` (the mixin raised, or its weights differ, where the twin trained);
``n/a`` (the twin itself fails: Lightning does not support that cell). Lightning's ``MixedPrecision``
plugin refuses gradient clipping for an optimizer that "handles unscaling" (any fused one) under *both*
``16-mixed`` and ``bf16-mixed``, so an ``"auto"`` that picks fused wherever the precision has no gradient
scaler fails the clipped ``bf16-mixed`` cells: these are expected to pass once ``implementation="auto"``
respects the Trainer (its precision plugin and clipping settings).

On CUDA the Trainer gets ``precision=...`` as a user writes it; on CPU (``--device cpu``, to test the
script, or to see the CPU rows) a ``MixedPrecision`` plugin, since Lightning refuses ``precision="16-mixed"``
on CPU.

Run: ``PYTHONPATH=. python benchmarks/gpu_precision_matrix.py [--device cuda|cpu] [--precision ...]
[--json out.json]``. Exit status 1 if any cell fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins import MixedPrecision
from torch import nn
from torch.nn import functional as F
from torch.optim import SGD, Adagrad, Adam, AdamW
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec

CLIP_VALUE = 0.5
#: how far the mixin's final weights may be from the twin's, as a fraction of how far the twin's moved
TOLERANCE = 0.02
OPTIMIZERS: dict[str, tuple[type, dict[str, Any]]] = {
    "Adam": (Adam, {"lr": 1e-2}),
    "AdamW": (AdamW, {"lr": 1e-2, "weight_decay": 0.01}),
    "SGD-momentum": (SGD, {"lr": 1e-2, "momentum": 0.9}),
    "Adagrad": (Adagrad, {"lr": 1e-2}),
}
CLIPS = ("none", "norm", "value")
OPTIMIZATIONS = ("automatic", "manual")


def loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, generator=generator)
    y = torch.randn(64, 4, generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=8)


class Net(L.LightningModule):
    """A two-layer MLP; in manual optimization ``training_step`` clips with ``self.clip_gradients``."""

    clip: str = "none"
    manual: bool = False

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
        if self.manual:
            self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        x, y = batch
        loss = F.mse_loss(self.body(x).float(), y)
        if self.automatic_optimization:
            return loss
        optimizer = self.optimizers()
        optimizer.zero_grad()  # type: ignore[union-attr]
        self.manual_backward(loss)
        if self.clip != "none":
            self.clip_gradients(
                optimizer,  # type: ignore[arg-type]
                gradient_clip_val=CLIP_VALUE,
                gradient_clip_algorithm=self.clip,
            )
        optimizer.step()  # type: ignore[union-attr]
        return None


def classes(optimizer: str, clip: str, manual: bool) -> tuple[type[Net], type[Net]]:
    """The hand-written twin and the mixin module of one cell."""
    cls, kwargs = OPTIMIZERS[optimizer]
    settings = {"clip": clip, "manual": manual}

    def configure_optimizers(self: Any) -> Any:
        return cls(self.parameters(), **kwargs)

    twin = type("HandWritten", (Net,), {**settings, "configure_optimizers": configure_optimizers})
    mixin = type(
        "Declared",
        (ConfigurableOptimizersMixin, Net),
        {**settings, "optimizer": OptimizerSpec(cls, **kwargs)},
    )
    return twin, mixin


def trainer(device: str, precision: str, clip: str, manual: bool) -> L.Trainer:
    kwargs: dict[str, Any] = {}
    if device == "cpu" and precision in ("16-mixed", "bf16-mixed"):
        kwargs["plugins"] = [MixedPrecision(precision, "cpu")]  # type: ignore[arg-type]
    else:
        kwargs["precision"] = precision
    if clip != "none" and not manual:
        kwargs.update(gradient_clip_val=CLIP_VALUE, gradient_clip_algorithm=clip)
    return L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def implementation_of(module: L.LightningModule) -> str:
    defaults = module.trainer.optimizers[0].defaults
    if defaults.get("fused"):
        return "fused"
    foreach = defaults.get("foreach")
    return "torch-default" if foreach is None else ("foreach" if foreach else "forloop")


def fit(
    cls: type[Net], device: str, precision: str, clip: str, manual: bool
) -> tuple[Net | None, str | None]:
    module = cls()
    try:
        trainer(device, precision, clip, manual).fit(module, loader())
    except Exception as error:  # the cell's verdict records it
        return None, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return module, None


def run_cell(device: str, precision: str, clip: str, optimization: str, optimizer: str) -> dict[str, Any]:
    manual = optimization == "manual"
    twin_cls, mixin_cls = classes(optimizer, clip, manual)
    twin, twin_error = fit(twin_cls, device, precision, clip, manual)
    mixin, mixin_error = fit(mixin_cls, device, precision, clip, manual)
    cell: dict[str, Any] = {
        "precision": precision,
        "clip": clip,
        "optimization": optimization,
        "optimizer": optimizer,
        "twin_error": twin_error,
        "mixin_error": mixin_error,
        "mixin_implementation": implementation_of(mixin) if mixin is not None else None,
        "twin_implementation": implementation_of(twin) if twin is not None else None,
    }
    if twin is None:
        cell["verdict"] = "n/a"
    elif mixin is None:
        cell["verdict"] = "FAIL"
    else:
        ours, theirs = mixin.state_dict(), twin.state_dict()
        initial = {k: v.to(theirs[k].device) for k, v in twin_cls().state_dict().items()}
        finite = all(torch.isfinite(t).all() for t in ours.values())
        difference = max(float((ours[k] - theirs[k]).abs().max()) for k in theirs)
        movement = max(float((theirs[k] - initial[k]).abs().max()) for k in theirs)
        cell["max_abs_diff"], cell["twin_movement"] = difference, movement
        # Close: within 2% of how far training moved the twin's weights. Fused and foreach/for-loop kernels
        # differ by float rounding, which reduced-precision forwards can amplify a little; a wrong lr or a
        # skipped step (1 of 16) would be several percent.
        close = difference <= max(1e-6, TOLERANCE * movement)
        cell["verdict"] = "ok" if finite and close and movement > 0 else "FAIL"
    return cell


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda if present, else skip")
    parser.add_argument("--precision", nargs="+", default=["16-mixed", "bf16-mixed"])
    parser.add_argument("--optimizer", nargs="+", choices=tuple(OPTIMIZERS), default=list(OPTIMIZERS))
    parser.add_argument("--json", type=Path, help="write every cell here")
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else None)
    if device is None:
        print("SKIPPED: no CUDA device (--device cpu runs the matrix on CPU)")
        return 0
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device available")
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning_optim"):
        logging.getLogger(name).setLevel(logging.ERROR)
    label = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"torch {torch.__version__}, lightning {L.__version__}, {label}; gradient_clip_val={CLIP_VALUE}")
    header = f"{'precision':<11} {'clip':<6} {'optimization':<12} {'optimizer':<13} {'mixin impl':<13} {'twin impl':<13} verdict"
    print(header)
    print("-" * len(header))
    cells = []
    for precision, clip, optimization, optimizer in itertools.product(
        args.precision, CLIPS, OPTIMIZATIONS, args.optimizer
    ):
        try:
            cell = run_cell(device, precision, clip, optimization, optimizer)
        except Exception:
            cell = {
                "precision": precision,
                "clip": clip,
                "optimization": optimization,
                "optimizer": optimizer,
                "verdict": "FAIL",
                "mixin_error": traceback.format_exc(),
            }
        cells.append(cell)
        detail = ""
        if cell["verdict"] == "FAIL":
            difference = cell.get("max_abs_diff", float("nan"))
            detail = f"  mixin: {cell.get('mixin_error') or f'weights differ by {difference:.2g}'}"
        elif cell["verdict"] == "n/a":
            detail = f"  twin: {cell['twin_error']}"
        print(
            f"{precision:<11} {clip:<6} {optimization:<12} {optimizer:<13} {cell.get('mixin_implementation') or '-':<13} "
            f"{cell.get('twin_implementation') or '-':<13} {cell['verdict']}{detail}",
            flush=True,
        )
    counts = {v: sum(c["verdict"] == v for c in cells) for v in ("ok", "FAIL", "n/a")}
    print(
        f"\n{counts['ok']} ok, {counts['FAIL']} FAIL, {counts['n/a']} n/a (Lightning refuses the hand-written twin)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": label, "cells": cells}, indent=2, default=str))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""``plot_schedule``: draw a previewed lr schedule as a PNG (matplotlib, from the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning_optim.tools.preview import Metric, Preview, param_suffix, preview
from lightning_optim.utilities.figures import figure_class, lr_axes, save_lr_figure

#: Above this many epochs, epoch boundaries are only shown on the top axis, not as lines.
MAX_EPOCH_LINES = 50


def draw(
    result: Preview,
    path: str | Path,
    *,
    log_scale: bool = False,
    title: str | None = None,
    params: Sequence[str] = ("lr",),
) -> Path:
    """Write ``result`` as a PNG: one line per key against the optimizer step, epochs on the top axis; with
    other ``params`` than the lr, one panel below for each (their scales differ from the lr's)."""
    figure, axes = lr_axes("`plot_schedule`")
    from matplotlib.ticker import MaxNLocator

    others = [p for p in params if p != "lr"]
    panels = {param: axes for param in params}
    if others:
        grid = figure.add_gridspec(len(params), 1)
        axes.set_subplotspec(grid[0])
        for row, param in enumerate(others, start=1):
            panels[param] = figure.add_subplot(grid[row], sharex=axes)
    per_epoch, entries = result.run.entries_per_epoch, result.run.entries
    for key, values in result.lrs.items():
        param = next((p for p in others if key.endswith(param_suffix(p))), "lr")
        panels[param].plot(range(len(values)), values, label=key, linewidth=1.5)
    for param in others:
        panels[param].set_ylabel(param)
        panels[param].grid(alpha=0.3)
        panels[param].legend(fontsize="small")
    epochs = -(-entries // per_epoch)
    if 1 < epochs <= MAX_EPOCH_LINES:
        for epoch in range(1, epochs):
            axes.axvline(epoch * per_epoch, color="0.6", linewidth=0.6, linestyle=":", zorder=0)
    top = axes.secondary_xaxis("top", functions=(lambda s: s / per_epoch, lambda e: e * per_epoch))
    top.set_xlabel("epoch")
    top.xaxis.set_major_locator(MaxNLocator(integer=True))
    return save_lr_figure(figure, axes, path, xlabel="optimizer step", log_scale=log_scale, title=title)


def plot_schedule(
    module_or_class: Any,
    path: str | Path,
    *,
    max_epochs: int,
    steps_per_epoch: int,
    accumulate_grad_batches: int = 1,
    max_steps: int = -1,
    devices: int = 1,
    metrics: Mapping[str, Metric] | None = None,
    log_scale: bool = False,
    title: str | None = None,
    params: Sequence[str] = ("lr",),
) -> Path:
    """Draw the lr schedule ``preview_schedule`` computes as a PNG, one line per param group.

    The x axis counts optimizer steps; epoch boundaries are marked by dotted lines (up to 50 epochs) and
    on the top axis.

    Args:
        module_or_class: a ``ConfigurableOptimizersMixin`` module, or its class (built with no arguments).
        path: where to write the PNG.
        max_epochs: see ``preview_schedule``.
        steps_per_epoch: see ``preview_schedule``.
        accumulate_grad_batches: see ``preview_schedule``.
        max_steps: see ``preview_schedule``.
        devices: see ``preview_schedule``.
        metrics: see ``preview_schedule``.
        log_scale: use a logarithmic lr axis.
        title: an optional title.
        params: see ``preview_schedule``; each option other than the lr gets a panel of its own.

    Returns:
        The path written.

    Raises:
        ModuleNotFoundError: If matplotlib is not installed (``pip install lightning-optim[plot]``).

    Example:
        >>> import tempfile, lightning as L
        >>> from pathlib import Path
        >>> from torch import nn
        >>> from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
        >>> class Model(ConfigurableOptimizersMixin, L.LightningModule):
        ...     optimizer = OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("cosine", interval="step"))
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Linear(2, 1)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = plot_schedule(Model, Path(folder) / "lr.png", max_epochs=3, steps_per_epoch=10)
        ...     path.read_bytes()[:8]
        b'\\x89PNG\\r\\n\\x1a\\n'
    """
    figure_class()
    result = preview(
        module_or_class,
        max_epochs=max_epochs,
        steps_per_epoch=steps_per_epoch,
        accumulate_grad_batches=accumulate_grad_batches,
        max_steps=max_steps,
        devices=devices,
        metrics=metrics,
        params=params,
    )
    return draw(result, path, log_scale=log_scale, title=title, params=params)

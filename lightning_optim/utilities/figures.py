"""Learning-rate figures (matplotlib, from the ``plot`` extra), shared by ``plot_schedule`` and ``LRMonitor.plot``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning_optim.utilities.errors import missing_extra


def figure_class(user: str = "`plot_schedule`") -> Any:
    """matplotlib's ``Figure``, imported on first use, or a clear error when the ``plot`` extra is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise missing_extra(user, "matplotlib", "plot") from error
    return Figure


def lr_axes(user: str) -> tuple[Any, Any]:
    """A new figure and its axes for learning-rate lines."""
    # ``Figure`` without pyplot: no global backend or figure registry is touched
    figure = figure_class(user)(figsize=(8, 4.5), layout="constrained")
    return figure, figure.add_subplot()


def save_lr_figure(
    figure: Any, axes: Any, path: str | Path, *, xlabel: str, log_scale: bool, title: str | None = None
) -> Path:
    """Label, scale and write the figure from ``lr_axes`` as a PNG."""
    if log_scale:
        axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("learning rate")
    axes.grid(alpha=0.3)
    if title:
        axes.set_title(title)
    axes.legend(fontsize="small")
    path = Path(path)
    # no timestamp or version in the file, and zlib at its best: the committed docs image stays small
    figure.savefig(path, format="png", dpi=100, metadata={"Software": None}, pil_kwargs={"optimize": True})
    return path

"""``python -m lightning_optim preview``: print (and plot) the lr schedule of a module class.

Every mistake a user can make on the command line (an import path that does not import, a class that is
not a mixin module, constructor arguments missing, a declaration that does not fit the module) ends with
a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning_optim.building.hparam_values import MissingHParamError
from lightning_optim.tools.describe import schedule_lines
from lightning_optim.tools.preview import Preview, preview, takes_argument
from lightning_optim.tools.table import format_table
from lightning_optim.utilities.errors import did_you_mean

USAGE_ERROR = 2


class UsageError(Exception):
    """A mistake on the command line, reported as one line and exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lightning_optim", description="Tools for lightning_optim declarations."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = commands.add_parser(
        "preview",
        help="print the lr schedule a module's declarations will produce, without training",
        description=(
            "Print the lr of every param group at the start, at each change of regime and at the end of a "
            "run, computed without data or training (a ReduceLROnPlateau stays constant: it has no metric)."
        ),
    )
    command.add_argument(
        "target", metavar="MODULE:CLASS", help="the module class, e.g. `my_package.models:Net`"
    )
    command.add_argument(
        "--max-epochs", type=int, required=True, help="Trainer(max_epochs=...); -1: no limit"
    )
    command.add_argument("--steps-per-epoch", type=int, required=True, help="training batches per epoch")
    command.add_argument("--accumulate-grad-batches", type=int, default=1, help="default: 1")
    command.add_argument(
        "--max-steps", type=int, default=-1, help="Trainer(max_steps=...); default -1: no limit"
    )
    command.add_argument(
        "--devices",
        type=int,
        default=1,
        help="processes the batches are split over by a DistributedSampler; default 1. Exact without "
        "drop_last=True: with it, give --steps-per-epoch as one process's batches and --devices 1",
    )
    command.add_argument(
        "--init-args", default=None, metavar="JSON", help="constructor arguments, e.g. '{\"k\": 1}'"
    )
    command.add_argument("--png", default=None, metavar="PATH", help="also draw the schedule into this PNG")
    command.add_argument("--log-scale", action="store_true", help="logarithmic lr axis in the PNG")
    command.add_argument("--max-rows", type=int, default=40, help="rows of the table at most; default 40")
    return parser


def load_class(target: str) -> type:
    """Import ``package.module:ClassName`` (or ``package.module.ClassName``)."""
    module_name, separator, attribute = target.partition(":")
    if not separator:
        module_name, _, attribute = target.rpartition(".")
    if not module_name or not attribute:
        raise UsageError(f"Expected MODULE:CLASS (e.g. `my_package.models:Net`) but got {target!r}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UsageError(f"cannot import `{module_name}` (from {target!r}): {err}") from err
    except Exception as err:  # a declaration error at class definition, or any error of the user's module
        raise UsageError(f"importing `{module_name}` failed: {type(err).__name__}: {err}") from err
    try:
        value = getattr(module, attribute)
    except AttributeError:
        classes = [name for name, value in vars(module).items() if isinstance(value, type)]
        raise UsageError(
            f"module `{module_name}` has no attribute `{attribute}` (from {target!r})"
            f"{did_you_mean(attribute, classes)}."
        ) from None
    if not isinstance(value, type):
        raise UsageError(f"Expected {target!r} to be a class but got {value!r}.")
    return value


def instantiate(cls: type, init_args: str | None) -> Any:
    """Build the module from ``--init-args`` JSON, turning failures into usage errors."""
    from lightning_optim.training.mixin import ConfigurableOptimizersMixin

    if not issubclass(cls, ConfigurableOptimizersMixin):
        raise UsageError(
            f"Expected a ConfigurableOptimizersMixin module class but `{cls.__module__}:{cls.__qualname__}` "
            "does not use the mixin."
        )
    kwargs: Any = {}
    if init_args is not None:
        try:
            kwargs = json.loads(init_args)
        except json.JSONDecodeError as err:
            raise UsageError(
                f"Expected --init-args to be a JSON object but got {init_args!r} ({err})."
            ) from err
        if not isinstance(kwargs, dict):
            raise UsageError(f"Expected --init-args to be a JSON object but got {init_args!r}.")
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise UsageError(
            f"`{cls.__qualname__}(**{kwargs!r})` failed: {err}. "
            "Pass its arguments as --init-args '{\"name\": value}'."
        ) from err
    except Exception as err:
        raise UsageError(f"`{cls.__qualname__}(**{kwargs!r})` failed: {type(err).__name__}: {err}") from err


def _summary(result: Preview) -> str:
    run = result.run
    kind = "batches (manual optimization)" if run.manual else "optimizer steps"
    return f"{run.entries} {kind}, {run.entries_per_epoch} per epoch"


def run_preview(args: argparse.Namespace) -> tuple[Any, Preview]:
    """The module built from the arguments and its preview."""
    cls = load_class(args.target)
    module = instantiate(cls, args.init_args)
    if args.png is not None:
        from lightning_optim.utilities.figures import figure_class

        try:
            figure_class()
        except ModuleNotFoundError as err:
            raise UsageError(str(err)) from err
    try:
        return module, preview(
            module,
            max_epochs=args.max_epochs,
            steps_per_epoch=args.steps_per_epoch,
            accumulate_grad_batches=args.accumulate_grad_batches,
            max_steps=args.max_steps,
            devices=args.devices,
            metrics=None,  # a plateau scheduler's lr stays constant: the command line has no metric
        )
    except MissingHParamError as err:
        name = err.occurrence.name
        if not takes_argument(cls, name):  # only a call `__init__` takes
            raise UsageError(str(err)) from err
        raise UsageError(f"{err} Or pass it to the module: --init-args '{{\"{name}\": ...}}'.") from err
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from err


def write_png(result: Preview, args: argparse.Namespace) -> Path:
    """Draw ``result`` into ``--png``, turning a file that cannot be written into a usage error."""
    from lightning_optim.tools.plot import draw

    try:
        return draw(result, args.png, log_scale=args.log_scale, title=args.target)
    except OSError as err:
        raise UsageError(f"cannot write {args.png!r}: {err}") from err


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.max_rows < 2:
            raise UsageError(f"Expected --max-rows to be at least 2 but got {args.max_rows}.")
        module, result = run_preview(args)
        print("\n".join(schedule_lines(module)))
        print(_summary(result))
        print(format_table(result, max_rows=args.max_rows))
        if args.png is not None:
            print(f"wrote {write_png(result, args)}")
    except UsageError as err:
        parser.exit(USAGE_ERROR, f"{parser.prog} preview: error: {err}\n")
    return 0

"""Resuming under a strategy that loads the optimizer states itself (``ModelParallelStrategy``).

Lightning restores the optimizer states (``optimizer.load_state_dict``) after the callbacks' ``on_load_checkpoint``,
where the resume guard may have rewritten them for a changed setup (``"fresh"``, ``"continue"``). A strategy whose
``lightning_restore_optimizer`` is ``False`` loads them itself, inside its ``load_checkpoint``, before that hook:
the rewrite would reach no optimizer, and the resumed run would silently keep the checkpoint's options and moments.
Under ``ModelParallelStrategy`` (torch's ``set_optimizer_state_dict``, by parameter name) the guard therefore takes
what the strategy loaded as the checkpoint's states (the form Lightning restores, by position), puts the optimizers
back to their states as built before rewriting them (``reset``, with the ``built_options`` taken when they were
built), and loads the rewritten states itself, as Lightning would. The other such strategies (``FSDPStrategy``,
``DeepSpeedStrategy``) hold the optimizer states in forms this package does not rewrite: under them a changed setup
is refused with ``"fresh"`` and ``"continue"`` too (``not_rewritable``).

A checkpoint without optimizer states (weights-only: ``ModelCheckpoint(save_weights_only=True)``) fails in the
strategy's load, which asks it for them (``KeyError: 'optimizer_states'`` from one file, torch's ``Missing key in
checkpoint state_dict: optimizer_0...`` from a distributed checkpoint), and Lightning calls no callback's
``on_load_checkpoint`` for a checkpoint without callback states, which a weights-only one is. So the guard wraps the
strategy's ``load_checkpoint`` while it may load (``compat.around_checkpoint_load``): a checkpoint that
``holds_optimizer_states`` says has none is loaded without the optimizers and checked there, as where Lightning
restores the states (refused under ``"error"``, resumed with fresh states under ``"fresh"`` and ``"continue"``).

torch's distributed checkpoint loads an optimizer's state by the keys of the live optimizer's ``state_dict`` and
fails on one the checkpoint lacks: the declared group ``name``, in a checkpoint a hand-written
``configure_optimizers`` wrote. While the strategy loads, the optimizers' ``state_dict`` leaves the names out
(``leave_names_out_while``); the load keeps the declared names (``registry/implementation.py:keep_implementation``).
Likewise a param group declared since the checkpoint was written: its options are not in the checkpoint, and while
the strategy loads, the optimizers' ``state_dict`` holds only as many groups as the checkpoint's state
(``saved_groups_only_while``, ``saved_param_groups``); the guard tells the changed setup after the load, with the
loaded groups in the checkpoint's order (``in_saved_order``). Groups the checkpoint holds beyond the live ones (added
during training, ``takeover.py``) are never asked for: the guard reads them from the checkpoint itself. A file a DDP
or single-device run wrote holds the states by position, which Lightning maps to the parameters in the order of
``module.parameters()``: it is refused as the strategy loads it where the optimizer holds them in another order
(``misplaced_parameters``, ``keyed_by_position``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer

from lightning_optim.building.build import Built
from lightning_optim.training.fingerprint import FINGERPRINT_VERSION, group_fingerprint
from lightning_optim.training.takeover import MATCHED_BY
from lightning_optim.utilities import compat


def loads_optimizers_itself(trainer: Trainer) -> bool:
    """Whether ``trainer``'s strategy loads the optimizer states itself, before the callbacks'
    ``on_load_checkpoint``, instead of Lightning after it."""
    return not trainer.strategy.lightning_restore_optimizer


def rewritable(trainer: Trainer) -> bool:
    """Whether the mixin can put rewritten states into the optimizers ``trainer``'s strategy loaded itself: plain
    torch optimizers over the module's (sharded) parameters, ``ModelParallelStrategy``'s."""
    return isinstance(trainer.strategy, compat.lightning_classes("strategies.ModelParallelStrategy"))


def holds_optimizer_states(path: Path, weights_only: bool | None) -> bool:
    """Whether the checkpoint at ``path`` holds optimizer states, read as ``ModelParallelStrategy`` loads it: a
    distributed checkpoint (a directory) by its entries ``optimizer_<index>``, one file by its ``optimizer_states``
    (loaded as the strategy loads it, memory-mapped). Anything else is the strategy's to refuse: taken to hold them."""
    if (path / ".metadata").is_file():
        from torch.distributed.checkpoint import FileSystemReader

        entries = FileSystemReader(path).read_metadata().state_dict_metadata
        return any(key.startswith("optimizer_") for key in entries)
    if not path.is_file():
        return True
    checkpoint = torch.load(path, mmap=True, map_location="cpu", weights_only=weights_only)
    return bool(checkpoint.get("optimizer_states"))


def built_options(built: Sequence[Built]) -> list[list[dict[str, Any]]]:
    """Each optimizer's groups' options as built (before any checkpoint is loaded into it), without their
    ``params``: all ``reset`` puts back, as it clears the per-parameter state."""
    return [
        [
            copy.deepcopy({k: v for k, v in group.items() if k != "params"})
            for group in b.optimizer.param_groups
        ]
        for b in built
    ]


def reset(optimizer: torch.optim.Optimizer, built_options: Sequence[Mapping[str, Any]]) -> None:
    """Put ``optimizer`` back to its state as built: no per-parameter state, and each declared group's options as
    built (``built_options``; a group added after the build keeps its own).

    Example:
        >>> weight = torch.nn.Parameter(torch.ones(1))
        >>> adam = torch.optim.Adam([weight], lr=0.1)
        >>> options = [{k: v for k, v in g.items() if k != "params"} for g in adam.param_groups]
        >>> weight.grad = torch.ones(1); adam.step(); adam.param_groups[0]["lr"] = 0.5
        >>> reset(adam, options)
        >>> dict(adam.state), adam.param_groups[0]["lr"], adam.param_groups[0]["params"][0] is weight
        ({}, 0.1, True)
    """
    optimizer.state.clear()
    for group, options in zip(optimizer.param_groups, built_options):
        params = group["params"]
        group.clear()
        group.update({**copy.deepcopy(options), "params": params})


def leave_names_out_while(optimizer: torch.optim.Optimizer, loading: Callable[[], bool]) -> None:
    """Leave the groups' ``name`` out of ``optimizer.state_dict()`` while ``loading()``: the keys torch's distributed
    checkpoint asks a checkpoint for, which one a hand-written module wrote does not hold."""

    def hook(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any] | None:
        if not loading():
            return None
        groups = state_dict["param_groups"]
        state_dict["param_groups"] = [{k: v for k, v in g.items() if k != "name"} for g in groups]
        return state_dict

    optimizer.register_state_dict_post_hook(hook)


def saved_groups_only_while(
    optimizer: torch.optim.Optimizer, loading: Callable[[], bool], saved: Callable[[], Sequence[Any] | None]
) -> None:
    """Leave the groups past those of the checkpoint's state (``saved()``, ``None`` where it does not tell) out of
    ``optimizer.state_dict()`` while ``loading()``: torch's distributed checkpoint asks a checkpoint for the options
    of every group the live optimizer holds, and one written before a group was declared lacks them. The
    parameters' state stays, asked for by name."""

    def hook(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any] | None:
        groups = saved() if loading() else None
        if groups is None or len(groups) >= len(state_dict["param_groups"]):
            return None
        state_dict["param_groups"] = state_dict["param_groups"][: len(groups)]
        return state_dict

    optimizer.register_state_dict_post_hook(hook)


def saved_param_groups(path: str | os.PathLike[str] | None, index: int) -> list[dict[str, Any]] | None:
    """The param groups of the ``index``-th optimizer's state in torch's distributed checkpoint at ``path``
    (``ModelParallelStrategy``'s default form, a directory), each with its ``params`` (the parameters' names) and
    its ``name`` where it has one; ``None`` for another checkpoint (a file, which the strategy loads whole)."""
    if path is None or not (Path(path) / ".metadata").is_file():
        return None
    from torch.distributed import checkpoint

    reader = checkpoint.FileSystemReader(path)
    keys = reader.read_metadata().state_dict_metadata
    prefix = f"optimizer_{index}.param_groups."
    count = 1 + max((int(k[len(prefix) :].split(".")[0]) for k in keys if k.startswith(prefix)), default=-1)
    groups: list[dict[str, Any]] = [
        {"params": [], **({"name": None} if f"{prefix}{i}.name" in keys else {})} for i in range(count)
    ]
    # each process reads them alone (`no_dist`): a collective read would need every rank at this point
    if groups:
        checkpoint.load({f"optimizer_{index}": {"param_groups": groups}}, storage_reader=reader, no_dist=True)
    return groups


def in_saved_order(state: dict[str, Any], saved: Any, built: Built) -> dict[str, Any]:
    """``state``, what the strategy loaded into ``built``'s optimizer (by parameter name, in the live groups), with
    its declared groups in the order of the checkpoint's, as its fingerprint ``saved`` records them: each where the
    checkpoint's group of its name and parameters stood (``takeover.MATCHED_BY``, the group ``"continue"`` keeps),
    and no parameters where none is (a group changed, or no longer declared); the groups added after the build
    follow. Without a fingerprint of this version holding the optimizer, ``state`` as it is."""
    entries = (
        saved.get("optimizers")
        if isinstance(saved, Mapping) and saved.get("version") == FINGERPRINT_VERSION
        else None
    )
    entry = next(
        (
            e
            for e in entries or ()
            if isinstance(e, Mapping) and e.get("attribute") == built.declared.attribute
        ),
        None,
    )
    if entry is None:
        return state
    groups = state["param_groups"]
    live = {tuple(group_fingerprint(plan)[k] for k in MATCHED_BY): g for plan, g in zip(built.groups, groups)}
    ordered = [live.get(tuple(g.get(k) for k in MATCHED_BY), {"params": []}) for g in entry.get("groups", ())]
    return {**state, "param_groups": [*ordered, *groups[len(built.groups) :]]}


def misplaced_parameters(
    optimizer: torch.optim.Optimizer, module: torch.nn.Module
) -> list[torch.nn.Parameter]:
    """The parameters of ``optimizer`` (in its groups' order) from the first that is not at its place in
    ``module.parameters()``: where Lightning maps the positions of a checkpoint's optimizer state to the module's
    parameters (``ModelParallelStrategy``, a checkpoint a DDP or single-device run wrote), their state goes to
    others. Empty where the orders agree."""
    ordered = [p for group in optimizer.param_groups for p in group["params"]]
    in_module = list(module.parameters())
    first = next((i for i, p in enumerate(ordered) if i >= len(in_module) or p is not in_module[i]), None)
    return [] if first is None else ordered[first:]


def keyed_by_position(path: str | os.PathLike[str] | None) -> bool:
    """Whether the checkpoint file at ``path`` holds optimizer states keyed by position (one a DDP or single-device
    run wrote), not by parameter name (``ModelParallelStrategy``'s own)."""
    if path is None or not Path(path).is_file():
        return False
    checkpoint = torch.load(path, mmap=True, map_location="cpu", weights_only=False)
    states = checkpoint.get("optimizer_states", ())
    return any(isinstance(key, int) for state in states for key in state.get("state", {}))


def refuse_while(
    optimizer: torch.optim.Optimizer, loading: Callable[[], bool], refusal: Callable[[], Exception | None]
) -> None:
    """Raise ``refusal()``, where there is one, as ``optimizer.state_dict()`` is taken while ``loading()``: before the
    strategy loads a checkpoint's state into it."""

    def hook(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> None:
        if loading() and (refused := refusal()) is not None:
            raise refused

    optimizer.register_state_dict_post_hook(hook)


def keyed_by_position_refusal(where: str, path: Any, misplaced: Sequence[str]) -> ValueError:
    """The refusal of the file ``path`` holding optimizer states keyed by position, which ``ModelParallelStrategy``
    maps to the module's parameters by ``module.parameters()``, where the optimizer holds ``misplaced`` (their names)
    elsewhere."""
    return ValueError(
        f"{where}: Expected a checkpoint whose optimizer state is keyed by parameter name to resume under "
        f"`ModelParallelStrategy` but got `{path}`, keyed by position (written by a DDP or single-device run): Lightning "
        "maps those positions to the module's parameters in the order of `module.parameters()`, and this optimizer "
        f"holds its parameters in another order ({', '.join(misplaced[:3])}{', ...' if len(misplaced) > 3 else ''} "
        "out of place), so their moments and their groups' options would load into other parameters, or fail on a "
        "shape. Resume it under the strategy that wrote it and save a checkpoint under `ModelParallelStrategy`, or "
        "load only its weights (`Module.load_from_checkpoint`) and fit without `ckpt_path`."
    )


def not_rewritable(owner: str, trainer: Trainer, choice: str) -> ValueError:
    """The refusal of a changed setup resumed with ``"fresh"``/``"continue"`` (``choice``) under a strategy that
    loads the optimizer states itself in a form the mixin does not rewrite."""
    strategy = type(trainer.strategy).__name__
    return ValueError(
        f"{owner}.resume_changed_setup: Expected a strategy whose optimizer states the mixin can replace to resume a "
        f"changed setup with {choice!r} but got `{strategy}`, which loads the checkpoint's optimizer states itself "
        "before the mixin sees the checkpoint, so the resumed run would silently keep the old options and states. "
        "Resume with the declarations the checkpoint was written with, or load only its weights into the module "
        "(`Module.load_from_checkpoint`, or `load_state_dict`) and fit without `ckpt_path`."
    )

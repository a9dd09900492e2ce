"""A declared ``SequentialLR`` (a ``LinearLR`` warmup, then a ``CyclicLR``) checkpointed in one process and resumed in
another, run by ``test_resume.py`` as a script: each process has the hash seed the test gives it
(``PYTHONHASHSEED``), as every real resume has its own. Usage: ``python _seeded_resume_script.py MODE DIR`` with MODE

- ``full``: 4 epochs of 4 batches uninterrupted, a checkpoint after every epoch in ``DIR``, and
  ``DIR/previous.ckpt``: the one after epoch 1 with its scheduler recorded as the release before the composites'
  records (up to commit c7d5c7d) recorded it, by the repr of the inner resolved schedulers;
- ``now`` / ``previous``: resumed from the checkpoint after epoch 1 / from ``DIR/previous.ckpt``, to the end.

Each writes ``DIR/<MODE>.pt``: the lr before every batch and the final weights; a refused resume fails the script.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.helpers`

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_optim import OptimizerSpec, SchedulerSpec
from lightning_optim.declaring.scheduler import resolve_scheduler
from lightning_optim.training.fingerprint import stable_repr
from tests import helpers

#: a ``CyclicLR``'s ``SchedulerInfo`` holds a set of four names, whose repr's order changes with the hash seed
SEQUENTIAL = SchedulerSpec(
    "sequential",
    schedulers=[
        SchedulerSpec("linear", start_factor=0.5, total_iters=2),
        SchedulerSpec("cyclic", base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False),
    ],
    milestones=[2],
    interval="step",
)
Sequential = helpers.declared(
    OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=SEQUENTIAL), name="Sequential"
)
AFTER_EPOCH_1 = "epoch=1-step=8.ckpt"


def as_the_previous_release_recorded(path: Path, into: Path) -> None:
    """The checkpoint at ``path`` saved to ``into`` with its scheduler's record as c7d5c7d wrote it: the arguments
    by ``stable_repr`` of each value, the inner schedulers' ``ResolvedScheduler``s included, no record of each."""
    checkpoint = torch.load(path, weights_only=False)
    record = checkpoint["lightning_optim"]["optimizers"][0]["scheduler"]
    resolved = resolve_scheduler("Sequential.optimizer.scheduler", SEQUENTIAL)
    record["arguments"] = ", ".join(f"{k}={stable_repr(v)}" for k, v in sorted(resolved.kwargs.items()))
    record.pop("schedulers", None)  # absent where the package records them so (before the fix this tests)
    torch.save(checkpoint, into)


def main(mode: str, directory: Path) -> None:
    module = Sequential()
    ckpt_path = {"now": directory / AFTER_EPOCH_1, "previous": directory / "previous.ckpt"}.get(mode)
    options: dict[str, Any] = {"max_epochs": 4, "default_root_dir": directory}
    if mode == "full":
        options.update(
            enable_checkpointing=True,
            callbacks=[ModelCheckpoint(dirpath=directory, save_top_k=-1, save_last=False, every_n_epochs=1)],
        )
    recorder = helpers.fit_resumed(module, None if ckpt_path is None else str(ckpt_path), **options)
    if mode == "full":
        as_the_previous_release_recorded(directory / AFTER_EPOCH_1, directory / "previous.ckpt")
    torch.save({"lrs": recorder.history, "weights": helpers.weights(module)}, directory / f"{mode}.pt")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))

"""T5X's Orbax checkpoint manager, initializing from another run's checkpoint without its data.

A run that saves its data position (``utils.SaveCheckpointConfig.save_dataset = True``, as
gin/runs/spec.gin does so a relaunched job resumes where it stopped) builds T5X's checkpoint
manager with the input iterator; T5X then also tries to restore that iterator when it
*initializes* from ``INITIAL_CHECKPOINT_PATH`` — another run's checkpoint, whose data pipeline
differs or was never saved — and fails. (Public FlanT5 checkpoints are in the older msgpack
format, which T5X restores without data, so only Orbax initial checkpoints hit this, e.g. a
specialization starting from a run trained with T5X itself, as the mini lab's do.)

:class:`InitCheckpointManager` restores the data position only from checkpoints under its own
``MODEL_DIR`` (resuming), never from elsewhere (initializing). Gin (gin/runs/spec.gin)::

    utils.SaveCheckpointConfig.checkpoint_manager_cls = @spec_checkpointing.InitCheckpointManager
    utils.RestoreCheckpointConfig.checkpoint_manager_cls = @spec_checkpointing.InitCheckpointManager
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any

from t5x import checkpoints


def _is_under(path: str, directory: str) -> bool:
    inner = PurePosixPath(os.path.normpath(os.fspath(path)))
    outer = PurePosixPath(os.path.normpath(os.fspath(directory)))
    return inner == outer or outer in inner.parents


class InitCheckpointManager(checkpoints.OrbaxCheckpointManagerInterface):
    """``OrbaxCheckpointManagerInterface`` that skips the data iterator for foreign paths."""

    def restore(self, step: int | None = None, path: str | None = None,
                *args: Any, **kwargs: Any):  # fmt: skip
        foreign = path is not None and not _is_under(path, os.fspath(self.directory))
        if not (foreign and self._should_write_dataset_ckpt):
            return super().restore(step, path, *args, **kwargs)
        self._should_write_dataset_ckpt = False
        try:
            return super().restore(step, path, *args, **kwargs)
        finally:
            self._should_write_dataset_ckpt = True

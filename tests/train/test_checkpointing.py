"""InitCheckpointManager: the data position is restored from MODEL_DIR only (resume), never
from an initial checkpoint elsewhere. The full path (a T5X run initialized from another T5X
run's Orbax checkpoint while saving its data position) runs in tests/lab/test_lab_quick.py."""

from __future__ import annotations

from t5x import checkpoints

from t5spec.checkpointing import InitCheckpointManager, _is_under


def test_only_paths_inside_the_model_dir_count_as_resuming():
    assert _is_under("/runs/dm/checkpoint_20", "/runs/dm")
    assert _is_under("/runs/dm/", "/runs/dm")
    assert not _is_under("/runs/generalist/checkpoint_100", "/runs/dm")
    assert not _is_under("/runs/dm2/checkpoint_1", "/runs/dm")
    assert not _is_under("gs://b/flan_t5_small/checkpoint_1198000", "gs://b/run")


def test_it_is_t5x_s_manager_with_the_same_restore_signature():
    import inspect

    assert issubclass(InitCheckpointManager, checkpoints.OrbaxCheckpointManagerInterface)
    ours = inspect.signature(InitCheckpointManager.restore).parameters
    assert list(ours)[:3] == ["self", "step", "path"]
    assert list(inspect.signature(
        checkpoints.OrbaxCheckpointManagerInterface.restore).parameters)[:3] == list(ours)[:3]

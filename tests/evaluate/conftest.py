"""Fixtures of the evaluation tests: gin bound to the shared T5 vocabulary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def vocab_bound(data_dir: Path) -> Iterator[None]:
    """Registers the t5spec tasks and binds their vocabulary to shared/data's spiece.model."""
    gin = pytest.importorskip("gin")
    import t5spec.tasks
    from t5spec.evaluate import tasks as eval_tasks

    t5spec.tasks.register()
    eval_tasks.register()

    with gin.unlock_config():
        gin.clear_config()
        gin.bind_parameter("TaskPaths.vocab_path", str(data_dir / "t5_vocab" / "spiece.model"))
        gin.bind_parameter("TaskPaths.vocab_extra_ids", 100)
    yield
    with gin.unlock_config():
        gin.clear_config()

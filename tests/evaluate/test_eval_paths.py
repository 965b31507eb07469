"""Checkpoint paths enter ``t5spec eval``/``select`` absolute; a missing one is refused even
with ``--print_only`` (issue 27 items 11, 12)."""

from __future__ import annotations

import shlex
from pathlib import Path

from t5spec.cli import main


def test_relative_checkpoint_is_made_absolute_and_missing_is_refused(tmp_path: Path, capsys,
                                                                      monkeypatch) -> None:
    ckpt = tmp_path / "runs" / "small" / "checkpoint_300"
    ckpt.mkdir(parents=True)
    (ckpt / "checkpoint").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--checkpoint=runs/small/checkpoint_300", "--model=tiny",
                 "--print_only"]) == 0
    argv = shlex.split(capsys.readouterr().out)
    assert f"--gin.CHECKPOINT_PATH={str(ckpt)!r}" in argv
    assert main(["eval", "--checkpoint=runs/small/checkpoint_400", "--model=tiny",
                 "--print_only"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "runs" / "small" / "checkpoint_400") in err
    assert "does not exist" in err and "checkpoint" in err

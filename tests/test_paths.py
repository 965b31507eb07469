"""t5spec.paths: one owner of the checkout, gin and data locations, one data-dir policy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from t5spec import paths
from t5spec.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def test_a_checkout_finds_its_own_gin_files():
    assert paths.repo_root() == REPO
    assert paths.gin_root() == REPO  # nothing installed under t5spec/resources in a checkout
    assert (paths.gin_dir() / "runs" / "spec.gin").is_file()


def test_data_dir_is_the_argument_else_the_environment_never_a_default(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_DATA_DIR, raising=False)
    with pytest.raises(InputError, match="no data directory"):
        paths.data_dir()
    assert paths.data_dir_or_none() is None
    assert paths.data_dir(tmp_path) == tmp_path == paths.data_dir_or_none(tmp_path)
    monkeypatch.setenv(paths.ENV_DATA_DIR, str(tmp_path))
    assert paths.data_dir() == tmp_path == paths.data_dir_or_none()
    monkeypatch.setenv(paths.ENV_DATA_DIR, str(tmp_path / "missing"))
    assert paths.data_dir_or_none() is None
    with pytest.raises(InputError, match="does not exist"):
        paths.data_dir()


def test_no_other_module_computes_the_repository_root():
    """``Path(__file__).parents[…]`` (a module's ancestors) appears in t5spec/paths.py only."""
    offenders = []
    for path in sorted((REPO / "t5spec").rglob("*.py")):
        if path == REPO / "t5spec" / "paths.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "parents" and any(
                    isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(node.value)):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders

"""``pip install .`` (not editable) works from any directory: the gin files ship as package data
(``t5spec/resources/gin/``, :func:`t5spec.paths.gin_root`) and every command t5spec writes
searches them there, not in a checkout.

The working tree is copied aside first (pip builds in the source folder), then installed into a
fresh venv that sees this interpreter's packages (T5X, JAX, …) but must import its own t5spec.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(argv: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("install")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True, text=True).stdout.split("\n")
    src = root / "src"
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    env = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(env)], check=True)
    pip = _run([str(env / "bin" / "pip"), "install", "-q", "--no-deps", "--no-build-isolation",
                "--no-index", str(src)], cwd=root)  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    shutil.rmtree(src)  # nothing may be read from the source tree afterwards
    return env


def test_the_installed_copy_is_imported_and_ships_every_gin_file(venv: Path, tmp_path: Path):
    probe = ("import json, t5spec, t5spec.paths as p; print(json.dumps({'file': t5spec.__file__, "
             "'gin_root': str(p.gin_root()), 'repo': str(p.repo_root())}))")
    proc = _run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout)
    assert found["file"].startswith(str(venv)), found
    assert found["gin_root"].startswith(str(venv)) and found["repo"] == "None", found
    shipped = {p.relative_to(found["gin_root"]) for p in Path(found["gin_root"]).rglob("*.gin")}
    assert shipped == {p.relative_to(REPO) for p in (REPO / "gin").rglob("*.gin")}


def test_lab_and_plan_run_from_another_directory(venv: Path, tmp_path: Path):
    lab = _run([str(venv / "bin" / "t5spec"), "lab", "--quick", "--print_only",
                f"--lab_dir={tmp_path / 'lab'}"], cwd=tmp_path)  # fmt: skip
    assert lab.returncode == 0, lab.stderr[-3000:]
    assert "--gin_search_paths=" + str(venv) in lab.stdout
    assert str(REPO) not in lab.stdout
    plan = _run([str(venv / "bin" / "t5spec"), "plan", "--gin_file=gin/flant5_small_spec.gin",
                 "--topology=v4-8"], cwd=tmp_path)  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "fits" in plan.stdout

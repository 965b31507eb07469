"""Two lab ``sample`` stages against one served teacher write the same teacher store.

The lab's own ``t5spec teacher sample`` command (:func:`t5spec.lab.stages.sample_argv`, the
quick lab's settings with more samples per question so requests carry ``n`` > 1) runs twice
against one ``t5spec serve`` app with the lab's serve flags (:func:`stages.serve_argv`) over
the tiny random-weight checkpoint of ``conftest.py``; the server batches the two runs'
concurrent requests differently, yet every record is the same bytes. Only the run bookkeeping
(``manifest.json``'s times, ``sessions.jsonl``) differs.
"""
# slow: a lab data folder, a few decode compiles and two sampling runs (~1 min on 2 cores).

from __future__ import annotations

import argparse
import dataclasses
import subprocess
from pathlib import Path

import pytest

from t5spec import serve
from t5spec.lab import build_data, stages
from t5spec.lab import config as lab_config
from t5spec.serve import cli as serve_cli

pytestmark = pytest.mark.slow


def _records(store: Path) -> list[bytes]:
    """The store's record lines, sorted (shards are written in completion order)."""
    lines = [line for shard in sorted(store.glob("samples-*.jsonl"))
             for line in shard.read_bytes().splitlines()]
    return sorted(lines)


def test_two_lab_sample_stages_write_byte_identical_stores(engine, tmp_path):
    cfg = lab_config.load([str(lab_config.GIN / "lab_quick.gin")], [
        "lab.SamplingConfig.questions = 12", "lab.SamplingConfig.samples_per_question = 4"])
    paths = stages.LabPaths(tmp_path / "lab")
    build_data(paths.data, seed=cfg.seed, sizes=cfg.world, bbh_examples=cfg.bbh_examples,
               bbh_shots=cfg.bbh_shots)
    parser = argparse.ArgumentParser()
    serve_cli.add_arguments(parser)
    argv = stages.serve_argv(cfg, paths, 0)
    config = serve_cli.config_from_args(parser.parse_args(argv[argv.index("serve") + 1:]))
    assert config.min_batch == config.max_batch  # one decode shape
    app = serve.create_app(engine, config)
    stores = []
    with serve.ServerThread(app) as server:
        for run in ("first", "second"):
            run_paths = dataclasses.replace(paths, root=tmp_path / run)
            argv = stages.sample_argv(cfg, paths, server.base_url)
            argv = [f"--output={run_paths.teacher_samples}" if a.startswith("--output=") else a
                    for a in argv]
            done = subprocess.run(argv, cwd=stages.REPO, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, done.stderr[-2000:]
            stores.append(_records(run_paths.teacher_samples))
    first, second = stores
    assert len(first) == 12 * 4
    assert first == second
    assert len({line.split(b'"text"')[1] for line in first}) > 12  # sampled, not one text
    assert app.state.batcher.stats["batches"] < app.state.batcher.stats["rows"]  # batched

"""A hostile user's inputs (issue 27) through the real ``t5spec`` command, in process.

Each case builds a bad input beside some pre-existing outputs, runs ``t5spec.cli.main`` and
checks: exit status 2, one line on stderr naming the file and the line / record and the field
(or the flag), no traceback, and every pre-existing output byte-identical (sha256) afterwards.
Cases that need a real model or checkpoint live with their package (tests/models, …); here
the refusal must come before any slow work, so placeholders stand in for models.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from t5spec.cli import main

Case = Callable[[Path], tuple[list[str], list[str], list[Path]]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _hf_dir(root: Path, config: object) -> Path:
    """A transformers folder: ``config`` as config.json beside a (tiny) safetensors file."""
    from safetensors.numpy import save_file

    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps(config))
    save_file({"shared.weight": np.zeros((4, 2), np.float32)}, root / "model.safetensors")
    return root


HF_CONFIG = {"model_type": "t5", "vocab_size": 32, "d_model": 8, "d_kv": 2, "d_ff": 16,
             "num_layers": 2, "num_heads": 4, "feed_forward_proj": "gated-gelu",
             "tie_word_embeddings": False}


# -- item 4: convert into an occupied OUT_DIR ----------------------------------------------
@case("convert hf-to-t5x into an existing checkpoint_0")
def _(tmp):
    old = _write(tmp / "out" / "checkpoint_0" / "checkpoint", b"old weights")
    src = _hf_dir(tmp / "hf", HF_CONFIG)
    return (["convert", "hf-to-t5x", str(src), str(tmp / "out")],
            [str(tmp / "out" / "checkpoint_0"), "OUT_DIR", "--overwrite"], [old])


@case("convert t5x-to-hf into an existing HF folder")
def _(tmp):
    old = [_write(tmp / "hf" / "config.json", "{}"),
           _write(tmp / "hf" / "model.safetensors", b"old weights")]
    return (["convert", "t5x-to-hf", str(tmp / "ckpt" / "checkpoint_0"), str(tmp / "hf")],
            [str(tmp / "hf"), "OUT_DIR", "model.safetensors", "--overwrite"], old)


# -- item 8: config.json of the wrong shape -------------------------------------------------
def _bad_config(config: object, field: str) -> Case:
    def build(tmp):
        src = _hf_dir(tmp / "hf", config)
        keep = _write(tmp / "out" / "notes.txt", "mine")
        return (["convert", "hf-to-t5x", str(src), str(tmp / "out")],
                [str(src / "config.json"), field], [keep, src / "config.json"])

    return build


CASES["config.json d_model a string"] = _bad_config({**HF_CONFIG, "d_model": "512"}, "d_model")
CASES["config.json num_heads null"] = _bad_config({**HF_CONFIG, "num_heads": None}, "num_heads")
CASES["config.json vocab_size negative"] = _bad_config({**HF_CONFIG, "vocab_size": -5},
                                                       "vocab_size")
CASES["config.json a JSON list"] = _bad_config([HF_CONFIG], "JSON object")


# -- item 7: teacher stats on a wrong-typed record ------------------------------------------
def _store(tmp: Path, field: str, value: object) -> Path:
    store = tmp / "store"
    _write(store / "manifest.json", json.dumps({"format": "t5spec.teacher/1", "settings": {}}))
    good = {"key": "q/1#0", "question_id": "q/1", "sample_index": 0, "prompt_id": "p",
            "question": "1+1?", "gold": "2", "text": "2", "tokens": ["2"],
            "top_logprobs": [[["2", -0.1]]], "token_logprobs": [-0.1], "answer": "2",
            "correct": True, "valid": True}
    bad = {**good, "key": "q/2#0", "question_id": "q/2", field: value}
    _write(store / "samples-00000.jsonl", json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    return store


@pytest.mark.parametrize("field,value", [("valid", "false"), ("correct", "no"),
                                         ("top_logprobs", [{"x0": -0.1}])])
def test_teacher_stats_wrong_type(tmp_path, capsys, field, value):
    store = _store(tmp_path, field, value)
    _check(["teacher", "stats", str(store)], [str(store / "samples-00000.jsonl"), "line 2",
                                              "q/2#0", field], [store / "samples-00000.jsonl"],
           capsys)


# -- item 9: results files that are not UTF-8 or have a wrong-typed count ------------------
def _run(tmp: Path, results: bytes) -> Path:
    run = tmp / "run"
    line = {"step": 100, "column": "gsm8k/zs_cot", "split": "dev",
            "metrics": {"accuracy": 0.5}, "num_examples": 10}
    _write(run / "inference_eval" / "results.jsonl",
           json.dumps(line).encode() + b"\n" + results + b"\n")
    _write(run / "selection.json", '{"mode": "zs_cot"}')
    return run


BAD_RESULTS = {
    "not UTF-8": (b'{"step": 200, "column": "caf\xe9"}', "line 2", "UTF-8"),
    "num_examples many": (json.dumps({"step": 200, "column": "gsm8k/zs_cot", "split": "dev",
                                      "metrics": {"accuracy": 0.5},
                                      "num_examples": "many"}).encode(),
                          "line 2", "num_examples"),
}


def _report_case(kind: str) -> Case:
    def build(tmp):
        data, where, field = BAD_RESULTS[kind]
        run = _run(tmp, data)
        old = [_write(tmp / "rep" / "report.md", "old report"),
               _write(tmp / "rep" / "fig2_curves.png", b"old png")]
        return (["report", "--runs", str(run), "--output", str(tmp / "rep")],
                [str(run / "inference_eval" / "results.jsonl"), where, field], old)

    return build


def _select_case(kind: str) -> Case:
    def build(tmp):
        data, where, field = BAD_RESULTS[kind]
        run = _run(tmp, data)
        return (["select", f"--run={run}", "--by=gsm8k_dev", "--model=small", "--print_only"],
                [str(run / "inference_eval" / "results.jsonl"), where, field],
                [run / "selection.json"])

    return build


for _kind in BAD_RESULTS:
    CASES[f"report, results {_kind}"] = _report_case(_kind)
    CASES[f"select, results {_kind}"] = _select_case(_kind)


# -- item 10: gin bindings with a syntax error ---------------------------------------------
@case("plan --gin_bindings with a syntax error")
def _(tmp):
    return (["plan", "--gin_file=gin/flant5_small_spec.gin", "--topology=v4-8",
             "--gin_bindings", "BATCH_SIZE=(1"], ["--gin_bindings", "BATCH_SIZE = (1"], [])


@case("lab --gin_param with a syntax error")
def _(tmp):
    keep = _write(tmp / "lab" / "report" / "report.md", "old report")
    return (["lab", "--quick", f"--lab_dir={tmp / 'lab'}", "--print_only",
             "--gin_param", "lab.TrainBudget.steps = 3 4"],
            ["--gin_param", "lab.TrainBudget.steps = 3 4"], [keep])


# -- item 12: vague or unchecked flags ------------------------------------------------------
@case("eval --print_only with a missing checkpoint")
def _(tmp):
    return (["eval", f"--checkpoint={tmp / 'run' / 'checkpoint_9'}", "--model=tiny",
             "--print_only"], [str(tmp / "run" / "checkpoint_9"), "checkpoint"], [])


@case("lab --redo nosuchstage")
def _(tmp):
    keep = _write(tmp / "lab" / "report" / "report.md", "old report")
    return (["lab", "--quick", f"--lab_dir={tmp / 'lab'}", "--print_only",
             "--redo", "nosuchstage"], ["--redo", "nosuchstage", "specialize_dm", "report"],
            [keep])


@case("teacher sample --api_key_env naming an unset variable")
def _(tmp):
    return (["teacher", "sample", "--base_url=http://127.0.0.1:9/v1", "--model=m",
             "--api_key_env=T5SPEC_TEST_UNSET_KEY", f"--output={tmp / 'store'}"],
            ["--api_key_env", "$T5SPEC_TEST_UNSET_KEY"], [])


@case("convert with one path: the flag, not <input>, is named")
def _(tmp):
    return (["convert", "t5x-to-hf", str(tmp)], ["PATH", "SOURCE OUT_DIR"], [])


def _digests(paths: list[Path]) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _check(argv: list[str], expected: list[str], kept: list[Path], capsys) -> str:
    """Runs ``t5spec ARGV``, checks the contract above, returns stdout."""
    before = _digests(kept)
    capsys.readouterr()
    status = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()
             and not line.startswith("WARNING")]  # absl's own preamble, if any
    assert status == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"t5spec {argv[0]}: error: "), err
    assert "Traceback" not in err and "<input>" not in err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert _digests(kept) == before  # nothing pre-existing changed
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_naming_file_place_and_field(name, tmp_path, capsys, monkeypatch,
                                                       repo_root):
    monkeypatch.chdir(repo_root)  # plan/lab name repository gin files
    monkeypatch.delenv("T5SPEC_TEST_UNSET_KEY", raising=False)
    argv, expected, kept = CASES[name](tmp_path)
    out = _check(argv, expected, kept, capsys)
    assert "wrote" not in out  # nothing claimed

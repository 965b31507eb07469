"""The whole lab data folder: every reader of the real data reads it unchanged."""

from __future__ import annotations

from t5spec import paths
from t5spec.data import bbh, formats, math_datasets
from t5spec.lab import build_data, generic, tokenizers


def test_build_data_is_a_data_dir(tmp_path):
    written = build_data(tmp_path, seed=3, bbh_examples=60)
    assert all(p.is_file() and p.stat().st_size for p in written)
    assert paths.data_dir(tmp_path) == tmp_path
    for name in math_datasets.MATH_DATASETS:
        for split in math_datasets.SPLITS[name]:
            assert math_datasets.load(name, split, data_dir=tmp_path)
    for task in generic.LAB_BBH_TASKS:
        assert len(bbh.load_bbh(task, tmp_path)) == 60
        assert bbh.build_bbh_input(task, "x", "cot", tmp_path).endswith(
            "Q: x\nA: Let's think step by step.\n")
    question = math_datasets.load("gsm8k", "test", data_dir=tmp_path)[0].question
    assert question in formats.teacher_prompt(question, tmp_path)
    eval_input = formats.build_eval_input(question, "in_context_cot", tmp_path)
    assert eval_input.endswith(f"{question}\nLet's think step by step")
    student = tokenizers.load(paths.t5_vocab_path(tmp_path))
    assert student.decode(student.encode(question)) == question
    assert "seed 3" in (tmp_path / "README.md").read_text()


def test_bbh_tasks_follow_the_data_folder(tmp_path, data_dir):
    build_data(tmp_path, seed=0, bbh_examples=60, bbh_shots=1)
    assert bbh.available_tasks(tmp_path) == tuple(t for t in bbh.BBH_TASKS
                                                  if t in generic.LAB_BBH_TASKS)
    assert len(bbh.available_tasks(data_dir)) == 27  # the real BBH
    prompt = bbh.load_bbh_prompt("word_sorting", tmp_path)
    assert len(prompt.exemplars) == 1  # bbh_shots
    empty = tmp_path / "empty"
    (empty / "bbh" / "bbh").mkdir(parents=True)
    import pytest

    from t5spec.errors import InputError

    with pytest.raises(InputError, match="no BBH task files"):
        bbh.available_tasks(empty)

"""Math readers on the real shared data: counts, splits, ids, exact answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction

import pytest

from t5spec.data import math_datasets
from t5spec.data.math_datasets import MATH_DATASETS, SPLITS, asdiv_excluded, load

EXPECTED = {
    ("gsm8k", "train"): 7473,
    ("gsm8k", "dev"): 500,
    ("gsm8k", "test"): 819,
    ("gsm8k", "full_test"): 1319,
    ("gsm8k", "paper_dev"): 200,
    ("svamp", "dev"): 500,
    ("svamp", "test"): 500,
    ("svamp", "full_test"): 1000,
    ("multiarith", "dev"): 200,
    ("multiarith", "test"): 400,
    ("multiarith", "full_test"): 600,
    ("asdiv", "dev"): 500,
    ("asdiv", "test"): 1592,  # 2305 problems - 213 not single-number - 500 dev
    ("asdiv", "full_test"): 2092,
}


@pytest.fixture(scope="module")
def loaded(data_dir):
    return {(n, s): load(n, s, data_dir) for n in MATH_DATASETS for s in SPLITS[n]}


def test_counts(loaded) -> None:
    assert {key: len(v) for key, v in loaded.items()} == EXPECTED
    assert all(not v.skipped for v in loaded.values())


def test_dev_and_test_are_disjoint_and_cover_the_pool(loaded) -> None:
    for name in MATH_DATASETS:
        dev = {ex.id for ex in loaded[name, "dev"]}
        test = {ex.id for ex in loaded[name, "test"]}
        full = {ex.id for ex in loaded[name, "full_test"]}
        assert not dev & test
        assert dev | test == full


def test_records_are_well_formed(loaded) -> None:
    for (name, split), examples in loaded.items():
        assert len({ex.id for ex in examples}) == len(examples)
        for ex in examples:
            assert ex.dataset == name and ex.split == split
            assert isinstance(ex.answer, Fraction)
            assert ex.question and ex.question == ex.question.strip()
            assert (ex.rationale is not None) == (name == "gsm8k")
            if ex.rationale is not None:
                assert "<<" not in ex.rationale and "####" not in ex.rationale


def test_known_records(loaded) -> None:
    first = loaded["gsm8k", "train"][0]
    assert first.id == "gsm8k/train/0" and first.answer == 72
    assert first.rationale == (
        "Natalia sold 48/2 = 24 clips in May.\n"
        "Natalia sold 48+24 = 72 clips altogether in April and May."
    )
    gsm = {ex.answer_text: ex.answer for ex in loaded["gsm8k", "train"]}
    assert gsm["1,080"] == 1080 and min(gsm.values()) < 0
    svamp = {ex.id: ex for ex in loaded["svamp", "full_test"]}
    assert svamp["svamp/test/0"].answer == 51 and svamp["svamp/test/0"].answer_text == "51.0"
    asdiv = {ex.id: ex for ex in loaded["asdiv", "full_test"]}
    assert asdiv["asdiv/test/0"].answer == 9 and asdiv["asdiv/test/0"].answer_text == "9 (apples)"
    assert not any(";" in ex.answer_text for ex in asdiv.values())


def test_asdiv_exclusions_are_explicit(data_dir) -> None:
    excluded = asdiv_excluded(data_dir)
    reasons = [r for _, _, r in excluded]
    assert len(excluded) == 213
    assert reasons.count("several answers") == 90 and reasons.count("not a number") == 123
    answers = {a for _, a, _ in excluded}
    assert {"3:4", "Yes", "3:30 p.m.", "17 (years old); 12 (years old)"} <= answers


def test_paper_dev_is_the_released_train_indices(loaded, data_dir) -> None:
    indices = json.loads((data_dir / "paper_release" / "gsm8k_validation_index.json").read_text())
    assert [ex.id for ex in loaded["gsm8k", "paper_dev"]] == [f"gsm8k/train/{i}" for i in indices]
    train_ids = {ex.id for ex in loaded["gsm8k", "train"]}
    assert {ex.id for ex in loaded["gsm8k", "paper_dev"]} <= train_ids  # overlaps training


_IDS_SCRIPT = """
import json
from t5spec.data.math_datasets import MATH_DATASETS, load
from t5spec.data.bbh import BBH_TASKS, bbh_split
out = {n: [ex.id for ex in load(n, "dev")] for n in MATH_DATASETS}
out["bbh"] = {t: [ex.id for ex in bbh_split(t, "dev")] for t in BBH_TASKS}
print(json.dumps(out))
"""


def test_splits_stable_across_processes(loaded, data_dir) -> None:
    from t5spec.data.bbh import BBH_TASKS, bbh_split

    env = dict(os.environ, T5SPEC_DATA_DIR=str(data_dir), PYTHONHASHSEED="12345")
    result = subprocess.run(
        [sys.executable, "-c", _IDS_SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    other = json.loads(result.stdout)
    for name in MATH_DATASETS:
        assert other[name] == [ex.id for ex in loaded[name, "dev"]]
    assert other["bbh"] == {t: [ex.id for ex in bbh_split(t, "dev", data_dir)] for t in BBH_TASKS}


def test_unknown_names_are_rejected(data_dir) -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        load("mawps", "test", data_dir)
    with pytest.raises(ValueError, match="unknown split"):
        load("svamp", "train", data_dir)
    assert math_datasets.SPLITS["gsm8k"][0] == "train"

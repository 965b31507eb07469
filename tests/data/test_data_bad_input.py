"""A corpus of malformed files: every reader names file, line/record and field; CLI exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5spec import cli
from t5spec.data import bbh, math_datasets
from t5spec.data.math_datasets import read_asdiv, read_gsm8k, read_multiarith, read_svamp
from t5spec.errors import EXIT_BAD_INPUT, InputError

GOOD = {"question": "Tom has 2 apples and buys 3. How many?", "answer": "2+3=<<2+3=5>>5\n#### 5"}


def _jsonl(*objs: object) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)


GSM8K_CASES = {
    "malformed_line": (_jsonl(GOOD, b'{"question": "x", "answer": '), "line 2", None, "malformed"),
    "missing_field": (_jsonl({"question": "q?"}), "line 1", "answer", "missing"),
    "wrong_type": (
        _jsonl(GOOD, GOOD, {"question": 5, "answer": "#### 1"}),
        "line 3",
        "question",
        "wrong type",
    ),
    "non_numeric": (
        _jsonl({"question": "q?", "answer": "x\n#### twelve"}),
        "line 1",
        "answer",
        "not a number",
    ),
    "no_final_line": (_jsonl({"question": "q?", "answer": "it is 5"}), "line 1", "answer", "####"),
    "not_object": (_jsonl(GOOD, [1, 2]), "line 2", None, "JSON object"),
    "blank_line": (_jsonl(GOOD) + b"\n" + _jsonl(GOOD), "line 2", None, "blank"),
    "non_utf8": (
        _jsonl(GOOD, GOOD) + b'{"question": "caf\xe9", "answer": "#### 1"}\n',
        "line 3",
        None,
        "not UTF-8",
    ),
    "empty": (b"", None, None, "empty file"),
    "whitespace_only": (b"\n \n", None, None, "empty file"),
}


def _check(error: InputError, path: Path, where: str | None, field: str | None, reason: str):
    message = str(error)
    assert error.path == str(path) and str(path) in message
    assert error.where == where and (where is None or where in message)
    assert error.field == field and (field is None or repr(field) in message)
    assert reason in message


@pytest.mark.parametrize("case", sorted(GSM8K_CASES))
def test_gsm8k_bad_input(tmp_path: Path, case: str) -> None:
    content, where, field, reason = GSM8K_CASES[case]
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_gsm8k(path, "train")
    _check(info.value, path, where, field, reason)


def test_gsm8k_skip_invalid_counts_and_keeps_ids(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(_jsonl(GOOD, b"{oops", GOOD, {"question": "q"}, GOOD))
    loaded = read_gsm8k(path, "train", skip_invalid=True)
    assert [ex.id for ex in loaded] == ["gsm8k/train/0", "gsm8k/train/2", "gsm8k/train/4"]
    assert [e.where for e in loaded.skipped] == ["line 2", "line 4"]
    assert loaded.skipped[1].field == "answer"
    with pytest.raises(InputError):
        read_gsm8k(path, "train")


SVAMP_GOOD = {"ID": "chal-1", "Body": "A has 3.", "Question": "How many?", "Answer": 3.0}
ARRAY_CASES = {
    "svamp_string_answer": (
        read_svamp,
        [SVAMP_GOOD, {**SVAMP_GOOD, "Answer": "3"}],
        "record 1",
        "Answer",
        "wrong type",
    ),
    "svamp_missing_body": (
        read_svamp,
        [{k: v for k, v in SVAMP_GOOD.items() if k != "Body"}],
        "record 0",
        "Body",
        "missing",
    ),
    "svamp_not_array": (read_svamp, {"a": 1}, None, None, "JSON array"),
    "svamp_empty_array": (read_svamp, [], None, None, "empty JSON array"),
    "multiarith_two_solutions": (
        read_multiarith,
        [{"sQuestion": " q? ", "lSolutions": [1, 2]}],
        "record 0",
        "lSolutions",
        "exactly one",
    ),
    "multiarith_text_solution": (
        read_multiarith,
        [{"sQuestion": " q? ", "lSolutions": ["x"]}],
        "record 0",
        "lSolutions",
        "wrong type",
    ),
    "multiarith_empty_question": (
        read_multiarith,
        [{"sQuestion": "  ", "lSolutions": [1]}],
        "record 0",
        "sQuestion",
        "empty",
    ),
}


@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_json_array_bad_input(tmp_path: Path, case: str) -> None:
    reader, data, where, field, reason = ARRAY_CASES[case]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as info:
        reader(path)
    _check(info.value, path, where, field, reason)


def test_malformed_json_document_names_line(tmp_path: Path) -> None:
    path = tmp_path / "SVAMP.json"
    path.write_text('[\n  {"ID": "a",\n   "Body": }\n]')
    with pytest.raises(InputError) as info:
        read_svamp(path)
    _check(info.value, path, "line 3", None, "malformed JSON")


def _asdiv(*problems: str) -> str:
    body = "".join(f'<Problem ID="p{i}">{p}</Problem>\n' for i, p in enumerate(problems))
    return f'<?xml version="1.0" encoding="UTF-8" ?>\n<F><ProblemSet>\n{body}</ProblemSet></F>\n'


OK_PROBLEM = "<Body>A has 3.</Body><Question>How many?</Question><Answer>3 (apples)</Answer>"


@pytest.mark.parametrize(
    ("content", "where", "field", "reason"),
    [
        (
            _asdiv(OK_PROBLEM, "<Body>x</Body><Question>q?</Question>"),
            "record 1 (Problem ID='p1')",
            "Answer",
            "missing",
        ),
        (
            _asdiv("<Body>x</Body><Question> </Question><Answer>1</Answer>"),
            "record 0 (Problem ID='p0')",
            "Question",
            "empty",
        ),
        (_asdiv(OK_PROBLEM).replace("</ProblemSet>", ""), "line 4", None, "malformed XML"),
        ("<F></F>", None, None, "no <Problem>"),
    ],
)
def test_asdiv_bad_input(tmp_path: Path, content: str, where, field, reason) -> None:
    path = tmp_path / "ASDiv.xml"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read_asdiv(path)
    _check(info.value, path, where, field, reason)


def test_asdiv_non_numeric_answer_is_excluded_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ASDiv.xml"
    path.write_text(_asdiv(OK_PROBLEM, OK_PROBLEM.replace("3 (apples)", "3:4")))
    assert [ex.id for ex in read_asdiv(path)] == ["asdiv/test/0"]


def _data_dir_with(tmp_path: Path, shared: Path, replace: dict[str, bytes]) -> Path:
    """A data dir under tmp_path: real directories, FILE symlinks into shared/data, and real
    files for the ``replace`` entries. Directories are never symlinked, so replacing a file
    can only remove a link under tmp_path — never write through it into shared/data."""
    root = tmp_path / "data"
    for name in ("svamp", "asdiv", "multiarith", "bbh", "paper_release", "gsm8k"):
        for source in (shared / name).rglob("*"):
            target = root / source.relative_to(shared)
            if source.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source)
    for relative, content in replace.items():
        target = root / relative
        target.unlink()
        assert target.resolve().is_relative_to(tmp_path.resolve())
        target.write_bytes(content)
    return root


def test_bbh_bad_input(tmp_path: Path, data_dir: Path) -> None:
    bad_examples = json.dumps({"examples": [{"input": "x", "target": "(A)"}, {"input": "y"}]})
    bad_prompt = "header\n\nQ: a question\nA: no trigger here. So the answer is (A)."
    root = _data_dir_with(
        tmp_path,
        data_dir,
        {
            "bbh/bbh/snarks.json": bad_examples.encode(),
            "bbh/cot-prompts/snarks.txt": bad_prompt.encode(),
        },
    )
    with pytest.raises(InputError) as info:
        bbh.load_bbh("snarks", root)
    _check(info.value, root / "bbh/bbh/snarks.json", "record 1", "target", "missing")
    assert len(bbh.load_bbh("snarks", root, skip_invalid=True).skipped) == 1
    with pytest.raises(InputError) as info:
        bbh.load_bbh_prompt("snarks", root)
    _check(info.value, root / "bbh/cot-prompts/snarks.txt", "exemplar 0", "Q/A", "Let's think")


def test_paper_dev_index_out_of_range(tmp_path: Path, data_dir: Path) -> None:
    root = _data_dir_with(
        tmp_path, data_dir, {"paper_release/gsm8k_validation_index.json": b"[3, 9999]"}
    )
    with pytest.raises(InputError) as info:
        math_datasets.load("gsm8k", "paper_dev", root)
    _check(
        info.value,
        root / "paper_release/gsm8k_validation_index.json",
        "record 1",
        None,
        "not a GSM8K train index",
    )


def test_cli_exit_status_2_and_one_line(tmp_path: Path, data_dir: Path, capsys) -> None:
    bad_train = (data_dir / "gsm8k/train.jsonl").read_bytes().split(b"\n")
    bad_train[41] = b'{"question": "q?", "answer": "#### many"}'
    root = _data_dir_with(tmp_path, data_dir, {"gsm8k/train.jsonl": b"\n".join(bad_train)})
    status = cli.main(["data", "summary", "--data_dir", str(root)])
    err = capsys.readouterr().err
    assert status == EXIT_BAD_INPUT
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{root / 'gsm8k/train.jsonl'}:line 42: field 'answer'" in err
    # --skip_invalid drops and reports it instead
    assert cli.main(["data", "summary", "--data_dir", str(root), "--skip_invalid"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:4] == ["gsm8k", "train", "7472", "1"] for line in out.splitlines())
    assert cli.main(["data", "summary", "--data_dir", str(tmp_path / "missing")]) == 2

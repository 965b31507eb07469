"""Readers for the four math benchmarks, one :class:`MathExample` per problem.

``load(name, split)`` is the entry point. Files (under the data dir, see shared/data SOURCE.md):

* ``gsm8k/train.jsonl`` (7473), ``gsm8k/test.jsonl`` (1319): ``question``; ``answer`` =
  rationale + ``#### N``. ``rationale`` = text before ``####`` with ``<<expr=result>>``
  annotations removed; ``answer`` = N (may use thousands separators, may be negative).
* ``svamp/SVAMP.json`` (1000): question = ``Body + " " + Question`` (the SOURCE.md rule; the
  paper's ``Body + ". " + Question`` doubles the period in 642 items); answer = ``Answer``.
* ``multiarith/MultiArith.json`` (600): question = ``sQuestion`` stripped; answer =
  ``lSolutions[0]`` (exactly one solution required).
* ``asdiv/ASDiv.xml`` (2305): question = ``Body + " " + Question``; ``Answer`` is
  "number (unit)". Only the 2092 problems whose answer is ONE number (optionally followed by a
  parenthesized unit; "5/2" counts) are evaluable; the other 213 (90 multi-answer
  "17 (years old); 12 (years old)", 123 non-numeric: names, Yes/No, times "3:30 p.m.", ratios
  "3:4", ordinals, "-(1/3)") are excluded BY DEFINITION of the benchmark here, not as bad
  input — :func:`asdiv_excluded` lists them. The paper instead scored all 2305, counting
  number-less golds as wrong and taking the last number of multi-answer golds.

Splits (see :mod:`t5spec.data.splits` for the seeded, hashlib-based permutation):

=========== ======= ====== ====== ========== ========================================
dataset     train   dev    test   full_test  paper_dev
=========== ======= ====== ====== ========== ========================================
gsm8k       7473    500    819    1319       200 TRAIN indices (overlaps train!)
svamp       —       500    500    1000       —
multiarith  —       200    400    600        —
asdiv       —       500    1592   2092       —
=========== ======= ====== ====== ========== ========================================

MultiArith: the paper's 200-index dev list (``data/multiarith/validation_index.npy``) was never
released, so t5spec's 200/400 split is its own and the paper's exact 400-problem test set
cannot be rebuilt.

``full_test`` is dev ∪ test (the whole evaluation file), for comparison with numbers reported
on the full sets (the paper's GSM8K and SVAMP tables). ``paper_dev`` is the authors'
``gsm8k_validation_index.json``: 200 problems from the GSM8K *training* set that the paper used
for checkpoint selection although they were also distilled on — use ``dev`` for honest
selection.

Validation: a missing/empty/non-UTF-8 file, a malformed line, a missing or wrongly-typed field
or a non-numeric answer raises :class:`~t5spec.errors.InputError` (file, line or record,
field). ``skip_invalid=True`` drops such records instead and returns a
:class:`~t5spec.data.files.Loaded` list whose ``.skipped`` holds the errors.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from t5spec import paths
from t5spec.data import files
from t5spec.data.answers import parse_number
from t5spec.data.files import Loaded
from t5spec.data.records import MathExample, make_id
from t5spec.data.splits import DEV_SIZES, split_indices
from t5spec.errors import InputError

MATH_DATASETS = ("gsm8k", "multiarith", "asdiv", "svamp")
SPLITS: dict[str, tuple[str, ...]] = {
    "gsm8k": ("train", "dev", "test", "full_test", "paper_dev"),
    "multiarith": ("dev", "test", "full_test"),
    "asdiv": ("dev", "test", "full_test"),
    "svamp": ("dev", "test", "full_test"),
}
FILES = {
    "gsm8k/train": "gsm8k/train.jsonl",
    "gsm8k/test": "gsm8k/test.jsonl",
    "svamp": "svamp/SVAMP.json",
    "multiarith": "multiarith/MultiArith.json",
    "asdiv": "asdiv/ASDiv.xml",
    "paper_dev": "paper_release/gsm8k_validation_index.json",
}
_CALCULATOR = re.compile(r"<<[^<>]*>>")
_ASDIV_ANSWER = re.compile(r"\s*(?P<number>[^();]*?)\s*(?:\([^();]*\))?\s*")

PathLike = str | os.PathLike


def _number(value: object, *, path: PathLike, where: str, field: str) -> tuple[Fraction, str]:
    """(exact value, text as written) of a JSON number or numeric string field."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise InputError(path, f"wrong type {type(value).__name__}", where=where, field=field)
    text = str(value)
    try:
        return parse_number(text), text
    except ValueError:
        raise InputError(path, f"not a number: {text!r}", where=where, field=field) from None


# --------------------------------------------------------------------------------------- GSM8K
def _gsm8k_record(obj: object, path: Path, source: str, line: int) -> MathExample:
    where = f"line {line}"
    question = files.require(obj, "question", str, path=path, where=where)
    solution = files.require(obj, "answer", str, path=path, where=where)
    if "####" not in solution:
        raise InputError(path, "no '#### <answer>' line", where=where, field="answer")
    body, _, final = solution.rpartition("####")
    answer, text = _number(final.strip(), path=path, where=where, field="answer")
    rationale = _CALCULATOR.sub("", body).strip()
    return MathExample(
        id=make_id("gsm8k", source, line - 1),
        dataset="gsm8k",
        split=source,
        question=question.strip(),
        answer=answer,
        answer_text=text,
        rationale=rationale,
    )


def read_gsm8k(path: PathLike, source: str, *, skip_invalid: bool = False) -> Loaded[MathExample]:
    """Reads a GSM8K JSONL file; ids ``gsm8k/<source>/<line-1>``; ``split`` = ``source``."""
    path = Path(path)
    items = (
        obj
        if isinstance(obj, InputError)
        else files.guarded(functools.partial(_gsm8k_record, obj, path, source, line))
        for line, obj in files.iter_jsonl(path)
    )
    return files.collect(items, skip_invalid=skip_invalid, path=path)


# --------------------------------------------------------------------------- SVAMP, MultiArith
def _json_array(path: Path) -> list:
    data = files.load_json(path)
    if not isinstance(data, list):
        raise InputError(path, f"expected a JSON array, got {type(data).__name__}")
    if not data:
        raise InputError(path, "empty JSON array")
    return data


def _svamp_record(obj: object, path: Path, index: int) -> MathExample:
    where = f"record {index}"
    body = files.require(obj, "Body", str, path=path, where=where)
    question = files.require(obj, "Question", str, path=path, where=where)
    value = files.require(obj, "Answer", (int, Decimal), path=path, where=where)
    answer, text = _number(value, path=path, where=where, field="Answer")
    return MathExample(
        id=make_id("svamp", "test", index),
        dataset="svamp",
        split="test",
        question=f"{body.strip()} {question.strip()}",
        answer=answer,
        answer_text=text,
    )


def _multiarith_record(obj: object, path: Path, index: int) -> MathExample:
    where = f"record {index}"
    question = files.require(obj, "sQuestion", str, path=path, where=where)
    solutions = files.require(obj, "lSolutions", list, path=path, where=where)
    if len(solutions) != 1:
        raise InputError(
            path,
            f"expected exactly one solution, got {len(solutions)}",
            where=where,
            field="lSolutions",
        )
    if isinstance(solutions[0], (bool, str)):
        kind = type(solutions[0]).__name__
        raise InputError(path, f"wrong type {kind} in list", where=where, field="lSolutions")
    answer, text = _number(solutions[0], path=path, where=where, field="lSolutions")
    return MathExample(
        id=make_id("multiarith", "test", index),
        dataset="multiarith",
        split="test",
        question=question.strip(),
        answer=answer,
        answer_text=text,
    )


def read_svamp(path: PathLike, *, skip_invalid: bool = False) -> Loaded[MathExample]:
    """Reads SVAMP.json (all records, ``split="test"``)."""
    path = Path(path)
    data = _json_array(path)
    items = (files.guarded(lambda i=i, o=o: _svamp_record(o, path, i)) for i, o in enumerate(data))
    return files.collect(items, skip_invalid=skip_invalid, path=path)


def read_multiarith(path: PathLike, *, skip_invalid: bool = False) -> Loaded[MathExample]:
    """Reads MultiArith.json (all records, ``split="test"``)."""
    path = Path(path)
    data = _json_array(path)
    items = (
        files.guarded(lambda i=i, o=o: _multiarith_record(o, path, i)) for i, o in enumerate(data)
    )
    return files.collect(items, skip_invalid=skip_invalid, path=path)


# ---------------------------------------------------------------------------------------- ASDiv
def _asdiv_problems(path: Path) -> list[ET.Element]:
    text = files.read_text(path)
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as e:
        raise InputError(path, f"malformed XML: {e}", where=f"line {e.position[0]}") from None
    problems = root.findall(".//Problem")
    if not problems:
        raise InputError(path, "no <Problem> elements")
    return problems


def _asdiv_text(problem: ET.Element, tag: str, path: Path, where: str) -> str:
    node = problem.find(tag)
    if node is None:
        raise InputError(path, "missing element", where=where, field=tag)
    if not (node.text or "").strip():
        raise InputError(path, "empty element", where=where, field=tag)
    return node.text.strip()


def _asdiv_record(problem: ET.Element, path: Path, index: int) -> MathExample | str:
    """The example, or the reason its (well-formed) answer is not a single number."""
    where = f"record {index} (Problem ID={problem.get('ID')!r})"
    body = _asdiv_text(problem, "Body", path, where)
    question = _asdiv_text(problem, "Question", path, where)
    answer_text = _asdiv_text(problem, "Answer", path, where)
    if ";" in answer_text:
        return "several answers"
    match = _ASDIV_ANSWER.fullmatch(answer_text)
    try:
        answer = parse_number(match.group("number")) if match else None
    except ValueError:
        answer = None
    if answer is None:
        return "not a number"
    return MathExample(
        id=make_id("asdiv", "test", index),
        dataset="asdiv",
        split="test",
        question=f"{body} {question}",
        answer=answer,
        answer_text=answer_text,
    )


def _read_asdiv_all(path: Path, skip_invalid: bool) -> tuple[Loaded, list[tuple[int, str, str]]]:
    problems = _asdiv_problems(path)
    results = [
        files.guarded(lambda i=i, p=p: _asdiv_record(p, path, i)) for i, p in enumerate(problems)
    ]
    excluded = [
        (i, (problems[i].findtext("Answer") or "").strip(), r)
        for i, r in enumerate(results)
        if isinstance(r, str)
    ]
    kept = files.collect(
        (r for r in results if not isinstance(r, str)), skip_invalid=skip_invalid, path=path
    )
    return kept, excluded


def read_asdiv(path: PathLike, *, skip_invalid: bool = False) -> Loaded[MathExample]:
    """Reads ASDiv.xml: the single-number-answer problems (``split="test"``)."""
    return _read_asdiv_all(Path(path), skip_invalid)[0]


def asdiv_excluded(data_dir: PathLike | None = None) -> list[tuple[int, str, str]]:
    """ASDiv problems left out as not single-number: ``(index, answer text, reason)``."""
    return _read_asdiv_all(paths.data_file(FILES["asdiv"], data_dir), False)[1]


# ---------------------------------------------------------------------------------------- load
def _paper_dev_indices(data_dir: PathLike | None, n_train: int) -> list[int]:
    path = paths.data_file(FILES["paper_dev"], data_dir)
    indices = files.load_json(path)
    if not isinstance(indices, list) or not indices:
        raise InputError(path, "expected a non-empty JSON array of integers")
    for k, i in enumerate(indices):
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_train:
            raise InputError(path, f"not a GSM8K train index: {i!r}", where=f"record {k}")
    if len(set(indices)) != len(indices):
        raise InputError(path, "duplicate indices")
    return indices


def _pool(name: str, data_dir: PathLike | None, skip_invalid: bool) -> Loaded[MathExample]:
    if name == "gsm8k":
        return read_gsm8k(
            paths.data_file(FILES["gsm8k/test"], data_dir), "test", skip_invalid=skip_invalid
        )
    readers = {"svamp": read_svamp, "multiarith": read_multiarith, "asdiv": read_asdiv}
    return readers[name](paths.data_file(FILES[name], data_dir), skip_invalid=skip_invalid)


def load(
    name: str, split: str, data_dir: PathLike | None = None, skip_invalid: bool = False
) -> Loaded[MathExample]:
    """The examples of ``name``/``split`` in source-file order (see module docstring).

    Returns a list (a :class:`Loaded`, whose ``.skipped`` lists records dropped under
    ``skip_invalid=True``). Each example's ``split`` field is ``split``.
    """
    if name not in SPLITS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(MATH_DATASETS)}")
    if split not in SPLITS[name]:
        raise ValueError(f"unknown split {split!r} for {name}; choose from {SPLITS[name]}")
    if name == "gsm8k" and split in ("train", "paper_dev"):
        train = read_gsm8k(
            paths.data_file(FILES["gsm8k/train"], data_dir), "train", skip_invalid=skip_invalid
        )
        if split == "train":
            return train
        by_index = {ex.index: ex for ex in train}
        # Indices must exist in the file; those of records dropped by skip_invalid are
        # already counted in train.skipped.
        indices = _paper_dev_indices(data_dir, len(train) + len(train.skipped))
        chosen = [by_index[i] for i in indices if i in by_index]
        return Loaded([_with_split(ex, split) for ex in chosen], train.skipped)
    pool = _pool(name, data_dir, skip_invalid)
    if split != "full_test":
        dev, test = split_indices(name, [ex.index for ex in pool], DEV_SIZES[name])
        keep = set(dev if split == "dev" else test)
        return Loaded([_with_split(ex, split) for ex in pool if ex.index in keep], pool.skipped)
    return Loaded([_with_split(ex, split) for ex in pool], pool.skipped)


def _with_split(example: MathExample, split: str) -> MathExample:
    return dataclasses.replace(example, split=split)

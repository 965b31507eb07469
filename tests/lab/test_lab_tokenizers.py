"""The lab's student (T5-style unigram) and teacher (GPT-style BPE) tokenizers."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from t5spec import tokenization
from t5spec.lab import generic, tokenizers, world

TRAIN_CODE = """
import hashlib
from t5spec.lab import generic, tokenizers, world
texts = [*world.world_text(world.generate_world(0)), *generic.generic_text(60, 0)]
print(hashlib.sha256(tokenizers.train_student(texts)).hexdigest())
print(hashlib.sha256(tokenizers.train_teacher(texts)).hexdigest())
"""


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [*world.world_text(world.generate_world(0)), *generic.generic_text(60, 0)]


@pytest.fixture(scope="module")
def models(texts) -> tuple[bytes, bytes]:
    return tokenizers.train_student(texts), tokenizers.train_teacher(texts)


def test_training_is_deterministic_across_processes(models):
    other = subprocess.run([sys.executable, "-c", TRAIN_CODE], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "7", "PATH": ""})
    assert other.stdout.split() == [hashlib.sha256(m).hexdigest() for m in models]


def test_student_has_t5_special_ids_and_teacher_a_different_vocab(models):
    student, teacher = (tokenizers.load(m) for m in models)
    for sp in (student, teacher):
        assert (sp.pad_id(), sp.eos_id(), sp.unk_id(), sp.bos_id()) == (0, 1, 2, -1)
        assert [sp.id_to_piece(i) for i in range(3)] == ["<pad>", "</s>", "<unk>"]
    assert 500 <= student.get_piece_size() <= tokenizers.STUDENT_VOCAB_SIZE
    assert teacher.get_piece_size() == tokenizers.TEACHER_VOCAB_SIZE
    s_pieces = {student.id_to_piece(i) for i in range(student.get_piece_size())}
    t_pieces = {teacher.id_to_piece(i) for i in range(teacher.get_piece_size())}
    assert len(s_pieces ^ t_pieces) > len(s_pieces & t_pieces)


def test_segmentations_differ_on_the_world(models, texts):
    student, teacher = (tokenizers.load(m) for m in models)
    differ = 0
    for text in texts[:2000]:
        s = [p.replace("\u2581", " ") for p in student.encode(text, out_type=str)]
        t = tokenization.teacher_tokens(teacher, text)
        differ += s != t
    assert differ > 0.9 * 2000


def test_round_trips(models, texts):
    student, teacher = (tokenizers.load(m) for m in models)
    for text in texts[:3000]:
        ids = student.encode(text)
        assert 2 not in ids  # no <unk> on the world's text
        assert student.decode(ids) == " ".join(text.split())  # T5 turns newlines into spaces
        assert teacher.decode(teacher.encode(text)) == text
        assert "".join(tokenization.teacher_tokens(teacher, text)) == text


def test_teacher_tokens_read_like_gpt(models):
    teacher = tokenizers.load(models[1])
    tokens = tokenization.teacher_tokens(teacher, "Anna has 3 apples.\nThe answer is 3")
    assert tokens[0] == "Anna" and "\n" in tokens and " answer" in tokens
    unseen = "Zoë ☃ naïve\n\n  x"
    tokens = tokenization.teacher_tokens(teacher, unseen)
    assert "".join(tokens) == unseen and "☃" in tokens


def test_gpt_style_merges_split_characters():
    assert tokenization.gpt_style(["\u2581is", "<0xE2>", "<0x98>", "<0x83>", "x"]) == [
        " is", "☃", "x"]
    assert tokenization.gpt_style(["<0x0A>"]) == ["\n"]


def test_write_tokenizers_lays_out_the_vocab_where_paths_find_it(texts, tmp_path):
    from t5spec import paths

    written = tokenizers.write_tokenizers(texts[:500], tmp_path)
    assert paths.t5_vocab_path(tmp_path) == written["student"]
    assert written["teacher"] == tmp_path / tokenizers.TEACHER_PATH
    assert tokenizers.load(written["teacher"]).get_piece_size() > 0


def test_empty_text_is_refused():
    with pytest.raises(ValueError, match="no training text"):
        tokenizers.train_student(["", "  "])

"""``python -m t5spec.lab.vote_eval``: self-consistency on the real GSM8K test problems with a
random-weights student (the vote, the item ids the report pairs on, the cost, seeding) and the
command line's bad input (exit 2, nothing overwritten)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from t5spec.data import math_datasets
from t5spec.data.answers import extract_answer, format_number
from t5spec.evaluate.voting import majority_vote
from t5spec.lab import vote_eval
from t5spec.lab.inference_cost import SentencePieceVocab
from t5spec.models.decoding import Decoder
from t5spec.tasks import stepbystep_names as sbs


@pytest.fixture(scope="module")
def vocabulary(data_dir: Path) -> SentencePieceVocab:
    return SentencePieceVocab(str(data_dir / "t5_vocab" / "spiece.model"))


@pytest.fixture(scope="module")
def decoder(vocabulary: SentencePieceVocab) -> Decoder:
    from t5x.examples.t5 import network

    config = network.T5Config(
        vocab_size=32128, dtype="float32", emb_dim=16, num_heads=2, num_encoder_layers=1,
        num_decoder_layers=1, head_dim=8, mlp_dim=32, mlp_activations=("gelu", "linear"),
        dropout_rate=0.0, logits_via_embedding=False)
    ones = jnp.ones((1, 8), jnp.int32)
    params = network.Transformer(config).init(jax.random.PRNGKey(0), ones, ones, ones,
                                              enable_dropout=False)["params"]  # fmt: skip
    return Decoder(config, params, eos_id=vocabulary.eos_id)


def _slot(decoder, vocabulary, data_dir, mode: str, vote: vote_eval.Vote, n: int = 6):
    return vote_eval.evaluate_slot(decoder, vocabulary, "gsm8k", mode, vote,
                                   data_dir=str(data_dir), examples=n, max_new_tokens=12,
                                   batch_size=8)  # fmt: skip


def test_each_answer_is_the_majority_of_its_samples(decoder, vocabulary, data_dir) -> None:
    vote = vote_eval.Vote(samples=5, temperature=1.0, top_k=0, seed=3)
    records, cost = _slot(decoder, vocabulary, data_dir, "zs_cot", vote)
    rows = math_datasets.load("gsm8k", "test", str(data_dir))[:6]
    assert [r["id"] for r in records] == [r.id for r in rows]  # the items t5x.eval scores
    assert all(r["mode"] == "zs_cot_vote" and r["split"] == "test" for r in records)
    for rec, row in zip(records, rows, strict=True):
        assert len(rec["outputs"]) == len(rec["votes"]) == 5
        votes = [extract_answer(o) for o in rec["outputs"]]
        assert rec["votes"] == [None if v is None else format_number(v) for v in votes]
        winner = majority_vote(votes)
        assert rec["extracted"] == (None if winner is None else format_number(winner))
        assert rec["correct"] == (winner is not None and winner == row.answer)
        assert rec["input"].endswith("Let's think step by step")
    assert any(len(set(r["outputs"])) > 1 for r in records)  # sampled, not 5 copies
    assert cost["answers"] == 6 and cost["mode"] == "zs_cot_vote"
    assert 0 < cost["generated_tokens"] <= 6 * 5 * 12
    assert cost["tokens_per_answer"] == cost["generated_tokens"] / 6  # every sample counts
    again, _ = _slot(decoder, vocabulary, data_dir, "zs_cot", vote)
    assert [r["outputs"] for r in again] == [r["outputs"] for r in records]  # seeded
    other, _ = _slot(decoder, vocabulary, data_dir, "zs_cot",
                     vote_eval.Vote(samples=5, temperature=1.0, top_k=0, seed=4))
    assert [r["outputs"] for r in other] != [r["outputs"] for r in records]


def test_label_votes_keep_the_label_budget(decoder, vocabulary, data_dir) -> None:
    records, cost = _slot(decoder, vocabulary, data_dir, "label",
                          vote_eval.Vote(samples=3, temperature=0.7, top_k=40), n=3)
    assert all(r["input"].startswith(sbs.DEFAULT_LABEL_PREFIX) for r in records)
    assert all(r["mode"] == "sbs_label_vote" for r in records)
    assert cost["generated_tokens"] <= 3 * 3 * sbs.LABEL_MAX_NEW_TOKENS


@pytest.mark.parametrize("vote, match", [
    (vote_eval.Vote(samples=3, temperature=0.0), "temperature > 0"),
    (vote_eval.Vote(samples=0), "samples >= 1"),
    (vote_eval.Vote(top_k=-1), "top_k >= 0"),
])  # fmt: skip
def test_bad_votes_are_refused(vote, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        vote.validate()
    vote_eval.Vote(samples=1, temperature=0.0).validate()  # greedy: the control


def test_cli_bad_input_exits_2_and_overwrites_nothing(tmp_path: Path, data_dir: Path,
                                                      capsys) -> None:  # fmt: skip
    checkpoint = tmp_path / "run" / "checkpoint_1600"
    checkpoint.mkdir(parents=True)
    vocab = str(data_dir / "t5_vocab" / "spiece.model")
    out = tmp_path / "eval"
    base = [f"--vocab={vocab}", f"--data_dir={data_dir}", "--mode=zs_cot", "--examples=4",
            f"--output_dir={out}"]

    def run(*extra: str) -> tuple[int, str]:
        code = vote_eval.main([*base, *extra])
        return code, capsys.readouterr().err

    code, err = run(f"--checkpoint={tmp_path / 'run'}")
    assert code == 2 and "checkpoint_<step>" in err
    code, err = run(f"--checkpoint={tmp_path / 'run' / 'checkpoint_7'}")
    assert code == 2 and "--checkpoint" in err and "does not exist" in err
    code, err = run(f"--checkpoint={checkpoint}", "--samples=3", "--temperature=0")
    assert code == 2 and "temperature > 0" in err
    code, err = run(f"--checkpoint={checkpoint}", "--slots=gsm8k,bbh")
    assert code == 2 and "--slots" in err
    earlier = out / "inference_eval" / "predictions" / "t5spec_eval_gsm8k_zs_cot_vote-test-1.jsonl"
    earlier.parent.mkdir(parents=True)
    earlier.write_text(json.dumps({"id": "gsm8k/test/2", "correct": True}) + "\n")
    code, err = run(f"--checkpoint={checkpoint}")
    assert code == 2 and "--overwrite" in err and str(earlier.parent) in err
    assert json.loads(earlier.read_text())["correct"] is True  # untouched
    assert not (out / "inference_cost.json").exists()

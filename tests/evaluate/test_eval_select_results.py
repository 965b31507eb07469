"""Results files, selection rules and the CLI's bad-input errors (pure, fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_fixtures import dev_rows, write_results
from hypothesis import given
from hypothesis import strategies as st

from t5spec.cli import main
from t5spec.errors import InputError
from t5spec.evaluate import benchmarks, results, select


def test_rules_pick_the_argmax_of_their_columns(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_results(
        run / "inference_eval" / "results.jsonl",
        dev_rows(100, 0.30, (0.5, 0.5, 0.5), (0.40, 0.30))
        + dev_rows(200, 0.50, (0.4, 0.4, 0.4), (0.30, 0.30))
        + dev_rows(300, 0.45, (0.7, 0.6, 0.5), (0.20, 0.20)),
    )
    dev = results.accuracy_table(results.load_run(run), "dev")
    chosen = select.select_all(dev)
    assert chosen["gsm8k_dev"].step == 200 and chosen["gsm8k_dev"].score == 0.5
    assert chosen["mas_dev"].step == 300 and chosen["mas_dev"].score == pytest.approx(0.6)
    assert chosen["bbh_dev"].step == 100 and chosen["bbh_dev"].score == pytest.approx(0.35)


def test_later_lines_override_and_test_split_is_separate(tmp_path: Path) -> None:
    path = write_results(
        tmp_path / "r.jsonl",
        [
            (5, "gsm8k/zs_cot", "dev", 0.1),
            (5, "gsm8k/zs_cot", "test", 0.9),
            (5, "gsm8k/zs_cot", "dev", 0.2),
        ],
    )
    records = results.read_results(path)
    assert results.accuracy_table(records, "dev") == {5: {"gsm8k/zs_cot": 0.2}}
    assert results.accuracy_table(records, "test") == {5: {"gsm8k/zs_cot": 0.9}}


@given(st.dictionaries(st.integers(0, 10**6), st.floats(0, 1), min_size=1, max_size=20))
def test_select_is_argmax_with_earliest_tie(scores: dict[int, float]) -> None:
    dev = {s: {"gsm8k/zs_cot": v} for s, v in scores.items()}
    sel = select.select(dev, "gsm8k_dev")
    assert sel.score == max(scores.values())
    assert sel.step == min(s for s, v in scores.items() if v == sel.score)


def test_rules_need_every_column() -> None:
    dev = {1: {"multiarith/zs_cot": 0.9, "asdiv/zs_cot": 0.9}, 2: {"gsm8k/zs_cot": 0.1}}
    with pytest.raises(InputError, match="mas_dev"):
        select.select(dev, "mas_dev")
    assert select.select_all(dev)["mas_dev"] is None
    with pytest.raises(InputError, match="unknown selection rule"):
        select.select_all(dev, ["gsm8k_test"])


def test_malformed_results_name_file_line_field(tmp_path: Path) -> None:
    path = write_results(tmp_path / "r.jsonl", [(1, "gsm8k/zs_cot", "dev", 0.5)])
    with path.open("a") as f:
        f.write(
            json.dumps(
                {"step": 2, "column": "gsm8k/zs_cot", "split": "dev", "metrics": {"accuracy": 3.0}}
            )
            + "\n"
        )
    with pytest.raises(InputError) as err:
        results.read_results(path)
    assert err.value.where == "line 2" and err.value.field == "metrics.accuracy"


def test_resolve_names() -> None:
    assert benchmarks.resolve_names("gsm8k,bbh") == (
        "t5spec_eval_gsm8k_zs_cot",
        "t5spec_eval_bbh_ao",
        "t5spec_eval_bbh_cot",
    )
    assert benchmarks.resolve_names("svamp/ic_ao") == ("t5spec_eval_svamp_ic_ao",)
    assert len(benchmarks.resolve_names("math")) == 4
    with pytest.raises(InputError, match="unknown benchmark 'gsm9k'"):
        benchmarks.resolve_names("gsm9k")


def test_resolve_names_knows_step_by_step_columns_and_mixtures() -> None:
    assert benchmarks.resolve_names("gsm8k/sbs_label") == ("t5spec_eval_gsm8k_sbs_label",)
    label = benchmarks.resolve_names("math_sbs_label")
    assert label == tuple(f"t5spec_eval_{b}_sbs_label" for b in benchmarks.MATH_BENCHMARKS)
    assert benchmarks.mixture_named(label) == "t5spec_eval_math_sbs_label"
    assert len(benchmarks.resolve_names("t5spec_eval_sbs")) == 8
    assert benchmarks.task_by_name("t5spec_eval_svamp_sbs_rationale").column == (
        "svamp/sbs_rationale")
    assert select.rule_columns("mas_dev", "sbs_label") == (
        "multiarith/sbs_label", "asdiv/sbs_label", "svamp/sbs_label")
    with pytest.raises(InputError, match="unknown mode 'sbs'"):
        select.rule_columns("gsm8k_dev", "sbs")
    from t5spec.evaluate.command import mixture_for

    assert mixture_for("math_sbs_rationale") == "t5spec_eval_math_sbs_rationale"
    assert mixture_for("gsm8k/sbs_label,bbh/ao") == ("t5spec_eval_gsm8k_sbs_label",
                                                     "t5spec_eval_bbh_ao")


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty_run"
    empty.mkdir()
    assert main(["select", f"--run={empty}", "--by=gsm8k_dev"]) == 2
    assert "no evaluation results" in capsys.readouterr().err
    assert main(["select", f"--run={empty}", "--by=gsm8k"]) == 2
    assert "unknown selection rule 'gsm8k'" in capsys.readouterr().err
    not_ckpt = tmp_path / "run" / "checkpoint_7"
    not_ckpt.mkdir(parents=True)
    assert main(["eval", f"--checkpoint={not_ckpt}", "--model=tiny"]) == 2
    assert "not a T5X checkpoint" in capsys.readouterr().err
    assert main(["eval", f"--checkpoint={not_ckpt}", "--model=tiny", "--benchmarks=bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'bogus'" in err and len(err.strip().splitlines()) == 1
    assert main(["report", f"--runs={empty}", f"--output={tmp_path / 'rep'}"]) == 2
    assert "no evaluation results" in capsys.readouterr().err


def test_select_print_only_names_the_checkpoint(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    write_results(
        run / "inference_eval" / "results.jsonl",
        dev_rows(100, 0.3, (0.5, 0.5, 0.5), (0.4, 0.3))
        + dev_rows(200, 0.5, (0.4, 0.4, 0.4), (0.3, 0.3)),
    )
    assert (
        main(
            [
                "select",
                f"--run={run}",
                "--by=mas_dev",
                "--model=small",
                "--print_only",
                "--max_examples=7",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    command = out.strip().splitlines()[-1]
    assert command.startswith("python -m t5x.eval ")
    assert f"--gin.CHECKPOINT_PATH=\"'{run}/checkpoint_100'\"" in command
    assert "--gin.EVAL_SPLIT=\"'test'\"" in command and "--gin.EVAL_MAX_EXAMPLES=7" in command
    saved = json.loads((run / "selection.json").read_text())
    assert saved["rules"]["gsm8k_dev"]["step"] == 200 and saved["rules"]["mas_dev"]["step"] == 100


def test_select_several_rules_share_one_t5x_eval(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    write_results(
        run / "inference_eval" / "results.jsonl",
        dev_rows(100, 0.3, (0.5, 0.5, 0.5), (0.4, 0.3))
        + dev_rows(200, 0.5, (0.4, 0.4, 0.4), (0.3, 0.3)),
    )
    argv = ["select", f"--run={run}", "--by=gsm8k_dev,mas_dev", "--model=small", "--print_only"]
    assert main(argv) == 0
    commands = [ln for ln in capsys.readouterr().out.splitlines() if "t5x.eval" in ln]
    assert len(commands) == 1  # one process evaluates both rules' checkpoints
    out = run / "eval" / "test_checkpoints_100_200"
    assert f"--gin.CHECKPOINT_PATH=\"'{out}/checkpoints'\"" in commands[0]
    assert "--gin.utils.RestoreCheckpointConfig.mode=\"'all'\"" in commands[0]
    assert main([*argv[:2], "--by=mas_dev,gsm8k", "--print_only"]) == 2
    assert "unknown selection rule 'gsm8k'" in capsys.readouterr().err


def test_the_evaluation_before_training_is_no_candidate() -> None:
    dev = {100: {"gsm8k/zs_cot": 0.5}, 120: {"gsm8k/zs_cot": 0.2}, 140: {"gsm8k/zs_cot": 0.2}}
    assert select.select(dev, "gsm8k_dev").step == 100  # the base model would win
    trained = select.trained_steps(dev, eval_before_training=True)
    assert set(trained) == {120, 140} and select.select(trained, "gsm8k_dev").step == 120
    assert select.trained_steps(dev, eval_before_training=False) == dev

"""``t5spec lab --experiment=methods --quick`` end to end: the shared teacher stages, one
generalist per student size, every (size, method) cell trained by T5X and evaluated on test
with its inference cost, the teacher row (one evaluation of the lab's teacher in its sampling
prompt), and the methods report with intervals, verdicts and plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from t5spec.cli import main
from t5spec.lab import methods, stages

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]  # its lab run: ~14 min idle
REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "gin" / "lab_methods_quick.gin")


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("methods")
    argv = ["lab", "--experiment=methods", "--quick", f"--lab_dir={root}", "--no_progress"]
    assert main(argv) == 0
    return root


def test_every_cell_was_trained_and_evaluated(lab_dir: Path) -> None:
    cfg, mcfg = methods.load([QUICK])
    paths = stages.LabPaths(lab_dir)
    cells = methods.runs(mcfg)
    assert len(cells) == len(mcfg.students) * len(mcfg.methods) * len(mcfg.seeds) == 18
    last = methods.final_step(cfg, mcfg)
    for run in cells:
        assert (methods.run_dir(paths, run) / f"checkpoint_{last}" / "state").is_dir(), run
        evaluated = methods.eval_dir(cfg, mcfg, paths, run)
        preds = list((evaluated / "inference_eval" / "predictions").glob("*-test-*.jsonl"))
        assert preds, run
        for path in preds:
            rows = [json.loads(ln) for ln in path.read_text().splitlines()]
            assert rows and all(isinstance(r["correct"], bool) for r in rows), path
        cost = json.loads((evaluated / "inference_cost.json").read_text())
        assert cost["mode"] == methods.COST_MODE[methods.EVAL_MODE[run.method]], run
        assert cost and all(math.isfinite(float(v)) and float(v) >= 0 for v in cost.values()
                            if isinstance(v, int | float))  # fmt: skip


def test_vote_rows_answer_the_trained_cells_items(lab_dir: Path) -> None:
    """sm_vote: the sm student's majority over vote_samples sampled chains, on the very items
    (ids) sm's t5x.eval scored, slot by slot — what the report pairs them on."""
    from t5spec.evaluate import items

    cfg, mcfg = methods.load([QUICK])
    paths = stages.LabPaths(lab_dir)
    for student in mcfg.students:
        vote, base = (methods.MethodRun(student, m, 0) for m in ("sm_vote", "sm"))
        voted = items.read_split(methods.eval_dir(cfg, mcfg, paths, vote), "test")
        scored = items.read_split(methods.eval_dir(cfg, mcfg, paths, base), "test")
        assert set(voted) == {f"{b}/zs_cot_vote" for b in ("gsm8k", *methods.OOD)}
        for column, found in voted.items():
            assert found.keys == scored[column.replace("_vote", "")].keys, column
        folder = methods.eval_dir(cfg, mcfg, paths, vote) / "inference_eval" / "predictions"
        for path in folder.glob("*.jsonl"):
            for line in path.read_text().splitlines():
                assert len(json.loads(line)["outputs"]) == mcfg.vote_samples, path


def test_the_teacher_was_evaluated_once_in_its_prompt(lab_dir: Path) -> None:
    cfg, mcfg = methods.load([QUICK])
    assert mcfg.teacher_row
    folder = methods.teacher_eval_dir(cfg, stages.LabPaths(lab_dir))
    preds = sorted((folder / "inference_eval" / "predictions").glob("*-test-*.jsonl"))
    names = {p.name.split("-test-")[0] for p in preds}
    assert names == {f"t5spec_eval_{b}_lab_teacher" for b in (*methods.OOD, "gsm8k")} | \
        {"t5spec_eval_bbh_ao"}
    for path in preds:
        rows = [json.loads(ln) for ln in path.read_text().splitlines()]
        assert len(rows) == mcfg.test_examples, path
        if "lab_teacher" in path.name:
            assert all(r["input"].startswith("Solve the math word problem") for r in rows)
    assert json.loads((folder / "inference_cost.json").read_text())["mode"] == "lab_teacher"


def test_the_report_has_every_method_and_size(lab_dir: Path) -> None:
    cfg, mcfg = methods.load([QUICK])
    md = (lab_dir / "report" / "methods.md").read_text()
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| method | student |"))
    rows = []
    for line in lines[start + 2:]:  # the methods table, up to its first non-table line
        if not line.startswith("| "):
            break
        rows.append(line)
    cells = {(r.split("|")[1].strip(), r.split("|")[2].strip()) for r in rows}
    teacher = ("teacher", methods.teacher_label(cfg))
    assert cells == {(m, s) for m in mcfg.methods for s in mcfg.students} | {teacher}
    assert "[" in next(r for r in rows if r.startswith("| teacher |"))  # an interval
    for column in ("In-distribution", "OOD", "Generic"):  # one plain verdict per column
        verdict = next(ln for ln in md.splitlines() if ln.startswith(f"- {column} "))
        assert any(w in verdict for w in ("tie", "inside the noise", "wins")), verdict
        against = next(ln for ln in md.splitlines()
                       if ln.startswith(f"- {column} (each method − teacher"))
        assert all(f"at {s} " in against for s in mcfg.students), against
    for method in mcfg.methods:
        assert (lab_dir / "report" / f"methods_{method}.png").stat().st_size > 1000

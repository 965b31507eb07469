"""The gin names Python emits (t5spec.gin_names) exist in the gins; macros live only in run gins;
a renamed name fails with "renamed to X" (exit 2 at the command line)."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from pathlib import Path

import pytest

import __main__
import gin
from t5spec import gin_names
from t5spec.errors import InputError
from t5spec.launch import ginconfig
from t5spec.launch.ginconfig import train_stand_in

REPO = Path(__file__).resolve().parents[1]
# T5X's convention: a model gin sets its model's macros (DROPOUT_RATE, T5SPEC_VOCAB, ...).
MODEL_GINS = {"gin/lab/model.gin",
              *(f"gin/models/{p.name}" for p in (REPO / "gin" / "models").glob("*.gin"))}
_MACRO_DEF = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=", re.M)
_INCLUDE = re.compile(r"^include\s+'([^']+)'", re.M)


def _gin_files() -> list[Path]:
    return sorted((REPO / "gin").rglob("*.gin"))


def _fragments() -> set[str]:
    """Gin files of this repository that another of its gin files includes."""
    included = set()
    for path in _gin_files():
        included |= {name for name in _INCLUDE.findall(path.read_text())
                     if name.startswith("gin/")}
    return included


def test_fragments_define_no_macros():
    fragments = _fragments() - MODEL_GINS
    assert {"gin/runs/spec.gin", "gin/runs/stepbystep.gin", "gin/infer_eval.gin"} <= fragments
    defined = {f: _MACRO_DEF.findall((REPO / f).read_text()) for f in sorted(fragments)}
    assert {f: names for f, names in defined.items() if names} == {}


def _materialize(files: tuple[str, ...], tmp_path: Path) -> list[str]:
    """``@student``/``@teacher``: the lab's generated model gin; ``@model``: a size's."""
    from t5spec.lab import stages
    from t5spec.lab.config import ModelShape

    out = []
    for f in files:
        if f == "@model":
            out.append("gin/models/flant5_small.gin")
        elif f.startswith("@"):
            path = tmp_path / f"{f[1:]}.gin"
            vocab = tmp_path / "spiece.model"  # only named: nothing reads it while parsing
            path.write_text(stages.model_gin_text(ModelShape(), vocab, 1152))
            out.append(str(path))
        else:
            out.append(f)
    return out


@contextlib.contextmanager
def _parsed(files: list[str]):
    """``files`` parsed as T5X parses a run's gin files (from the repository root), unfinalized."""
    from t5x import eval as t5x_eval
    from t5x import train as t5x_train

    __main__.train = train_stand_in()  # run gins `import __main__ as train_script`
    __main__.evaluate = t5x_eval.evaluate  # gin/eval_spec.gin: `import __main__ as eval_script`
    t5x_dir = str(Path(t5x_train.__file__).resolve().parents[1])
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        gin.clear_config(clear_constants=True)
        for path in (".", t5x_dir):
            gin.add_config_file_search_path(path)
        gin.parse_config_files_and_bindings(files, [], finalize_config=False)
        yield
    finally:
        os.chdir(cwd)
        gin.clear_config(clear_constants=True)


def _missing(files: list[str], names: tuple[str, ...]) -> list[str]:
    """The names that ``files`` neither define (macros) nor can bind (``x.param``)."""
    missing = []
    with _parsed(files):
        for name in names:
            try:
                if "." in name:
                    gin.parse_config(f"{name} = None")  # unknown configurable/parameter raise
                else:
                    gin.query_parameter(f"%{name}")
            except (ValueError, KeyError):
                missing.append(name)
    return missing


@pytest.mark.parametrize("files", sorted(gin_names.EXPECTED), ids=" + ".join)
def test_every_emitted_name_exists_where_expected(files, tmp_path):
    assert _missing(_materialize(files, tmp_path), gin_names.EXPECTED[files]) == []


def test_a_misspelled_name_is_caught(tmp_path):
    files = _materialize(("@student", "gin/lab/specialize.gin"), tmp_path)
    assert _missing(files, ("DISTIL_WEIGHT", "ExemplarConfig.num_exemplar",
                            gin_names.DISTILL_WEIGHT)) == ["DISTIL_WEIGHT",
                                                           "ExemplarConfig.num_exemplar"]


def test_no_emitter_spells_a_name_itself():
    """The emitters use the constants: no ``--gin.UPPER_NAME=`` literal left in them."""
    literal = re.compile(r"""["']--gin[.=][A-Za-z_][A-Za-z0-9_/.]+=""")  # a literal NAME=
    emitters = ["t5spec/lab/stages.py", "t5spec/lab/methods.py", "t5spec/lab/cli.py",
                "t5spec/evaluate/command.py", *map(str, (REPO / "t5spec/launch").glob("*.py"))]
    found = {f: literal.findall((REPO / f).read_text()) for f in emitters}
    assert {f: hits for f, hits in found.items() if hits} == {}


@pytest.mark.parametrize("binding,old,new", [
    ("evaluation.EvalBudget.max_examples=5", "evaluation.EvalBudget", "eval_tasks.EvalBudget"),
    ("t5spec.tasks.evaluation.EvalBudget.max_examples=5", "evaluation.EvalBudget",
     "eval_tasks.EvalBudget"),
    ("--gin.MODEL=@sbs_models.StepByStepModel()", "sbs_models.StepByStepModel",
     "SpecializationModel"),
    ("StepByStepModel.rationale_weight=0.5", "StepByStepModel", "SpecializationModel"),
    ("EVAL_MIXTURE=@evaluation.mixture_of()", "evaluation.mixture_of", gin_names.MIXTURE_OF),
])
def test_renamed_binding_names_its_new_name(binding, old, new):
    with pytest.raises(InputError, match=rf"'{re.escape(old)}' was renamed to .*{re.escape(new)}"):
        gin_names.check_not_renamed([binding], flag="gin")


@pytest.mark.parametrize("binding", [
    "eval_tasks.EvalBudget.max_examples=5", f"{gin_names.MIXTURE_OF_TASKS}=['x']",
    "DISTILL_WEIGHT=0.0", "spec_models.SpecializationModel.rationale_weight=0.5",
])
def test_current_names_pass(binding):
    gin_names.check_not_renamed([binding], flag="gin")


def test_renamed_names_are_not_current():
    current = {v for k, v in vars(gin_names).items() if k.isupper() and isinstance(v, str)}
    assert not set(gin_names.RENAMED) & current


def _checkpoint(tmp_path: Path) -> Path:
    ckpt = tmp_path / "run" / "checkpoint_5"
    ckpt.mkdir(parents=True)
    (ckpt / "checkpoint").write_bytes(b"")
    return ckpt


def test_eval_cli_exits_2_on_a_renamed_binding(tmp_path, capsys):
    from t5spec import cli

    rc = cli.main(["eval", f"--checkpoint={_checkpoint(tmp_path)}", "--model=small",
                   "--gin=evaluation.EvalBudget.max_examples=3", "--print_only"])
    assert rc == 2
    assert "'evaluation.EvalBudget' was renamed to eval_tasks.EvalBudget" in capsys.readouterr().err


def test_plan_cli_exits_2_on_a_renamed_binding(capsys):
    from t5spec import cli

    rc = cli.main(["plan", "--gin_file=gin/flant5_small_spec.gin", "--topology=v4-8",
                   "--gin_bindings=sbs_models.StepByStepModel.rationale_weight=0.5"])
    assert rc == 2
    assert "renamed to spec_models.SpecializationModel" in capsys.readouterr().err


def test_lab_cli_exits_2_on_a_renamed_binding(tmp_path, capsys):
    from t5spec import cli

    rc = cli.main(["lab", f"--lab_dir={tmp_path / 'lab'}", "--print_only",
                   "--gin_param=StepByStepModel.rationale_weight=0.5"])
    assert rc == 2
    assert "'StepByStepModel' was renamed to SpecializationModel" in capsys.readouterr().err


def test_a_gin_file_with_a_renamed_name_says_so(tmp_path):
    user = tmp_path / "mine.gin"
    user.write_text("from __gin__ import dynamic_registration\n"
                    "include 'gin/flant5_small_spec.gin'\n"
                    "evaluation.EvalBudget.max_examples = 5\n")
    with pytest.raises(InputError, match=r"'evaluation\.EvalBudget' was renamed to eval_tasks"):
        ginconfig.resolve([str(user)], ["MODEL_DIR='/tmp/unused'"])


@pytest.mark.parametrize("stage", ["generalist", "specialize", "teacher"])
def test_the_lab_trains_with_the_dropout_its_bench_measures(stage, tmp_path):
    """The dropout the lab's stages train with (T5X's finetune.gin, included after the model
    gin, sets it too) is what gin/lab/model.gin declares and what the lab-step bench measures."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        bench = importlib.import_module("bench_lab_step")
    finally:
        sys.path.remove(str(REPO / "bench"))
    model = "@teacher" if stage == "teacher" else "@student"
    with _parsed(_materialize((model, f"gin/lab/{stage}.gin"), tmp_path)):
        trained = gin.query_parameter("%DROPOUT_RATE")
    with _parsed(_materialize((model,), tmp_path)):
        alone = gin.query_parameter("%DROPOUT_RATE")
    assert trained == alone == bench.LAB_DROPOUT_RATE == 0.1

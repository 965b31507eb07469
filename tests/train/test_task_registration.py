"""Task registration is explicit: importing ``t5spec.tasks`` registers nothing, the training
tasks register on ``register()``, the evaluation tasks beside their catalogue, the lab's own
tasks only when the lab asks. Each stage is observed in one fresh interpreter (SeqIO's
registries are process-global)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_SCRIPT = r"""
import json, sys

def snapshot():
    import seqio
    names = set(seqio.TaskRegistry.names()) | set(seqio.MixtureRegistry.names())
    return {"names": sorted(n for n in names if n.startswith("t5spec_")),
            "modules": sorted(m for m in sys.modules
                              if m.startswith(("t5spec.evaluate", "t5spec.tasks.lab")))}

out = {}
import t5spec.tasks
out["import"] = snapshot()
t5spec.tasks.register()
t5spec.tasks.register()  # idempotent
out["register"] = snapshot()
from t5spec.evaluate import tasks as eval_tasks
eval_tasks.register()
out["eval"] = snapshot()
from t5spec.tasks import lab
lab.register()
out["lab"] = snapshot()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def stages() -> dict:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _lab(names):
    return [n for n in names if n.startswith("t5spec_lab_")]


def test_importing_the_package_registers_nothing(stages):
    assert stages["import"] == {"names": [], "modules": []}


def test_register_adds_the_training_tasks_only(stages):
    names = stages["register"]["names"]
    assert {"t5spec_gsm8k_spec", "t5spec_gsm8k_gold_spec", "t5spec_gsm8k_sbs",
            "t5spec_gsm8k_gold_sbs"} <= set(names)
    assert not [n for n in names if n.startswith("t5spec_eval_")]
    assert not _lab(names)
    assert stages["register"]["modules"] == []  # neither the evaluation layer nor the lab


def test_evaluation_tasks_are_the_catalogue(stages):
    from t5spec.evaluate import benchmarks

    names = set(stages["eval"]["names"])
    catalogue = {t.name for t in (*benchmarks.EVAL_TASKS, *benchmarks.SBS_EVAL_TASKS)}
    catalogue |= {*benchmarks.MIXTURES, *benchmarks.SBS_MIXTURES}
    assert catalogue <= names
    assert {n for n in names if n.startswith("t5spec_eval_")} == catalogue
    assert not _lab(names)


def test_the_lab_registers_its_own_tasks(stages):
    assert _lab(stages["lab"]["names"]) == [
        "t5spec_lab_generalist", "t5spec_lab_generic_ao", "t5spec_lab_generic_cot",
        "t5spec_lab_teacher"]
    added = set(stages["lab"]["names"]) - set(stages["eval"]["names"]) - set(
        _lab(stages["lab"]["names"]))  # the teacher row's evaluation in its sampling prompt
    assert added == {f"t5spec_eval_{b}_lab_teacher" for b in
                     ("gsm8k", "multiarith", "asdiv", "svamp", "math")}

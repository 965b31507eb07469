"""Command-line gin bindings are syntax-checked alone, so the bad one is named (issue 27/10)."""

from __future__ import annotations

import pytest

from t5spec.errors import InputError
from t5spec.launch.ginsyntax import binding_syntax_error, check_bindings

VALID = [
    "lab.TrainBudget.steps = 400",
    "specialize/lab.TrainBudget.steps=400",
    "MODEL = @spec_models.SpecializationModel()",
    "trainer.Trainer.num_microbatches = %MICRO",
    "utils.DatasetConfig.task_feature_lengths = {'inputs': 400, 'targets': 80}",
    "methods.MethodsConfig.seeds = (0, 1)",
    "INITIAL_CHECKPOINT_PATH = None",
    "from __gin__ import dynamic_registration",
]
INVALID = {
    "lab.TrainBudget.steps=(1": "EOF in multi-line statement",
    "lab.TrainBudget.steps = 3 4": "Expected newline",
    "a.b = foo bar": "Failed to parse token 'foo'",
    "a..b = 1": "Malformatted",
    "MODEL = 'unterminated": "Unable to parse",
}


@pytest.mark.parametrize("binding", VALID)
def test_valid_bindings_pass(binding):
    assert binding_syntax_error(binding) is None


@pytest.mark.parametrize("binding,reason", sorted(INVALID.items()))
def test_invalid_binding_is_named_with_gins_reason(binding, reason):
    assert reason in (binding_syntax_error(binding) or "")
    with pytest.raises(InputError) as err:
        check_bindings([VALID[0], binding], flag="gin_param")
    assert err.value.field == "gin_param"
    assert f"binding #2 {binding!r}" in err.value.reason

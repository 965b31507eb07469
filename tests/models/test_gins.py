"""Every model gin parses, builds T5X's network, and states its true parameter count."""

from __future__ import annotations

import re

import pytest

from t5spec.models import presets


@pytest.mark.parametrize("preset", presets.PRESETS)
def test_model_gin_parses_and_states_its_param_count(preset):
    path = presets.gin_file(preset)
    header = path.read_text()
    stated = int(re.search(r"^# Parameters: ([\d,]+)$", header, re.M).group(1).replace(",", ""))
    config = presets.network_config(path)
    assert config.vocab_size == 32128
    assert tuple(config.mlp_activations) == ("gelu", "linear")
    assert not config.logits_via_embedding
    assert config.dtype == ("float32" if preset == "tiny" else "bfloat16")
    assert presets.param_count(config) == stated


def test_vocab_macro_overrides_to_the_shared_spiece(data_dir):
    spiece = data_dir / "t5_vocab" / "spiece.model"
    model = presets.parse_model_gin(
        presets.gin_file("tiny"), (f"{presets.VOCAB_MACRO} = '{spiece}'",))
    vocab = model.output_vocabulary
    assert vocab.vocab_size == 32100  # 32000 pieces + 100 extra ids, < 32128 rows
    assert vocab.eos_id == 1
    assert vocab.decode(vocab.encode("The answer is 72")) == "The answer is 72"


def test_unknown_preset_is_input_error():
    from t5spec.errors import InputError

    with pytest.raises(InputError, match="unknown preset"):
        presets.gin_file("huge")


def test_cli_modules_import_without_jax_or_tensorflow():
    import subprocess
    import sys

    code = ("import sys, t5spec.models.convert_cli, t5spec.models.presets, "
            "t5spec.models.decoding, t5spec.models.hf_convert, t5spec.models.t5x_checkpoint; "
            "heavy = [m for m in ('jax', 'tensorflow', 't5x', 'torch') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

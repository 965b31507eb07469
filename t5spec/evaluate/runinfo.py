"""What a run directory is: model size, loss, tuning formats — read from what T5X wrote.

Sources, first found wins per field:

1. ``run_info.json`` in the run directory (written by ``t5spec eval`` for baselines, or by
   hand): ``{"name", "model", "loss", "formats", "stage"}``.
2. ``config.gin``, the operative gin config T5X writes into ``MODEL_DIR`` (``t5x.train``) or
   ``EVAL_OUTPUT_DIR`` (``t5x.eval``; then the run is a baseline evaluation):

   * model size from ``network.T5Config.emb_dim`` / ``num_encoder_layers`` (T5 1.1 shapes);
   * loss from ``SpecializationModel.distill_weight`` (1: distribution matching "kl",
     0: sample matching "ce", else "kl+ce(α)"); a plain ``EncoderDecoderModel`` is "ce";
   * formats from the training mixture ``MIXTURE_OR_TASK_NAME`` (``t5spec_gsm8k[_gold]_spec
     [_in_context|_zero_shot]`` or one format's task) minus formats whose ``FormatRates``
     rate is 0: ``"all"``, ``"in_context"``, ``"zero_shot"`` or the formats joined by "+";
     prefixed ``gold:`` for the GSM8K-gold tasks (no teacher, so the loss is "ce").

Anything not found reads "unknown". Pure Python (no gin import: config.gin is parsed as text).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
from pathlib import Path

from t5spec.errors import InputError

FORMATS = ("in_context_answer_only", "in_context_cot", "zero_shot_answer_only", "zero_shot_cot")
# (emb_dim, num_encoder_layers) -> T5 1.1 / FlanT5 size name (gin/models/flant5_<size>.gin).
SIZES = {
    (8, 2): "tiny",
    (512, 8): "small",
    (768, 12): "base",
    (1024, 24): "large",
    (2048, 24): "xl",
    (4096, 24): "xxl",
}
_MIXTURE = re.compile(r"t5spec_gsm8k(?P<gold>_gold)?_(?P<rest>\w+)")
_MIXTURE_FORMATS = {
    "spec": FORMATS,
    "spec_in_context": FORMATS[:2],
    "spec_zero_shot": FORMATS[2:],
    **{f: (f,) for f in FORMATS},
}


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """How a run describes itself (see module docstring for where each field comes from)."""

    name: str
    path: str
    model: str = "unknown"
    loss: str = "unknown"
    formats: str = "unknown"
    # "specialized" (trained here) or "baseline" (what specialized runs of the same model are
    # compared to: evaluated only, or the lab's generalist, marked so in its run_info.json)
    stage: str = "unknown"
    vocab: str | None = None
    data_dir: str | None = None
    eval_before_training: bool = False
    checkpoint: str | None = None  # baselines: the evaluated checkpoint

    @property
    def label(self) -> str:
        """Short legend label: ``name (size, loss, formats)``."""
        if self.stage == "baseline":
            return f"{self.name} ({self.model}, before)"
        return f"{self.name} ({self.model}, {self.loss}, {self.formats})"


def parse_gin(text: str) -> dict[str, object]:
    """``key -> value`` of an operative gin config (macros and bindings; last one wins).

    Values are Python literals where they parse (``'a'`` → str, ``8`` → int), else raw text
    (``@models.EncoderDecoderModel()``). Continuation lines (``\\``) are joined.
    """
    out: dict[str, object] = {}
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        line = line.strip()
        if (
            not line
            or line.startswith("#")
            or "=" not in line
            or line.startswith(("from ", "import "))
        ):
            continue
        key, _, raw = line.partition("=")
        raw = raw.strip()
        try:
            out[key.strip()] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key.strip()] = raw
    return out


def _suffix(config: dict[str, object], suffix: str) -> object | None:
    """The value bound to a key ending in ``suffix``, with ``%MACRO`` references resolved."""
    for key in reversed(list(config)):
        if key == suffix or key.endswith("." + suffix):
            value = config[key]
            for _ in range(8):  # macro chains are short; a cycle stops here
                if not (isinstance(value, str) and value.startswith("%")):
                    break
                value = config.get(value[1:])
            return value
    return None


def _model_size(config: dict[str, object]) -> str:
    emb, layers = (
        _suffix(config, "T5Config.emb_dim"),
        _suffix(config, "T5Config.num_encoder_layers"),
    )
    return SIZES.get((emb, layers), "unknown") if emb is not None else "unknown"


def _loss(config: dict[str, object]) -> str:
    model = str(config.get("MODEL", ""))
    if _suffix(config, "SpecializationModel.objective") == "stepbystep":
        return "unknown"  # as the former StepByStepModel: no single KL / CE weight
    alpha = _suffix(config, "SpecializationModel.distill_weight")
    if "SpecializationModel" in model or alpha is not None:
        alpha = 1.0 if alpha is None else float(alpha)
        return "kl" if alpha == 1.0 else "ce" if alpha == 0.0 else f"kl+ce({alpha:g})"
    return "ce" if "EncoderDecoderModel" in model else "unknown"


def _formats(config: dict[str, object]) -> str:
    match = _MIXTURE.fullmatch(str(config.get("MIXTURE_OR_TASK_NAME", "")))
    if not match or match.group("rest") not in _MIXTURE_FORMATS:
        return "unknown"
    rates = {f: _suffix(config, f"FormatRates.{f}") for f in FORMATS}
    kept = [
        f for f in _MIXTURE_FORMATS[match.group("rest")] if rates[f] is None or float(rates[f]) > 0
    ]
    label = (
        "all"
        if tuple(kept) == FORMATS
        else "in_context"
        if tuple(kept) == FORMATS[:2]
        else "zero_shot"
        if tuple(kept) == FORMATS[2:]
        else "+".join(kept)
    )
    return f"gold:{label}" if match.group("gold") else label


def _stage(config: dict[str, object]) -> str:
    if "TRAIN_STEPS" in config or any(k.startswith("train_script.") for k in config):
        return "specialized"
    if "CHECKPOINT_PATH" in config:
        return "baseline"
    return "unknown"


def from_config(name: str, path: str, config: dict[str, object]) -> RunInfo:
    """A :class:`RunInfo` from a parsed operative config."""
    before = _suffix(config, "train.run_eval_before_training")
    formats = _formats(config)
    return RunInfo(
        name=name,
        path=path,
        model=_model_size(config),
        loss="ce" if formats.startswith("gold:") else _loss(config),  # no teacher: one-hot
        formats=formats,
        stage=_stage(config),
        vocab=config.get("T5SPEC_VOCAB") if isinstance(config.get("T5SPEC_VOCAB"), str) else None,
        data_dir=_suffix(config, "TaskPaths.data_dir")
        if isinstance(_suffix(config, "TaskPaths.data_dir"), str)
        else None,
        eval_before_training=bool(before),
    )


def read_run_info(run_dir: str | os.PathLike) -> RunInfo:
    """The run's self-description: ``run_info.json`` fields over ``config.gin`` fields."""
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(run, "run directory does not exist")
    configs = [run / "config.gin", *sorted(run.glob("eval/*/config.gin"))]
    config_path = next((p for p in configs if p.is_file()), None)
    config = parse_gin(config_path.read_text(encoding="utf-8")) if config_path else {}
    info = from_config(run.name, str(run), config)
    override = run / "run_info.json"
    if override.is_file():
        try:
            fields = json.loads(override.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(override, f"not JSON: {e.msg}", where=f"line {e.lineno}") from None
        if not isinstance(fields, dict):
            raise InputError(override, "expected a JSON object")
        allowed = {f.name for f in dataclasses.fields(RunInfo)} - {"path"}
        unknown = set(fields) - allowed
        if unknown:
            raise InputError(override, f"unknown fields {sorted(unknown)}", field=min(unknown))
        info = dataclasses.replace(info, **fields)
    return info


def write_run_info(run_dir: str | os.PathLike, **fields: object) -> Path:
    """Writes (merging into an existing one) ``run_info.json``; returns its path."""
    path = Path(run_dir) / "run_info.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({**old, **fields}, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    return path

"""SeqIO postprocessors and metric functions: one scoring path for math and BBH alike.

SeqIO calls a task's ``postprocess_fn(text, example=..., is_target=...)`` on every decoded
target and prediction, then each ``metric_fn(targets, predictions)``. Here:

* a postprocessed **target** is a :class:`dict` ``{"id", "benchmark", "mode", "gold",
  "bbh_task"}`` read from the example's string features (never from decoded target tokens, so
  truncating targets to the decode budget cannot change the gold);
* a postprocessed **prediction** is ``{"text": <model output>, "extracted": <answer or None>}``;
* :func:`example_score` turns one (target, prediction) pair into 1.0 / 0.0 with the data
  layer's scorer (:func:`t5spec.data.answers.is_correct` for math,
  :func:`t5spec.data.bbh.bbh_score` for BBH), and both the metric functions and the
  per-example predictions file (:mod:`t5spec.evaluate.loggers`) call it.

Accuracies are fractions in [0, 1]. BBH ``accuracy`` is the macro average over the BBH tasks
present (each of the 27 weighs the same, as BBH is reported); ``accuracy/<task>`` per task.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

Target = dict[str, Any]
Prediction = dict[str, Any]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _gold_target(example: Mapping[str, Any]) -> Target:
    return {
        "id": _text(example["id"]),
        "benchmark": _text(example["benchmark"]),
        "mode": _text(example["mode"]),
        "gold": _text(example["answer"]),
        "bbh_task": _text(example.get("bbh_task", b"")),
    }


def postprocess_math(
    output: str, example: Mapping[str, Any] | None = None, is_target: bool = False
) -> Target | Prediction:
    """Math postprocessor: gold record for targets, ``{text, extracted}`` for predictions.

    ``extracted`` is the canonical text (``format_number``) of the number the data layer's
    :func:`~t5spec.data.answers.extract_answer` finds, or None.
    """
    from t5spec.data.answers import extract_answer, format_number

    if is_target:
        if example is None:
            raise ValueError("postprocess_math needs the example for targets")
        return _gold_target(example)
    text = _text(output)
    value = extract_answer(text)
    return {"text": text, "extracted": None if value is None else format_number(value)}


def postprocess_bbh(
    output: str, example: Mapping[str, Any] | None = None, is_target: bool = False
) -> Target | Prediction:
    """BBH postprocessor: gold record for targets, ``{text, extracted}`` for predictions."""
    from t5spec.data.bbh import extract_bbh_answer

    if example is None:
        raise ValueError("postprocess_bbh needs the example (it holds the mode)")
    if is_target:
        return _gold_target(example)
    text = _text(output)
    return {"text": text, "extracted": extract_bbh_answer(text, _text(example["mode"]))}


def example_score(target: Target, prediction: Prediction) -> float:
    """1.0 if the prediction answers the target correctly, else 0.0 (the one scorer)."""
    if target["benchmark"] == "bbh":
        from t5spec.data.bbh import bbh_score

        return float(bbh_score(prediction["text"], target["gold"], target["mode"]))
    from t5spec.data.answers import is_correct, parse_number

    gold = parse_number(target["gold"])
    return 1.0 if is_correct(prediction["text"], Fraction(gold)) else 0.0


def math_accuracy(targets: Sequence[Target], predictions: Sequence[Prediction]) -> dict:
    """``{"accuracy": fraction correct}`` over aligned targets and predictions."""
    _check_aligned(targets, predictions)
    scores = [example_score(t, p) for t, p in zip(targets, predictions, strict=True)]
    return {"accuracy": sum(scores) / len(scores) if scores else 0.0}


def bbh_accuracy(targets: Sequence[Target], predictions: Sequence[Prediction]) -> dict:
    """Macro accuracy over BBH tasks (``accuracy``) and per task (``accuracy/<task>``)."""
    from t5spec.data.bbh import bbh_accuracies

    _check_aligned(targets, predictions)
    by_task: dict[str, list[float]] = defaultdict(list)
    for t, p in zip(targets, predictions, strict=True):
        by_task[t["bbh_task"]].append(example_score(t, p))
    accuracies = bbh_accuracies(by_task)
    macro = accuracies.pop("macro_average")
    return {"accuracy": macro, **{f"accuracy/{k}": v for k, v in sorted(accuracies.items())}}


def _check_aligned(targets: Sequence, predictions: Sequence) -> None:
    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")

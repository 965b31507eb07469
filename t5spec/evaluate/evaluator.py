"""A ``seqio.Evaluator`` that runs each task on its own schedule inside T5X's ``infer_eval``.

T5X calls ``inference_evaluator_cls(...).evaluate(step=...)`` every ``eval_period`` steps and
at the last step. Cheap benchmarks (math dev subsets) should run every time; expensive ones
(BBH CoT, long decodes) only every k-th step or only at the end. Bind, in gin::

    train_script.train.inference_evaluator_cls = @evaluator.ScheduledEvaluator
    evaluator.ScheduledEvaluator:
      final_step = %TRAIN_STEPS
      task_periods = {'t5spec_eval_bbh_*': 0, 't5spec_eval_*_ic_*': 2000}

A task whose name matches a ``task_periods`` pattern (``fnmatch``, first match wins) runs
when ``step % period == 0``; period 0 means "only at ``final_step``". Unmatched tasks run at
every call; with ``final_step`` None (standalone ``t5x.eval``) every task always runs. The
first evaluation of a process runs every task too (``full_first_eval``): with
``train_script.train.run_eval_before_training = True`` that is the "before specialization"
point of the report's Table 2, BBH included.

``input_length_multiple = m`` (> 0) gives each task its own encoder length: its longest
input rounded up to a multiple of m, at most the mixture's (``sequence_length['inputs']``,
which still truncates as before). seqio pads every task to one length; a zero-shot math
question of ~80 tokens padded to a BBH prompt's 400–512 makes every decoding step attend over
(and T5X's decoder re-project) all those positions — the default lab's ``select`` took 44–46 s
that way, 28–29 s with a multiple of 32, the same outputs (docs/benchmarks.md). Decoding
lengths (``targets``) are left alone. Each distinct length compiles the decode once per
process. seqio's own one-length conversion is then built for the first task only (its
shapes are all seqio reads; the others would be replaced): with the lab's six tasks the
evaluator's set-up took 7.2 s instead of 8.1 s of a specialization process's start-up (one
``py-spy`` profile each, docs/benchmarks.md; the first conversion, ~1.8 s, is most of it).

The evaluator's conversions skip seqio's length assertions (:func:`without_length_check`):
seqio's ``Evaluator`` reads each task with ``trim_output_features`` (or measures its lengths),
and the converter trims and pads to the lengths it is given, so those assertions cannot fire
here; tracing their ``tf.data`` maps was ~1.75 s of the 4.1 s that re-converting the lab's six
tasks took in a specialization process's start-up (py-spy, docs/benchmarks.md, 2026-12-07).
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Mapping, Sequence

import seqio
from absl import logging


def task_due(
    name: str, step: int | None, periods: Mapping[str, int], final_step: int | None
) -> bool:
    """Whether task ``name`` is evaluated at ``step`` (see module docstring)."""
    if final_step is None or step is None or step >= final_step:
        return True
    for pattern, period in periods.items():
        if fnmatch.fnmatchcase(name, pattern):
            return period > 0 and step % period == 0
    return True


def without_length_check(converter: seqio.FeatureConverter) -> seqio.FeatureConverter:
    """A shallow copy of ``converter`` whose conversions attach no length assertions (seqio's
    ``apply_length_check=False``); the converter itself is left as it is."""
    if not hasattr(converter, "_apply_length_check"):
        raise TypeError(f"{type(converter).__name__} is not a seqio FeatureConverter with a "
                        "length check (seqio's apply_length_check)")
    out = copy.copy(converter)
    out._apply_length_check = False
    return out


class _FirstTaskOnly:
    """The feature converter, for ``seqio.Evaluator.__init__`` alone: converts the first
    task's dataset and returns that same converted dataset for every other task (which
    :meth:`ScheduledEvaluator._per_task_inputs` converts again with its own length)."""

    def __init__(self, converter: seqio.FeatureConverter) -> None:
        self._converter, self._first = converter, None

    def __getattr__(self, name: str):
        return getattr(self._converter, name)

    def __call__(self, ds, task_feature_lengths):
        if self._first is None:
            self._first = self._converter(ds, task_feature_lengths)
        return self._first


class ScheduledEvaluator(seqio.Evaluator):
    """``seqio.Evaluator`` whose tasks run on per-task periods (see module docstring).

    Extra args (all other args are ``seqio.Evaluator``'s, passed through):
      task_periods: fnmatch pattern of task names -> period in steps (0: final step only).
      final_step: the run's last step (``%TRAIN_STEPS``); None disables scheduling.
      full_first_eval: evaluate every task at the first ``evaluate`` call.
      input_length_multiple: > 0: each task's own encoder length (see module docstring).
    """

    def __init__(
        self,
        mixture_or_task_name: str,
        feature_converter: seqio.FeatureConverter,
        *,
        task_periods: Mapping[str, int] | None = None,
        final_step: int | None = None,
        full_first_eval: bool = True,
        logger_cls: Sequence[type[seqio.Logger]] = (),
        num_examples: int | None = None,
        use_memory_cache: bool = True,
        input_length_multiple: int = 0,
        **kwargs,
    ):
        if int(input_length_multiple) < 0:
            raise ValueError(f"input_length_multiple = {input_length_multiple} must be >= 0")
        self._task_periods = dict(task_periods or {})
        for pattern, period in self._task_periods.items():
            if int(period) < 0:
                raise ValueError(f"task_periods[{pattern!r}] = {period} must be >= 0")
        self._final_step = final_step
        self._full_next = full_first_eval
        feature_converter = without_length_check(feature_converter)
        super().__init__(
            mixture_or_task_name,
            _FirstTaskOnly(feature_converter) if input_length_multiple else feature_converter,
            logger_cls=logger_cls,
            num_examples=num_examples,
            use_memory_cache=use_memory_cache,
            **kwargs,
        )
        self._all_tasks = tuple(self._eval_tasks)
        if input_length_multiple:
            self._per_task_inputs(feature_converter, int(input_length_multiple))

    def _per_task_inputs(self, feature_converter: seqio.FeatureConverter, multiple: int) -> None:
        """Re-converts each task's cached examples with its own (shorter) encoder length."""
        shapes = self._model_feature_shapes
        if "encoder_input_tokens" not in shapes or "decoder_target_tokens" not in shapes:
            raise ValueError("input_length_multiple needs an encoder-decoder feature converter")
        cap, targets = shapes["encoder_input_tokens"][0], shapes["decoder_target_tokens"][0]
        self.input_lengths: dict[str, int] = {}
        for task in self._all_tasks:
            ds = self._cached_task_datasets[task.name]
            longest = max((len(ex["inputs"]) for ex in ds.as_numpy_iterator()), default=1)
            length = min(cap, -(-max(longest, 1) // multiple) * multiple)
            self.input_lengths[task.name] = length
            self._cached_model_datasets[task.name] = feature_converter(
                ds, {"inputs": length, "targets": targets}).enumerate()
        logging.info("Encoder lengths per task (multiple %d, at most %d): %s", multiple, cap,
                     self.input_lengths)

    def due_tasks(self, step: int | None) -> list[seqio.Task]:
        """The tasks evaluated at ``step``."""
        return [
            t
            for t in self._all_tasks
            if task_due(t.name, step, self._task_periods, self._final_step)
        ]

    def evaluate(self, *, compute_metrics: bool, step: int | None = None, **kwargs):
        """``seqio.Evaluator.evaluate`` restricted to the tasks due at ``step``."""
        # seqio computes metrics in a thread that iterates ``self.eval_tasks``: let the
        # previous computation finish before the task list changes under it.
        if self._metrics_future is not None:
            self._metrics_future.result()
        due = list(self._all_tasks) if self._full_next else self.due_tasks(step)
        self._full_next = False
        skipped = sorted(t.name for t in self._all_tasks if t not in due)
        if skipped:
            logging.info("Step %s: not due, skipping %s", step, ", ".join(skipped))
        self._eval_tasks = due
        return super().evaluate(compute_metrics=compute_metrics, step=step, **kwargs)

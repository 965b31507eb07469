"""What the report reads from a run directory: :class:`RunData` and its column names.

:func:`load_run_data` reads one run (results files, ``config.gin`` / ``run_info.json``,
TensorBoard training events); :mod:`t5spec.report` renders the tables and
:mod:`t5spec.report_figures` the figures from it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from t5spec.evaluate import results, runinfo, select
from t5spec.evaluate.benchmarks import BBH_MODES, DEFAULT_MATH_MODE, MATH_BENCHMARKS
from t5spec.evaluate.results import Table

NOT_RUN = "not run"
MATH_COLS = tuple(f"{b}/{DEFAULT_MATH_MODE}" for b in MATH_BENCHMARKS)
BBH_COLS = tuple(f"bbh/{m}" for m in BBH_MODES)
MAS_COLS = MATH_COLS[1:]
TABLE_COLS = (*MATH_COLS, *BBH_COLS)
COL_NAMES = ("GSM8K", "MultiArith", "ASDiv", "SVAMP", "BBH-AO", "BBH-CoT")
FIGURES = ("fig2_curves.png", "fig3_matching.png", "fig4_formats.png")


@dataclasses.dataclass
class RunData:
    """Everything the report needs from one run directory."""

    info: runinfo.RunInfo
    dev: Table
    test: Table
    selections: dict[str, select.Selection | None]
    loss: list[tuple[int, float]]

    @property
    def baseline(self) -> bool:
        return self.info.stage == "baseline"

    def report_step(self, rule: str = "gsm8k_dev") -> int | None:
        """The checkpoint a table row shows: selected by ``rule``; baselines: latest test."""
        if self.baseline:
            steps = list(self.test) or list(self.dev)
            return max(steps) if steps else None
        sel = self.selections.get(rule)
        return None if sel is None else sel.step


def read_loss_curve(run_dir: Path, tag: str = "loss") -> list[tuple[int, float]]:
    """``[(step, value)]`` of a training scalar from ``RUN/train/events.*`` (empty if none).

    Read with TensorBoard's own TFRecord reader and protos, without importing TensorFlow (6 of
    the report's 8 seconds on a CPU host); a record still being written ends a file's points.
    """
    files = sorted((run_dir / "train").glob("events.out.tfevents.*"))
    if not files:
        return []
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow
    from tensorboard.util import tensor_util

    points: dict[int, float] = {}
    for path in files:
        reader = pywrap_tensorflow.PyRecordReader_New(str(path).encode(), 0, b"", None)
        while True:
            try:
                reader.GetNext()
            except (errors.OutOfRangeError, errors.DataLossError):
                break
            event = event_pb2.Event.FromString(reader.record())
            for value in event.summary.value:
                if value.tag != tag:
                    continue
                kind = value.WhichOneof("value")
                number = (
                    float(tensor_util.make_ndarray(value.tensor))
                    if kind == "tensor"
                    else float(value.simple_value)
                )
                points[int(event.step)] = number
    return sorted(points.items())


def load_run_data(run_dir: str | os.PathLike) -> RunData:
    """Reads one run; InputError if it has no evaluation results at all."""
    path = Path(run_dir)
    records = results.load_run(path)
    info = runinfo.read_run_info(path)
    dev = results.accuracy_table(records, "dev")
    return RunData(
        info=info,
        dev=dev,
        test=results.accuracy_table(records, "test"),
        selections=_selections(dev, info.eval_before_training),
        loss=read_loss_curve(path),
    )


def _selections(dev: results.Table, eval_before_training: bool) -> dict:
    candidates = select.trained_steps(dev, eval_before_training)
    return select.select_all(candidates) if candidates else dict.fromkeys(select.RULES)


def row_at(table: Table, step: int | None) -> dict[str, float]:
    """``table``'s row at ``step`` (empty when the step is None or was not evaluated)."""
    return {} if step is None else table.get(step, {})

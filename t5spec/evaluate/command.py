"""The exact ``python -m t5x.eval`` command for one checkpoint, and running it.

``t5spec eval`` and ``t5spec select`` build an :class:`EvalRequest`, print
:func:`t5x_eval_argv` (``--print_only``) or run it with :func:`run_eval`. The command is
plain T5X: the model gin (``gin/models/flant5_<size>.gin``), then ``gin/eval_spec.gin``, then
``--gin.`` bindings — so it can be copied, edited and launched anywhere T5X runs.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
from pathlib import Path

from t5spec import gin_names as gn
from t5spec import hugepages, paths, subprocs
from t5spec.errors import InputError

GIN_ROOT = paths.gin_root()  # the gin search path: includes name 'gin/…'
GIN_DIR = GIN_ROOT / "gin"
EVAL_GIN = GIN_DIR / "eval_spec.gin"
LOG_NAME = "t5x_eval.log"
SPLITS = ("validation", "test", "full_test", "paper_dev")
_CHECKPOINT_MARKERS = ("_CHECKPOINT_METADATA", "checkpoint", "commit_success.txt")


@dataclasses.dataclass(frozen=True)
class EvalRequest:
    """One evaluation of one checkpoint (fields map to ``gin/eval_spec.gin`` macros).

    Attributes:
      checkpoint: T5X checkpoint directory (``.../checkpoint_<step>``), local or ``gs://``;
        with ``every_checkpoint``, a directory of ``checkpoint_<step>`` directories, all of
        which one ``t5x.eval`` process evaluates in turn (T5X's restore mode ``all``).
      model_gin: the model gin file (size), e.g. ``gin/models/flant5_small.gin``.
      output_dir: ``EVAL_OUTPUT_DIR``; results land in ``<output_dir>/inference_eval/``.
      mixture: a task or mixture name, or a tuple of names (an ad-hoc mixture).
      split: SeqIO split (``validation`` = dev, ``test``, ``full_test``, ``paper_dev``).
      max_examples / max_decode_length / batch_size: budgets; None keeps the gin default.
      vocab: ``T5SPEC_VOCAB`` (the SentencePiece file); None keeps the model gin's.
      data_dir: ``TaskPaths.data_dir``; None uses ``$T5SPEC_DATA_DIR``.
      bindings: extra ``--gin.`` bindings (``"KEY=VALUE"``).
    """

    checkpoint: str
    model_gin: str
    output_dir: str
    mixture: str | tuple[str, ...] = "t5spec_eval_all"
    split: str = "test"
    max_examples: int | None = None
    max_decode_length: int | None = None
    batch_size: int | None = None
    vocab: str | None = None
    data_dir: str | None = None
    bindings: tuple[str, ...] = ()
    every_checkpoint: bool = False


def model_gin(model: str) -> str:
    """``gin/models/flant5_<size>.gin`` for a size name, or the given gin path if it exists."""
    if model.endswith(".gin"):
        if not Path(model).is_file():
            raise InputError(model, "model gin file not found", field="model")
        return str(Path(model).resolve())
    path = GIN_DIR / "models" / f"flant5_{model}.gin"
    if not path.is_file():
        sizes = sorted(p.stem.removeprefix("flant5_") for p in (GIN_DIR / "models").glob("*.gin"))
        raise InputError(
            path, f"unknown model size {model!r}; choose from {sizes} or a .gin path", field="model"
        )
    return str(path)


def check_checkpoint(path: str) -> None:
    """InputError unless ``path`` looks like a T5X checkpoint directory (local paths only)."""
    if "://" in path:
        return
    p = Path(path)
    if not p.is_dir():
        raise InputError(p, "checkpoint directory does not exist", field="checkpoint")
    if not any((p / m).exists() for m in _CHECKPOINT_MARKERS):
        raise InputError(
            p,
            "not a T5X checkpoint (no _CHECKPOINT_METADATA / checkpoint file)",
            field="checkpoint",
        )


def _q(value: str) -> str:
    return repr(str(value))


def t5x_eval_argv(req: EvalRequest) -> list[str]:
    """The ``python -m t5x.eval ...`` argument vector for ``req``."""
    if req.split not in SPLITS:
        raise InputError(None, f"unknown split {req.split!r}; choose from {SPLITS}", field="split")
    gn.check_not_renamed(req.bindings, flag="gin")  # "... was renamed to X"
    argv = [
        sys.executable,
        "-m",
        "t5x.eval",
        f"--gin_search_paths={GIN_ROOT}",
        f"--gin_file={req.model_gin}",
        f"--gin_file={EVAL_GIN}",
        f"--gin.{gn.CHECKPOINT_PATH}={_q(req.checkpoint)}",
        f"--gin.{gn.EVAL_OUTPUT_DIR}={_q(req.output_dir)}",
        f"--gin.{gn.EVAL_SPLIT}={_q(req.split)}",
    ]
    if isinstance(req.mixture, tuple):
        argv += [
            f"--gin.{gn.MIXTURE_OR_TASK_NAME}=@{gn.MIXTURE_OF}()",
            f"--gin.{gn.MIXTURE_OF_TASKS}={list(req.mixture)!r}",
        ]
    else:
        argv.append(f"--gin.{gn.MIXTURE_OR_TASK_NAME}={_q(req.mixture)}")
    for macro, value in (
        (gn.EVAL_MAX_EXAMPLES, req.max_examples),
        (gn.MAX_DECODE_LENGTH, req.max_decode_length),
        (gn.EVAL_BATCH_SIZE, req.batch_size),
    ):
        if value is not None:
            argv.append(f"--gin.{macro}={int(value)}")
    if req.vocab:
        argv.append(f"--gin.{gn.T5SPEC_VOCAB}={_q(req.vocab)}")
    if req.data_dir:
        argv.append(f"--gin.{gn.TASK_DATA_DIR}={_q(req.data_dir)}")
    if req.every_checkpoint:
        argv.append(f"--gin.{gn.RESTORE_MODE}='all'")
    argv += [f"--gin.{b}" for b in req.bindings]
    return argv


def shell_command(req: EvalRequest) -> str:
    """:func:`t5x_eval_argv` as one copy-pasteable shell line (``python`` for the interpreter)."""
    return " ".join(_shell_quote(a) for a in ["python", *t5x_eval_argv(req)[1:]])


def _shell_quote(arg: str) -> str:
    """``--gin.X="'v'"`` style quoting (what T5X docs show), else shlex quoting."""
    if "'" in arg and "=" in arg and not any(c in arg for c in '"$`\\'):
        key, _, value = arg.partition("=")
        return f'{key}="{value}"'
    return shlex.quote(arg)


def run_eval(req: EvalRequest, *, timeout_s: float | None = None) -> Path:
    """Runs t5x.eval for ``req``; returns ``<output_dir>/inference_eval``.

    The child's output goes to ``<output_dir>/t5x_eval.log``. A failed run (checkpoint that
    does not load, bad gin) raises InputError with the log's last lines; whatever the run had
    already written stays. A child still tearing down a second after T5X logged ``Finished.``
    (its metrics written) is stopped (:func:`t5spec.subprocs.wait`).
    """
    if req.every_checkpoint:
        found = sorted(Path(req.checkpoint).glob("checkpoint_*"))
        if not found:
            raise InputError(req.checkpoint, "no checkpoint_<step> directories", field="checkpoint")
        for path in found:
            check_checkpoint(str(path))
    else:
        check_checkpoint(req.checkpoint)
    out = Path(req.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / LOG_NAME
    env = {**hugepages.with_huge_pages(os.environ), "PYTHONUNBUFFERED": "1"}
    with open(log, "w", encoding="utf-8") as f:
        f.write(shell_command(req) + "\n\n")
        f.flush()
        proc = subprocess.Popen(t5x_eval_argv(req), stdout=f, stderr=subprocess.STDOUT, env=env)
        try:
            stopped = subprocs.wait(proc, log, f.tell(), finished=subprocs.T5X_EVAL_FINISHED,
                                    timeout_s=timeout_s)
        except subprocess.TimeoutExpired:
            raise InputError(log, f"t5x.eval did not finish in {timeout_s:g} s") from None
    if not stopped and proc.returncode != 0:
        tail = _error_line(log.read_text(encoding="utf-8", errors="replace"))
        raise InputError(
            req.checkpoint,
            f"t5x.eval failed (exit {proc.returncode}): {tail} (full log: {log})",
            field="checkpoint",
        )
    return out / "inference_eval"


def _error_line(text: str) -> str:
    """The last exception line of a log (``SomethingError: ...``), else its last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        head = ln.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) and " " not in head:
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


def add_eval_arguments(parser) -> None:
    """Flags shared by ``t5spec eval`` and ``t5spec select`` (budgets, vocabulary, gin)."""
    parser.add_argument(
        "--benchmarks",
        default="all",
        help="comma-separated tasks/mixtures/columns: all, math, bbh, gsm8k, "
        "gsm8k/ic_cot, t5spec_eval_math_zs_ao, ... (default: all)",
    )
    parser.add_argument(
        "--split",
        default="test",
        choices=SPLITS,
        help="SeqIO split: validation (= dev), test, full_test, paper_dev",
    )
    parser.add_argument("--max_examples", type=int, help="cap per task (default: all)")
    parser.add_argument("--max_decode_length", type=int, help="decode budget (default 256)")
    parser.add_argument("--batch_size", type=int, help="eval batch size (default 32)")
    parser.add_argument("--vocab", help="T5SPEC_VOCAB: the SentencePiece model file")
    parser.add_argument("--data_dir", help="raw-data root (default: $T5SPEC_DATA_DIR)")
    parser.add_argument(
        "--gin",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra gin binding (repeatable)",
    )
    parser.add_argument(
        "--print_only", action="store_true", help="print the t5x.eval command instead of running it"
    )
    parser.add_argument("--timeout_s", type=float, help="give up on t5x.eval after this long")


def mixture_for(benchmarks_arg: str) -> str | tuple[str, ...]:
    """A registered task/mixture name for ``--benchmarks``, else the tuple of task names."""
    from t5spec.evaluate import benchmarks

    names = benchmarks.resolve_names(
        "t5spec_eval_all" if benchmarks_arg == "all" else benchmarks_arg
    )
    if len(names) == 1:
        return names[0]
    return benchmarks.mixture_named(names) or names

"""``t5spec data summary``: one table row per dataset and split — count and an example question.

Reads every math split and the BBH dev/test/all splits from ``--data_dir`` (or
``$T5SPEC_DATA_DIR``). Bad input stops with one line naming the file, line/record and field
(exit status 2) unless ``--skip_invalid``, which drops bad records and shows how many.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

EXAMPLE_WIDTH = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    summary = sub.add_parser("summary", help="count examples per dataset and split")
    summary.add_argument("--data_dir", default=None, help="raw data root (else $T5SPEC_DATA_DIR)")
    summary.add_argument(
        "--per_task", action="store_true", help="one row per BBH task instead of one per split"
    )
    summary.add_argument(
        "--skip_invalid", action="store_true", help="drop invalid records and count them"
    )


def _truncate(text: str, width: int = EXAMPLE_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def summary_rows(
    data_dir: str | None, *, per_task: bool = False, skip_invalid: bool = False
) -> list[tuple[str, str, int, int, str]]:
    """Rows ``(dataset, split, count, skipped, example question)``."""
    from t5spec import paths
    from t5spec.data import bbh, math_datasets

    root = paths.data_dir(data_dir)
    rows = []
    for name in math_datasets.MATH_DATASETS:
        for split in math_datasets.SPLITS[name]:
            examples = math_datasets.load(name, split, root, skip_invalid=skip_invalid)
            example = _truncate(examples[0].question) if examples else ""
            rows.append((name, split, len(examples), len(examples.skipped), example))
    for split in ("dev", "test", "full_test"):
        per = {task: bbh.bbh_split(task, split, root) for task in bbh.available_tasks(root)}
        if per_task:
            for task, examples in per.items():
                rows.append((f"bbh/{task}", split, len(examples), 0, _truncate(examples[0].input)))
        else:
            first = next(iter(per.values()))[0].input
            rows.append(("bbh", split, sum(map(len, per.values())), 0, _truncate(first)))
    return rows


def format_table(rows: Sequence[tuple[str, str, int, int, str]], *, show_skipped: bool) -> str:
    header = ("dataset", "split", "count", "skipped", "example question")
    cells = [header, *[(d, s, str(c), str(k), e) for d, s, c, k, e in rows]]
    if not show_skipped:
        cells = [(d, s, c, e) for d, s, c, _, e in cells]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]) - 1)]
    lines = []
    for r in cells:
        left = [v.rjust(w) if v.isdigit() else v.ljust(w) for v, w in zip(r, widths, strict=False)]
        lines.append("  ".join([*left, r[-1]]).rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    rows = summary_rows(args.data_dir, per_task=args.per_task, skip_invalid=args.skip_invalid)
    print(format_table(rows, show_skipped=args.skip_invalid), file=out)
    return 0

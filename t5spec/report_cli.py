"""``t5spec report``: render the paper's tables and figures from run directories.

Example::

    t5spec report --runs runs/flant5_small_before runs/small_kl runs/small_ce --output report/

Writes ``report/report.md`` (Tables 1–3) and ``fig2_curves.png``, ``fig3_matching.png``,
``fig4_formats.png`` (see :mod:`t5spec.report`). A run without any evaluation results is an
error; a benchmark a run never evaluated prints ``not run``. ``--from_results R.json [...]``
regenerates ``OUTPUT/results.md`` from results files instead (:mod:`t5spec.report_results`).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--runs",
        nargs="+",
        metavar="DIR",
        help="run directories (T5X MODEL_DIRs or baseline eval dirs)",
    )
    source.add_argument(
        "--from_results",
        nargs="+",
        metavar="JSON",
        help="results.json file(s) (merged) -> OUTPUT/results.md (t5spec.report_results)",
    )
    parser.add_argument("--output", required=True, help="where report.md and PNGs go")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "from_results", None):
        from t5spec.report_results import write_regenerated

        path = write_regenerated(args.from_results, args.output)
        print(f"wrote {path}")
        return 0
    from t5spec.report import build_report

    path = build_report(args.runs, args.output)
    print(f"wrote {path}")
    return 0

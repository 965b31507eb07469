"""The report's figures (matplotlib, Agg), drawn from :class:`t5spec.report_data.RunData`.

* Figure 2 — GSM8K / M-A-S / BBH-AO / BBH-CoT dev accuracy vs steps.
* Figure 3 — distribution (KL) vs sample (CE) matching: training loss and GSM8K dev accuracy.
* Figure 4 — tuning formats (in-context / zero-shot / all) × GSM8K dev tested in-context and
  zero-shot.

A number no evaluation produced is drawn as "not run", never as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from t5spec.evaluate.results import Table, mean_of
from t5spec.report_data import BBH_COLS, MAS_COLS, MATH_COLS, NOT_RUN, RunData, row_at


def _series(table: Table, cols: Sequence[str]) -> tuple[list[int], list[float]]:
    points = [(s, mean_of(row, cols)) for s, row in table.items()]
    points = [(s, 100 * v) for s, v in points if v is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _not_run(ax, text: str = NOT_RUN) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def _curves(ax, runs: Sequence[RunData], cols: Sequence[str], title: str) -> None:
    drawn = False
    for run in runs:
        steps, values = _series(run.dev, cols)
        if not steps:
            continue
        if run.baseline:
            ax.axhline(values[-1], linestyle=":", color="gray", label=run.info.label)
        else:
            ax.plot(steps, values, marker="o", label=run.info.label)
        drawn = True
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel("dev accuracy (%)")
    ax.set_ylim(-2, 102)
    if drawn:
        ax.legend(fontsize=6)
    else:
        _not_run(ax)


def figure2(runs: Sequence[RunData], path: Path) -> Path:
    """Math and BBH dev accuracy vs training steps."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [
        (MATH_COLS[:1], "GSM8K dev"),
        (MAS_COLS, "M-A-S dev (mean)"),
        (BBH_COLS[:1], "BBH answer-only dev"),
        (BBH_COLS[1:], "BBH CoT dev"),
    ]
    for ax, (cols, title) in zip(axes.flat, panels, strict=True):
        _curves(ax, runs, cols, title)
    fig.suptitle("Figure 2: specialization trades generic (BBH) for math ability")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def figure3(runs: Sequence[RunData], path: Path) -> Path:
    """Distribution vs sample matching: training loss and GSM8K dev accuracy vs steps."""
    import matplotlib.pyplot as plt

    trained = [r for r in runs if not r.baseline]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    with_loss = [r for r in trained if r.loss]
    for run in with_loss:
        loss_ax.plot(
            [p[0] for p in run.loss],
            [p[1] for p in run.loss],
            label=f"{run.info.name} ({run.info.loss})",
        )
    loss_ax.set_title("training loss")
    loss_ax.set_xlabel("step")
    if with_loss:
        loss_ax.legend(fontsize=6)
    else:
        _not_run(loss_ax)
    _curves(acc_ax, trained, MATH_COLS[:1], "GSM8K dev accuracy")
    fig.suptitle("Figure 3: distribution matching (kl) vs sample matching (ce)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def figure4(runs: Sequence[RunData], path: Path) -> Path:
    """Tuning formats vs test prompting: GSM8K dev, in-context and zero-shot CoT."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    trained = [r for r in runs if not r.baseline] or list(runs)
    modes = (("ic_cot", "tested in-context"), ("zs_cot", "tested zero-shot"))
    fig, ax = plt.subplots(figsize=(max(5, 2.2 * len(trained)), 4))
    width = 0.38
    for k, (mode, _) in enumerate(modes):
        for i, run in enumerate(trained):
            value = row_at(run.dev, run.report_step()).get(f"gsm8k/{mode}")
            x = i + (k - 0.5) * width
            if value is None:
                ax.text(x, 1, NOT_RUN, rotation=90, ha="center", va="bottom", fontsize=7)
            else:
                ax.bar(x, 100 * value, width, color=f"C{k}")
                ax.text(x, 100 * value + 1, f"{100 * value:.1f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(trained)))
    ax.set_xticklabels([f"{r.info.name}\ntuned: {r.info.formats}" for r in trained], fontsize=7)
    ax.set_ylabel("GSM8K dev accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(handles=[Patch(color=f"C{k}", label=m[1]) for k, m in enumerate(modes)], fontsize=7)
    ax.set_title("Figure 4: tuning formats × test prompting")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path



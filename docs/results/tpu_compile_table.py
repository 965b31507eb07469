"""The docs table (and, with --headers, the gin header lines) from the committed compiles.

Usage (repository root): python docs/results/tpu_compile_table.py [--headers]
Reads every ``docs/results/<date>-tpu-compile/*.json`` (``t5spec plan --compile ... --json``
output; the command is rebuilt from it, the date is the folder's); where a gin was compiled on
the same topology on several dates, the latest counts. The analytic column is today's
``t5spec plan`` (``costs.py``) for the same gin, overrides and topology.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from absl import logging

from t5spec.launch import planning
from t5spec.launch.compile_report import memory_ratio

RESULTS = Path(__file__).resolve().parent
REPO = RESULTS.parents[1]
GIB = 2**30
HIDDEN = ("MODEL_DIR", "T5SPEC_VOCAB")  # added by the compile itself


def secs(x: float) -> str:
    return f"{x:.2f} s" if x >= 0.1 else f"{x * 1e3:.1f} ms"


def row(path: Path) -> dict:
    d = json.loads(path.read_text())
    train, infer = d["train"], d["infer_eval"]
    analytic = planning.replan_compiled(d).memory.total  # today's costs.py, not the JSON's
    over = [o.replace(" ", "") for o in d["overrides"] if not o.startswith(HIDDEN)]
    gin = d["gin_files"][0]
    cmd = f"t5spec plan --compile --gin_file={gin} --topology={d['topology']}"
    cmd += "".join(f" --gin_bindings={o}" for o in over)
    return {
        "name": path.stem, "date": path.parent.name[:10], "folder": path.parent.name,
        "gin": gin, "topo": d["topology"], "over": over, "cmd": cmd,
        "mesh": f"{d['mesh']['data']}×{d['mesh']['model']}", "micro": d["num_microbatches"],
        "gib": train["total_bytes"] / GIB, "hbm": d["hbm_gib_per_chip"],
        "fits": "yes" if d["fits"] else "NO", "flops": d["step_flops"],
        "t50": d["step_seconds_at_half_peak"],
        "infer": infer["total_bytes"] / GIB if infer else float("nan"),
        "compile": train["compile_seconds"] + (infer["compile_seconds"] if infer else 0.0),
        "ana": analytic / GIB,
        "ratio": memory_ratio(analytic, train["total_bytes"]),
    }


def table(rows: list[dict]) -> str:
    lines = ["| run gin | date | topology | mesh (data×model), microbatches"
             " | GiB per chip (XLA, train) | fits | step FLOPs (XLA) | step time at 50% peak"
             " | infer_eval GiB per chip | analytic GiB (ratio) | compile s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        extra = f" ({', '.join(r['over'])})" if r["over"] else ""
        lines.append(f"| `{r['gin']}`{extra} | {r['date']} | {r['topo']} | "
                     f"{r['mesh']}, {r['micro']} | "
                     f"{r['gib']:.2f} of {r['hbm']:g} | {r['fits']} | {r['flops']:.2e} | "
                     f"{secs(r['t50'])} | {r['infer']:.2f} | {r['ana']:.2f} "
                     f"({r['ratio']:.2f}×) | {r['compile']:.0f} |")
    return "\n".join(lines)


def header(r: dict) -> str:
    return (f"#   XLA ({r['date']}): {r['gib']:.2f} GiB of {r['hbm']:g} GiB per chip on "
            f"{r['topo']} "
            f"(mesh {r['mesh']},\n#   {r['micro']} microbatch(es)), fits: {r['fits']}; "
            f"{r['flops']:.2e} FLOP/step, {secs(r['t50'])}/step at 50% of bf16 peak;\n"
            f"#   infer_eval step {r['infer']:.2f} GiB per chip. From `JAX_PLATFORMS=cpu "
            f"t5spec plan --compile\n#   {r['cmd'].removeprefix('t5spec plan --compile ')}` "
            f"(docs/results/{r['folder']}/).\n")


def write_header(r: dict) -> None:
    path = REPO / r["gin"]
    text = re.sub(r"#   XLA \(\d{4}-\d\d-\d\d\).*?\n(?=# Expected:)", "", path.read_text(),
                  flags=re.S)
    if text.count("# Expected:") != 1:
        raise SystemExit(f"{path}: no single '# Expected:' line to put the XLA figure before")
    path.write_text(text.replace("# Expected:", header(r) + "# Expected:"))
    print(f"updated {path}")


def main() -> None:
    logging.set_verbosity(logging.ERROR)
    latest = {p.name: p for p in sorted(RESULTS.glob("*-tpu-compile/*.json"))}  # by date
    rows = sorted((row(p) for p in latest.values()), key=lambda r: (r["flops"], r["name"]))
    print(table(rows))
    if "--headers" in sys.argv:
        for r in rows:
            if not r["over"]:
                write_header(r)


if __name__ == "__main__":
    main()

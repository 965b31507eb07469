"""A result as a file: ``results.json`` (per cell, per-item correctness) → ``results.md``.

``results.json`` (schema ``t5spec.results/1``) holds everything needed to recompute every
interval of ``results.md``, and :func:`render` is a pure function of it, so
``t5spec report --from_results DIR/results.json`` regenerates ``results.md`` byte for byte
(bootstrap with a fixed seed). Layout::

    {"schema": "t5spec.results/1", "title": str, "command": str, "gin": [str],
     "bindings": [str], "commit": str, "machine": str, "date": "YYYY-MM-DD",
     "wall_time_s": float | null, "stage_seconds": {stage: float},
     "slots": {"gsm8k/zs_cot": {"items": [key, ...], "groups": [task, ...] | null}, ...},
     "comparisons": [["dm", "generalist"], ["sm", "generalist"], ["dm", "sm"],
                     ["sm_vote", "sm", "same seeds"]],
     "cells": [{"method": "dm", "size": "lab-128d-2L", "params": 1404416, "seed": 0,
                "step": 300, "correct": {"gsm8k/zs_cot": "0100-1…", ...}}, ...]}

``correct[slot][i]`` is ``1``/``0`` for ``slots[slot]["items"][i]`` answered right/wrong and
``-`` when the cell did not score that item. A table row is one (method, size): the seeds'
answers are averaged per item, intervals are bootstrap over items (each BBH task one
stratum); a comparison ``A − B`` is paired on the items both scored (every seed), per size
and slot (:mod:`t5spec.evaluate.stats`); a B with one row alone at its size (a reference for
the whole world, e.g. the methods experiment's ``teacher``) is compared at every size. A
comparison marked ``"same seeds"`` (the same trained students answering two ways) pairs only
the seeds both rows have, seed with seed.
Several files (parts of one experiment, e.g. one per ``--sizes``) merge when their slots list
the same items.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from t5spec.errors import InputError
from t5spec.evaluate import items, stats

SCHEMA = "t5spec.results/1"
SAMPLES = 2000
SAME_SEEDS = "same seeds"  # a comparison's optional third element
_META = ("title", "command", "gin", "bindings", "commit", "machine", "date", "wall_time_s")


# ------------------------------------------------------------------------------- building
def cell(method: str, size: str, params: int | None, seed: int, step: int,
         found: dict[str, items.Items]) -> dict:  # fmt: skip
    """A cell from per-item results (items keyed; :func:`document` lays them out)."""
    return {"method": method, "size": size, "params": params, "seed": seed, "step": step,
            "found": found}  # fmt: skip


def document(meta: dict, cells: Sequence[dict], comparisons: Sequence[tuple[str, ...]]) -> dict:
    """The ``results.json`` object of ``cells`` (from :func:`cell`) and run metadata."""
    slots: dict[str, dict] = {}
    for c in cells:
        for column, found in c["found"].items():
            slot = slots.setdefault(column, {"items": {}, "groups": {}})
            for i, key in enumerate(found.keys):
                slot["items"].setdefault(key, None)
                slot["groups"][key] = found.groups[i] if found.groups else None
    laid = {column: {"items": list(s["items"]),
                     "groups": None if all(g is None for g in s["groups"].values())
                     else [s["groups"][k] for k in s["items"]]}
            for column, s in sorted(slots.items(), key=lambda kv: _slot_order(kv[0]))}
    out_cells = []
    for c in cells:
        bits = {}
        for column, found in sorted(c["found"].items()):
            scored = dict(zip(found.keys, found.correct.tolist(), strict=True))
            bits[column] = "".join("-" if k not in scored else "1" if scored[k] else "0"
                                   for k in laid[column]["items"])  # fmt: skip
        out_cells.append({k: c[k] for k in ("method", "size", "params", "seed", "step")}
                         | {"correct": bits})
    return {"schema": SCHEMA, **{k: meta.get(k) for k in _META},
            "stage_seconds": meta.get("stage_seconds", {}), "slots": laid,
            "comparisons": [list(p) for p in comparisons], "cells": out_cells}


ORDER = ("gsm8k", "multiarith", "asdiv", "svamp", "bbh")  # in-distribution, OOD, generic


def _slot_order(column: str) -> tuple[int, str]:
    bench = column.split("/", 1)[0]
    return (ORDER.index(bench) if bench in ORDER else len(ORDER), column)


# -------------------------------------------------------------------------------- reading
PART_FIELDS = ("command", "commit", "date", "wall_time_s")  # a merged doc lists them per part


def load(paths: Sequence[str | os.PathLike]) -> dict:
    """One document from one or more ``results.json`` files (cells of later files appended;
    their slots must list the same items); InputError naming the file and field."""
    doc, parts = None, []
    for path in paths:
        try:
            part = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:  # ValueError: bad JSON or not UTF-8
            raise InputError(path, f"cannot read results: {e}") from None
        _validate(part, path)
        parts.append({k: part.get(k) for k in PART_FIELDS})
        if doc is None:
            doc = part
            continue
        doc["stage_seconds"] = {**(doc.get("stage_seconds") or {}),
                                **(part.get("stage_seconds") or {})}
        for column, slot in part["slots"].items():
            if column in doc["slots"] and doc["slots"][column] != slot:
                raise InputError(path, f"slot {column} lists other items than {paths[0]}",
                                 field=f"slots.{column}")  # fmt: skip
            doc["slots"].setdefault(column, slot)
        seen = {_cell_id(c): c for c in doc["cells"]}
        for c in part["cells"]:  # a reference row repeated by several parts counts once
            if _cell_id(c) in seen and seen[_cell_id(c)]["correct"] != c["correct"]:
                raise InputError(path, f"cell {_cell_id(c)} differs from the same cell of an "
                                 "earlier file", field="cells")
            if _cell_id(c) not in seen:
                doc["cells"].append(c)
        doc["comparisons"] = merge_comparisons(doc["comparisons"], part["comparisons"])
    if doc is None:
        raise InputError(None, "no results.json given")
    if len(parts) > 1:
        doc["parts"] = parts
        walls = [p["wall_time_s"] for p in parts]
        doc["wall_time_s"] = None if None in walls else sum(walls)
    return doc


def merge_comparisons(*lists: Sequence[Sequence[str]]) -> list[list[str]]:
    """The comparisons of several lists in first-seen order, one per (A, B); a pair marked
    ``same seeds`` in any list keeps the mark (it pairs the same students)."""
    out: dict[tuple[str, str], list[str]] = {}
    for pair in (p for comparisons in lists for p in comparisons):
        key = (pair[0], pair[1])
        if key not in out or len(pair) > len(out[key]):
            out[key] = list(pair)
    return list(out.values())


def _cell_id(c: dict) -> tuple:
    return (c.get("method"), c.get("size"), c.get("seed"), c.get("step"))


def _validate(doc: object, path) -> None:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(path, f"not a {SCHEMA} document", field="schema")
    for name in ("slots", "cells", "comparisons"):
        if name not in doc:
            raise InputError(path, "missing", field=name)
    for i, pair in enumerate(doc["comparisons"]):
        if not (isinstance(pair, list) and len(pair) in (2, 3)
                and all(isinstance(x, str) for x in pair) and pair[2:] in ([], [SAME_SEEDS])):
            raise InputError(path, f'expected ["A", "B"] or ["A", "B", "{SAME_SEEDS}"]',
                             where=f"comparison {i}", field="comparisons")
    for i, c in enumerate(doc["cells"]):
        for column, bits in c.get("correct", {}).items():
            slot = doc["slots"].get(column)
            if slot is None or len(bits) != len(slot["items"]) or set(bits) - set("01-"):
                raise InputError(path, f"needs {len(slot['items']) if slot else '?'} of 0/1/-",
                                 where=f"cell {i}", field=f"correct.{column}")  # fmt: skip


def _matrix(cells: Sequence[dict], column: str) -> np.ndarray:
    """[S, n] float: 1/0 per seed and item, NaN where not scored."""
    table = {"1": 1.0, "0": 0.0, "-": np.nan}
    return np.array([[table[b] for b in c["correct"][column]] for c in cells], float)


# ------------------------------------------------------------------------------ rendering
def _rows(doc: dict) -> dict[tuple[str, str], list[dict]]:
    rows: dict[tuple[str, str], list[dict]] = {}
    for c in doc["cells"]:
        rows.setdefault((c["method"], c["size"]), []).append(c)
    return rows


def _groups(doc: dict, column: str, keep: np.ndarray) -> list[str] | None:
    groups = doc["slots"][column]["groups"]
    return None if groups is None else [g for g, k in zip(groups, keep, strict=True) if k]


def accuracy(doc: dict, cells: Sequence[dict], column: str) -> stats.Interval | None:
    """Seeds averaged per item over the items every seed scored; bootstrap interval."""
    if not all(column in c["correct"] for c in cells):
        return None
    m = _matrix(cells, column)
    keep = ~np.isnan(m).any(axis=0)
    if not keep.any():
        return None
    return stats.bootstrap_accuracy(m[:, keep], groups=_groups(doc, column, keep),
                                    samples=SAMPLES)  # fmt: skip


def difference(doc: dict, a: Sequence[dict], b: Sequence[dict],
               column: str) -> tuple[stats.Interval, int] | None:  # fmt: skip
    """A − B paired on the items every seed of both scored; (interval, items)."""
    if not all(column in c["correct"] for c in (*a, *b)):
        return None
    ma, mb = _matrix(a, column), _matrix(b, column)
    keep = ~(np.isnan(ma).any(axis=0) | np.isnan(mb).any(axis=0))
    if not keep.any():
        return None
    diff = stats.paired_difference(ma[:, keep], mb[:, keep],
                                   groups=_groups(doc, column, keep), samples=SAMPLES)
    return diff, int(keep.sum())


def _table(doc: dict, columns: list[str]) -> list[str]:
    lines = ["| method | size | params | seeds | " + " | ".join(columns) + " |",
             "|---|---|---:|---:|" + "---|" * len(columns)]  # fmt: skip
    for (method, size), cells in _rows(doc).items():
        params = cells[0].get("params")
        accs = [accuracy(doc, cells, c) for c in columns]
        lines.append(f"| {method} | {size} | {'—' if params is None else f'{params:,}'} | "
                     f"{len(cells)} | " + " | ".join("—" if a is None else str(a) for a in accs)
                     + " |")  # fmt: skip
    return lines


def _world_rows(rows: dict[tuple[str, str], list[dict]]) -> dict[str, list[dict]]:
    """Methods with one row whose size no other method shares: references for every size."""
    sizes: dict[str, list[str]] = {}
    for method, size in rows:
        sizes.setdefault(size, []).append(method)
    return {ms[0]: rows[ms[0], size] for size, ms in sizes.items()
            if len(ms) == 1 and sum(m == ms[0] for m, _ in rows) == 1}


def _verdicts(doc: dict, columns: list[str]) -> list[str]:
    rows = _rows(doc)
    world = _world_rows(rows)
    lines = ["| size | A − B | slot | items | difference [95%] | verdict |",
             "|---|---|---|---:|---|---|"]
    for size in dict.fromkeys(s for _, s in rows):
        for a, b, *same in doc["comparisons"]:
            cells_a, cells_b = rows.get((a, size)), rows.get((b, size)) or world.get(b)
            label = f"{a} − {b}"
            if cells_a and cells_b and same:  # seed with seed: the same students
                common = {c["seed"] for c in cells_a} & {c["seed"] for c in cells_b}
                cells_a, cells_b = ([c for c in x if c["seed"] in common]
                                    for x in (cells_a, cells_b))  # fmt: skip
                label += f" (seeds {', '.join(map(str, sorted(common)))})"
            if not cells_a or not cells_b:
                continue
            for column in columns:
                found = difference(doc, cells_a, cells_b, column)
                if found is None:
                    continue
                diff, n = found
                lines.append(f"| {size} | {label} | {column} | {n} | "
                             f"{diff.points(signed=True)} | {stats.verdict(a, b, diff)} |")
    return lines


def _provenance(doc: dict) -> list[str]:
    """Command, gin, commit, machine and date lines; one line per part of a merged doc."""
    gin = (f"- **Gin:** {', '.join(doc.get('gin') or [])}"
           + (f"; bindings {doc['bindings']}" if doc.get("bindings") else ""))
    if not doc.get("parts"):
        return [f"- **Command:** `{doc.get('command')}`", gin,
                f"- **Commit:** {doc.get('commit')}", f"- **Machine:** {doc.get('machine')}",
                f"- **Date:** {doc.get('date')}"]
    lines = [f"- **Merged from {len(doc['parts'])} parts** (`t5spec report --from_results`), "
             "each: command, commit, date, wall time:"]
    for p in doc["parts"]:
        wall = "unknown" if p.get("wall_time_s") is None else f"{p['wall_time_s']:.0f} s"
        lines.append(f"  - `{p.get('command')}` at {p.get('commit')}, {p.get('date')}, {wall}")
    return [*lines, gin, f"- **Machine:** {doc.get('machine')}"]


def render(doc: dict) -> str:
    """``results.md`` of a document: settings, the accuracy table, the paired verdicts."""
    columns = list(doc["slots"])
    wall = doc.get("wall_time_s")
    stages = doc.get("stage_seconds") or {}
    lines = [f"# {doc.get('title') or 'results'}", "", *_provenance(doc),
             f"- **Wall time:** {'unknown' if wall is None else f'{wall:.0f} s'}"
             + (" in all parts" if doc.get("parts") else "")
             + (f" (stages: {sum(stages.values()):.0f} s of work)" if stages else ""), "",
             "## Test accuracy", "",
             "% — mean over seeds per item, then over items; [95% bootstrap interval over "
             f"test items, {SAMPLES} resamples, fixed seed]; BBH: macro average over tasks.",
             "", *_table(doc, columns), "", "## Paired comparisons", "",
             "Points, A − B on the same test items (every seed of both scored them): paired "
             "bootstrap over items; \"wins\" only when the 95% interval excludes 0.", "",
             *_verdicts(doc, columns), ""]  # fmt: skip
    if stages:
        lines += ["## Stage times", "", "| stage | seconds |", "|---|---:|",
                  *(f"| {k} | {v:.0f} |" for k, v in stages.items()), ""]  # fmt: skip
    return "\n".join(lines)


def write(doc: dict, folder: str | os.PathLike) -> Path:
    """Writes ``folder/results.json`` and its ``results.md``; returns the Markdown path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n",
                                      encoding="utf-8")  # fmt: skip
    path = out / "results.md"
    path.write_text(render(doc), encoding="utf-8")
    return path


def regenerate(paths: Sequence[str | os.PathLike]) -> str:
    """The ``results.md`` text of ``results.json`` file(s) (merged in order)."""
    return render(load(paths))


def write_regenerated(paths: Sequence[str | os.PathLike], output: str | os.PathLike) -> Path:
    """Writes :func:`regenerate`'s text to ``output/results.md``; InputError rather than
    replace a different ``results.md`` already there (an existing result is never lost)."""
    text = regenerate(paths)
    path = Path(output) / "results.md"
    if path.is_file() and path.read_text(encoding="utf-8") != text:
        raise InputError(path, "exists and differs from the regenerated text; choose another "
                         "--output (results.md is never overwritten)", field="output")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


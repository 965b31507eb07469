"""``t5spec convert``: transformers safetensors <-> T5X checkpoints of the student.

  t5spec convert hf-to-t5x HF_DIR OUT_DIR [--preset xl | --model_gin F]
  t5spec convert hf-to-t5x --from_hf google/flan-t5-xl OUT_DIR    # downloads first (internet)
  t5spec convert t5x-to-hf CHECKPOINT_DIR OUT_DIR [--preset xl | --model_gin F]

``hf-to-t5x`` writes ``OUT_DIR/checkpoint_0``, usable as ``INITIAL_CHECKPOINT_PATH``. An
``OUT_DIR`` that already holds ``checkpoint_0`` (or, for ``t5x-to-hf``, a model) is refused
with exit status 2 unless ``--overwrite``; the new files are written aside and moved in whole.
With a
preset or model gin, the architecture (vocabulary size first) must match it. The public T5X
FlanT5 checkpoints need no conversion: see the paths in ``gin/models/flant5_*.gin``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from t5spec.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("direction", choices=("hf-to-t5x", "t5x-to-hf"))
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="SOURCE OUT_DIR (hf-to-t5x --from_hf takes only OUT_DIR)")
    parser.add_argument("--from_hf", metavar="REPO_ID",
                        help="download this Hugging Face model (safetensors only) first")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", help="check against gin/models/flant5_<preset>.gin")
    group.add_argument("--model_gin", help="check against this model gin file")
    parser.add_argument("--gin_binding", action="append", default=[],
                        help="extra gin binding for --model_gin (repeatable)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a model already in OUT_DIR (default: refuse, exit 2)")


def run(args: argparse.Namespace) -> int:
    from t5spec.models import hf_convert, t5x_checkpoint

    source, out = _source_and_out(args)
    hf_to_t5x = args.direction == "hf-to-t5x"
    if hf_to_t5x:  # refuse an occupied OUT_DIR before any slow work
        t5x_checkpoint.check_writable(out, overwrite=args.overwrite)
    else:
        hf_convert.check_writable(out, overwrite=args.overwrite)
    expected = _expected_config(args)
    if hf_to_t5x:
        hf_cfg, tensors = hf_convert.read_hf_dir(source)
        config = hf_convert.t5_config_from_hf(hf_cfg, source / hf_convert.HF_CONFIG)
        if expected is not None:
            t5x_checkpoint.check_same_architecture(config, expected, source)
        params = hf_convert.hf_to_t5x_params(tensors, config, source)
        written = t5x_checkpoint.write_t5x_checkpoint(params, config, out,
                                                      overwrite=args.overwrite)
        print(f"wrote {written} (use as INITIAL_CHECKPOINT_PATH)")
    else:
        params = t5x_checkpoint.read_t5x_params(source)
        acts = None if expected is None else tuple(expected.mlp_activations)
        config = t5x_checkpoint.config_from_params(params, source, mlp_activations=acts)
        if expected is not None:
            t5x_checkpoint.check_same_architecture(config, expected, source)
        tensors = hf_convert.t5x_to_hf_tensors(params, config, source)
        written = hf_convert.write_hf_dir(out, config, tensors, overwrite=args.overwrite)
        print(f"wrote {written} (T5ForConditionalGeneration.from_pretrained loads it)")
    return 0


def _source_and_out(args: argparse.Namespace) -> tuple[Path, Path]:
    want = 1 if args.from_hf else 2
    if len(args.paths) != want:
        expected = "OUT_DIR" if want == 1 else "SOURCE OUT_DIR"
        raise InputError(None, f"{args.direction} takes {expected}, got {len(args.paths)} path(s)",
                         field="paths")
    if args.from_hf:
        if args.direction != "hf-to-t5x":
            raise InputError(None, "only applies to hf-to-t5x", field="from_hf")
        return _download(args.from_hf), _absolute(args.paths[0])
    return _absolute(args.paths[0]), _absolute(args.paths[1])


def _absolute(path: str) -> Path:
    """Paths enter the command here: relative ones are made absolute (T5X and Orbax need it)."""
    return Path(path).expanduser().resolve()


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    print(f"downloading {repo_id} (config + safetensors) ...", file=sys.stderr)
    path = snapshot_download(repo_id, allow_patterns=["config.json", "*.safetensors",
                                                      "model.safetensors.index.json"])
    return Path(path)


def _expected_config(args: argparse.Namespace) -> Any:
    from t5spec.models import presets

    if args.preset:
        return presets.network_config(presets.gin_file(args.preset))
    if args.model_gin:
        return presets.network_config(args.model_gin, tuple(args.gin_binding))
    return None

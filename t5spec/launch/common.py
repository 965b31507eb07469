"""What every launcher shares: the job flags, ``--gin.NAME=VALUE`` pass-through, pre-flight.

Pre-flight runs before anything is created or spent: ``MODEL_DIR`` must be writable
(probed on ``gs://`` unless ``--dry_run``), and the gin files must resolve with the
overrides exactly as ``t5x.train`` will parse them (unknown bindings, unset required macros
and import errors fail here, with exit status 2, instead of on a paid slice).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from t5spec import paths
from t5spec.errors import InputError
from t5spec.launch.commands import TrainJob, check_gin, check_model_dir, parse_env, parse_overrides

# The checkout the launchers ship to hosts; installed without one, the directory they run in.
REPO_ROOT = paths.repo_root() or Path.cwd()


def default_wheels_dir() -> Path | None:
    """``../shared/wheels`` beside the checkout, where the T5X wheels live, if present."""
    candidate = REPO_ROOT.parent / "shared" / "wheels"
    return candidate if candidate.is_dir() else None


def optional_path(text: str) -> Path | None:
    """argparse type: a path, or None for an empty value (``--wheels_dir=`` turns it off)."""
    return Path(text).expanduser() if text else None


def default_data_dir() -> Path | None:
    """The raw-data folder to ship to remote hosts: ``$T5SPEC_DATA_DIR``, else none
    (:mod:`t5spec.paths`' policy: no silent default; ``--data_dir`` names one)."""
    return paths.data_dir_or_none()


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of a :class:`TrainJob`, plus ``--dry_run`` and ``--no_gin_check``."""
    parser.add_argument("--gin_file", action="append", default=[],
                        help="gin file(s) relative to the checkout, e.g. gin/flant5_xl_spec.gin")
    parser.add_argument("--model_dir", default="", help="MODEL_DIR: gs://… or a shared path")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for the training processes (e.g. T5SPEC_DATA_DIR)")
    parser.add_argument("--python", default="python3", help="interpreter on the hosts")
    parser.add_argument("--dry_run", action="store_true",
                        help="print every command instead of running it")
    parser.add_argument("--no_gin_check", action="store_true",
                        help="skip resolving the gin config locally (no T5X on this machine)")
    parser.epilog = ("Any --gin.NAME=VALUE is passed to t5x.train as a gin override "
                     "(checked locally first).")


def parse_with_gin_overrides(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, list[str]]:
    """Parses known flags; every leftover must be a ``--gin.NAME=VALUE`` override."""
    args, rest = parser.parse_known_args(argv)
    bad = [r for r in rest if not r.startswith("--gin.")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    return args, rest


def job_from_args(args: argparse.Namespace, gin_overrides: Sequence[str]) -> TrainJob:
    """Builds the job and runs pre-flight (raises InputError before anything is spent)."""
    if not args.gin_file:
        raise InputError(None, "--gin_file is required", field="gin_file")
    job = TrainJob(
        gin_files=tuple(args.gin_file),
        model_dir=args.model_dir,
        overrides=parse_overrides(gin_overrides),
        env=parse_env(args.env),
        python=args.python,
    )
    preflight(job, dry_run=args.dry_run, gin_check=not args.no_gin_check)
    return job


def preflight(job: TrainJob, *, dry_run: bool, gin_check: bool = True) -> None:
    """MODEL_DIR writable, gin files resolve with the overrides (see module docstring)."""
    check_model_dir(job.model_dir, dry_run=dry_run)
    if gin_check:
        check_gin(job)

"""Commands as data: built by pure functions, then printed (``--dry_run``) or run.

Every launcher builds a list of :class:`Command` (an argv and a one-line purpose) and hands
it to a :class:`Runner`. With ``dry_run`` the runner prints each command as a copy-pasteable
shell line and runs nothing; otherwise it checks the tool is on PATH and runs it, streaming
its output. A :class:`TrainJob` is what every platform runs on each host: the
``python -m t5x.train`` argv with the gin files, ``MODEL_DIR`` and the overrides.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from t5spec import gin_names as gn
from t5spec.errors import InputError


@dataclasses.dataclass(frozen=True)
class Command:
    """One step: ``argv`` to run, and what it is for (printed as a ``#`` comment)."""

    argv: tuple[str, ...]
    purpose: str = ""

    def shell(self) -> str:
        """The command as one copy-pasteable shell line."""
        return shell_join(self.argv)


_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def shell_quote(word: str) -> str:
    """POSIX-quotes ``word``, preferring forms people can read.

    Bare if safe; ``'…'`` if it has no single quote; else ``"…"`` with ``\\ " $ `` ` ``
    escaped (so a gin string ``--gin.X='a'`` reads ``"--gin.X='a'"``, not ``'"'"'``).
    """
    if word and _SAFE.fullmatch(word):
        return word
    if "'" not in word:
        return f"'{word}'"
    escaped = re.sub(r'([\\"$`])', r"\\\1", word)
    return f'"{escaped}"'


def shell_join(words: Sequence[str]) -> str:
    return " ".join(shell_quote(w) for w in words)


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """One T5X training run, the same on every host.

    Attributes:
      gin_files: ``--gin_file`` values, in order (relative to the code checkout).
      model_dir: ``MODEL_DIR`` (``gs://…`` on Cloud, a shared filesystem path on clusters).
      overrides: extra gin bindings as ``NAME=VALUE`` (VALUE is gin syntax, e.g. ``'kl'``).
      env: environment variables for the training process (e.g. ``T5SPEC_DATA_DIR``).
      python: the interpreter on the hosts.
    """

    gin_files: tuple[str, ...]
    model_dir: str
    overrides: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    python: str = "python3"

    def gin_args(self) -> list[str]:
        """``--gin_file=…`` and ``--gin.NAME=VALUE`` flags in T5X's own syntax."""
        args = [f"--gin_file={f}" for f in self.gin_files]
        args.append(f"--gin.{gn.MODEL_DIR}={gin_string(self.model_dir)}")
        args += [f"--gin.{o}" for o in self.overrides]
        return args

    def t5x_argv(self, extra_flags: Sequence[str] = ()) -> list[str]:
        """``python3 -m t5x.train …``: the process every host runs."""
        return [self.python, "-m", "t5x.train", *self.gin_args(), *extra_flags,
                "--alsologtostderr"]

    def shell_line(self, extra_flags: Sequence[str] = ()) -> str:
        """``NAME=value … python3 -m t5x.train …`` as one shell line (values quoted)."""
        return " ".join([*env_assignments(self.env), shell_join(self.t5x_argv(extra_flags))])


def env_assignments(env: Sequence[tuple[str, str]]) -> list[str]:
    """``NAME=value`` shell words; only the value is quoted (a quoted name is no assignment)."""
    return [f"{k}={shell_quote(v)}" for k, v in env]


def gin_string(value: str) -> str:
    """A Python string as a gin literal: ``gs://b/x`` → ``'gs://b/x'``."""
    if "'" in value:
        raise InputError(None, f"quote character in {value!r}", field="MODEL_DIR")
    return f"'{value}'"


def parse_overrides(items: Sequence[str]) -> tuple[str, ...]:
    """Normalizes ``--gin.NAME=VALUE`` / ``NAME=VALUE`` / ``NAME = VALUE`` to ``NAME=VALUE``."""
    out = []
    for item in items:
        body = item[len("--gin."):] if item.startswith("--gin.") else item
        name, sep, value = body.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(None, f"override {item!r} is not NAME=VALUE", field="gin")
        if name.strip() == gn.MODEL_DIR:
            raise InputError(None, "set MODEL_DIR with --model_dir, not as an override",
                             field="gin")
        out.append(f"{name.strip()}={value.strip()}")
    return tuple(out)


def parse_env(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``NAME=value`` strings → pairs; names must be shell identifiers."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise InputError(None, f"--env {item!r} is not NAME=value", field="env")
        out.append((name, value))
    return tuple(out)


class Runner:
    """Prints (``dry_run``) or runs commands, in order, stopping at the first failure."""

    def __init__(self, *, dry_run: bool, out: TextIO | None = None):
        self.dry_run = dry_run
        self.out = out or sys.stdout

    def require(self, tools: Sequence[str]) -> None:
        """Every tool must be on PATH (checked before anything runs; skipped in dry runs)."""
        if self.dry_run:
            return
        missing = [t for t in tools if shutil.which(t) is None]
        if missing:
            raise InputError(None, f"{', '.join(missing)} not found on PATH "
                             "(install it, or use --dry_run to print the commands)",
                             field="PATH")

    def run(self, cmd: Command, *, check: bool = True) -> int:
        """Runs (or prints) ``cmd``; returns its exit status (0 in dry runs)."""
        if cmd.purpose:
            print(f"# {cmd.purpose}", file=self.out)
        print(cmd.shell(), file=self.out, flush=True)
        if self.dry_run:
            return 0
        status = subprocess.call(list(cmd.argv))
        if check and status:
            raise subprocess.CalledProcessError(status, cmd.argv)
        return status

    def capture(self, cmd: Command, *, dry_value: str = "") -> str:
        """Runs ``cmd`` and returns its stdout (``dry_value`` in dry runs, after printing)."""
        if cmd.purpose:
            print(f"# {cmd.purpose}", file=self.out)
        print(cmd.shell(), file=self.out, flush=True)
        if self.dry_run:
            return dry_value
        done = subprocess.run(list(cmd.argv), capture_output=True, text=True, check=False)
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, cmd.argv, done.stdout,
                                                done.stderr)
        return done.stdout.strip()


def check_model_dir(model_dir: str, *, dry_run: bool) -> None:
    """MODEL_DIR must be a writable place; raises InputError before anything is spent.

    ``gs://`` paths are probed with a small write + delete through ``tf.io.gfile`` (the same
    I/O layer T5X and orbax use) unless ``dry_run``, where only the form is checked. Local
    paths must be absolute (every host resolves them the same) and writable.
    """
    if not model_dir:
        raise InputError(None, "--model_dir is required", field="MODEL_DIR")
    if "://" in model_dir:
        scheme = model_dir.split("://", 1)[0]
        if scheme != "gs" or len(model_dir) <= len("gs://") or model_dir.endswith("://"):
            raise InputError(model_dir, "MODEL_DIR must be gs://BUCKET/… or an absolute path",
                             field="MODEL_DIR")
        if not dry_run:
            _probe_write(model_dir)
        return
    if not os.path.isabs(model_dir):
        raise InputError(model_dir, "MODEL_DIR must be absolute (all hosts must agree on it)",
                         field="MODEL_DIR")
    existing = model_dir
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(model_dir, f"not writable ({existing} is not a writable directory)",
                         field="MODEL_DIR")


def _probe_write(model_dir: str) -> None:
    import tensorflow as tf

    probe = model_dir.rstrip("/") + "/.t5spec_write_probe"
    try:
        tf.io.gfile.makedirs(model_dir)
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("ok")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as e:
        raise InputError(model_dir, f"not writable: {type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}",
                         field="MODEL_DIR") from e


def check_gin(job: TrainJob, extra_overrides: Mapping[str, str] | None = None) -> None:
    """Resolves the job's gin config with its overrides (unknown bindings → InputError)."""
    from t5spec.launch import ginconfig

    overrides = [*job.overrides, *(f"{k}={v}" for k, v in (extra_overrides or {}).items())]
    ginconfig.resolve(job.gin_files, [f"{gn.MODEL_DIR}={gin_string(job.model_dir)}", *overrides])

"""Syntax check of command-line gin bindings, before gin parses them with the config files.

Gin parses ``--gin_param`` / ``--gin_bindings`` strings together with the files, so a binding
with a syntax error (``steps=(1``) surfaces as a ``SyntaxError`` or ``tokenize.TokenError``
pointing at an unrelated line of the combined text. :func:`check_bindings` parses each
binding alone with gin's own parser (no configurable is looked up) and names the bad one.
Importing this module is cheap; gin is imported only when a binding is checked.
"""

from __future__ import annotations

import tokenize
from collections.abc import Sequence
from typing import Any

from t5spec import gin_names
from t5spec.errors import InputError


class _AnyReference:
    """A gin parser delegate that accepts every ``@configurable`` and ``%macro`` name."""

    def configurable_reference(self, scoped_configurable_name: str, evaluate: bool) -> Any:
        return scoped_configurable_name

    def macro(self, macro_name: str) -> Any:
        return macro_name


def binding_syntax_error(binding: str) -> str | None:
    """Why gin cannot parse ``binding`` (``NAME = VALUE``, imports, includes), or None."""
    from gin import config_parser

    try:
        for _ in config_parser.ConfigParser(binding, _AnyReference()):
            pass
    except SyntaxError as e:
        return _last_line(e.msg) or "invalid syntax"
    except tokenize.TokenError as e:
        return _last_line(str(e.args[0]) if e.args else "") or "unbalanced brackets"
    except ValueError as e:  # gin raises ValueError for malformed selectors
        return _last_line(str(e)) or "invalid binding"
    return None


def _last_line(text: str | None) -> str:
    """Gin's messages end with the useful line ("Failed to parse token 'foo'")."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def check_bindings(bindings: Sequence[str], *, flag: str) -> None:
    """Raises :class:`InputError` naming ``flag`` and the first binding gin cannot parse, or
    the first that uses a renamed name (:data:`t5spec.gin_names.RENAMED`: "renamed to X").

    Args:
      bindings: gin binding strings, e.g. ``"lab.TrainBudget.steps = 400"``.
      flag: the command-line flag they came from (``gin_param``, ``gin_bindings``).
    """
    for i, binding in enumerate(bindings, 1):
        reason = binding_syntax_error(binding)
        if reason is not None:
            raise InputError(None, f"binding #{i} {binding!r} does not parse as gin: {reason}",
                             field=flag)
    gin_names.check_not_renamed(bindings, flag=flag)

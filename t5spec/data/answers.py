"""Numeric answers: parse, extract from free text, compare exactly, format.

One scoring path for every math benchmark (GSM8K, MultiArith, ASDiv, SVAMP) and for the
teacher's correctness filter. Answers are :class:`fractions.Fraction` — exact, so ``0.1 + 0.2``
style float noise can never flip a comparison.

Extraction (default):
  1. If the text contains "The answer is" (case-insensitive), take the FIRST number after the
     LAST occurrence ("The answer is 72 clips, 48 + 24" → 72).
  2. Otherwise (or if nothing numeric follows it) take the LAST number in the text.

A number is: an optional minus sign (only when not glued to a preceding word, digit or closing
bracket, so ``10-5`` is 10 and 5, but ``x = -5`` is −5), an optional ``$``, digits with
optional thousands separators (``1,000,000``; a comma is a separator only between groups of
exactly three digits), an optional decimal part, then optionally ``/<integer>`` (``3/4``) and
``%`` (dropped: "50%" is 50, as GSM8K writes percentage answers). A trailing sentence period is
not a decimal point (``72.`` is 72). Not handled: number words ("eight"), mixed numbers
("1 1/2" reads as 1 then 1/2), scientific notation.

``paper_compat=True`` reproduces the authors' scorer (``src/utils.py: test_answer`` /
``find_answer`` in FranxYao/FlanT5-CoT-Specialization): the last match of ``\\d*\\.?\\d+`` in
the whole text, ignoring "The answer is". It drops minus signs (``-3`` → 3) and splits
thousands separators (``1,080`` → 80); on the raw GSM8K train solutions it recovers the gold
answer less often: 7391 of the 7473 GSM8K train solutions (98.90%; it misses the 79
thousands-separated and 3 negative golds) against 7473 (100%) for the default
(tests/data/test_data_answers.py).
"""

from __future__ import annotations

import re
from fractions import Fraction

_NUMBER = re.compile(
    r"""
    (?P<sign>(?<![\w)\]])-)?            # a minus not glued to a word / digit / bracket
    \$?
    (?P<int>(?<!\d)(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?:\.\d+)?|(?<!\d)\.\d+)
    (?:/(?P<den>0*[1-9]\d*)(?!\d|\.\d))?  # a fraction bar and a non-zero integer denominator
    %?
    """,
    re.VERBOSE,
)
ANSWER_IS = re.compile(r"the answer is", re.IGNORECASE)
"""The answer marker, case-insensitive (shared by math, BBH and the formats)."""
_PAPER_NUMBER = re.compile(r"\d*\.?\d+")


def _value(match: re.Match[str]) -> Fraction:
    value = Fraction(match.group("int").replace(",", ""))
    if match.group("den"):
        value /= int(match.group("den"))
    return -value if match.group("sign") else value


def find_numbers(text: str) -> list[Fraction]:
    """All numbers in ``text``, left to right, as exact Fractions (see module docstring)."""
    return [_value(m) for m in _NUMBER.finditer(text)]


def parse_number(text: str) -> Fraction:
    """Parses a string that is exactly one number (surrounding spaces and a final "." allowed).

    Accepts what :func:`find_numbers` reads ("-1,080", "$2.50", "3/4", "50%", "51.0").

    Raises:
      ValueError: the string is empty, not a number, or holds more than one number.
    """
    stripped = text.strip()
    if stripped.endswith(".") and not stripped.endswith(".."):
        stripped = stripped[:-1].rstrip()
    match = _NUMBER.fullmatch(stripped)
    if match is None:
        raise ValueError(f"not a single number: {text!r}")
    return _value(match)


def extract_answer(text: str, *, paper_compat: bool = False) -> Fraction | None:
    """The predicted answer in a model's (or teacher's) free text, or None if it has no number.

    Default: the first number after the last "The answer is", else the last number.
    ``paper_compat``: the last match of the authors' regex ``\\d*\\.?\\d+`` (no sign, no
    thousands separators, no fractions).
    """
    if paper_compat:
        found = _PAPER_NUMBER.findall(text)
        return Fraction(found[-1]) if found else None
    marks = list(ANSWER_IS.finditer(text))
    if marks:
        match = _NUMBER.search(text, marks[-1].end())
        if match is not None:
            return _value(match)
    numbers = find_numbers(text)
    return numbers[-1] if numbers else None


def is_correct(
    prediction: str,
    gold: Fraction,
    *,
    paper_compat: bool = False,
    gold_text: str | None = None,
) -> bool:
    """Whether the answer extracted from ``prediction`` equals ``gold`` exactly.

    With ``paper_compat=True`` and ``gold_text`` given, the gold is also read with the
    authors' regex from ``gold_text`` (their scorer parsed both sides the same way, so a gold
    "#### 1,080" became 80); without ``gold_text`` the exact ``gold`` is used.
    """
    predicted = extract_answer(prediction, paper_compat=paper_compat)
    if predicted is None:
        return False
    if paper_compat and gold_text is not None:
        reference = extract_answer(gold_text, paper_compat=True)
        return reference is not None and predicted == reference
    return predicted == gold


def format_number(x: Fraction | int) -> str:
    """Canonical text of an exact number: "72", "-3", "2.5", "0.125", "1/3", "-7/6".

    Integers print without a decimal point, terminating decimals as decimals (no trailing
    zeros), everything else as ``p/q``. ``parse_number(format_number(x)) == x`` for every x.
    """
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    den = x.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{x.numerator}/{x.denominator}"
    places = max(twos, fives)
    scaled = abs(x.numerator) * (10**places // x.denominator)
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if x < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"

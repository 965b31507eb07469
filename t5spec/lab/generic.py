"""The lab's generic-ability tasks: seeded BIG-Bench-Hard-format tasks with correct CoT.

Six BBH families can be generated programmatically with a rationale that is right by
construction (each is computed, then rendered in the style of that task's BBH CoT prompt):

======================== ===================================================== ==============
task                     input                                                 target
======================== ===================================================== ==============
boolean_expressions      ``not ( True ) and False or True is``                  True / False
multistep_arithmetic_two ``((-3 + 4 * 2) - (5 * -1)) =``                        an integer
word_sorting             ``Sort the following words alphabetically: List: …``   the sorted words
dyck_languages           ``Complete the rest of the sequence, … Input: [ { (``  ``) } ]``
object_counting          ``I have a flute, two plums, … How many fruits …?``    a count
web_of_lies              ``Question: Ann lies. Bo says Ann lies. … Does Bo …?`` Yes / No
======================== ===================================================== ==============

They are smaller than BBH's (fewer operands, shorter lists) so a tiny model can learn some of
them. :func:`write_bbh` writes ``bbh/<task>.json`` (``{"canary", "examples": [{"input",
"target"}]}``) and ``cot-prompts/<task>.txt`` (canary line, ``-----``, description, three
``Q: …\\nA: Let's think step by step.\\n… So the answer is X.`` exemplars) under a folder laid out
like shared/data's ``bbh/``, so ``t5spec.data.bbh.load_bbh(task, data_dir=<lab>)`` and
``build_bbh_input`` read them and ``bbh_score`` scores them, AO and CoT, exactly like BBH.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from t5spec.data.splits import BBH_DEV_SIZE

CANARY = "t5spec lab: generated task, not BIG-Bench Hard data. Never use it for training."
SHOTS = 3
COT_LEAD = "A: Let's think step by step."
PathLike = str | os.PathLike


@dataclasses.dataclass(frozen=True)
class GenericExample:
    """One generated example: BBH ``input`` and ``target`` plus the gold CoT ``rationale``
    (the text between "Let's think step by step." and " So the answer is <target>.")."""

    input: str
    rationale: str
    target: str

    @property
    def cot(self) -> str:
        return f"{self.rationale} So the answer is {self.target}."


# ------------------------------------------------------------------------- boolean_expressions
_NOT = {"True": "False", "False": "True"}
_LITERALS = ("True", "False")


def _reduce_flat(tokens: list[str]) -> list[str]:
    """One reduction of a flat expression: the first ``not L``, else ``and``, else ``or``."""
    for i in range(len(tokens) - 1):
        if tokens[i] == "not" and tokens[i + 1] in _LITERALS:
            return [*tokens[:i], _NOT[tokens[i + 1]], *tokens[i + 2:]]
    for op in ("and", "or"):
        if op in tokens:
            i = tokens.index(op)
            a, b = tokens[i - 1] == "True", tokens[i + 1] == "True"
            value = (a and b) if op == "and" else (a or b)
            return [*tokens[:i - 1], str(value), *tokens[i + 2:]]
    raise ValueError(f"cannot reduce {tokens}")


def _reduce(tokens: list[str]) -> list[str]:
    """One reduction step, innermost brackets first; ``( L )`` unwraps to ``L``."""
    opens = [i for i, t in enumerate(tokens) if t == "("]
    for i in reversed(opens):
        j = tokens.index(")", i)
        inner = tokens[i + 1:j]
        if len(inner) == 1:
            return [*tokens[:i], inner[0], *tokens[j + 1:]]
        return [*tokens[:i + 1], *_reduce_flat(inner), *tokens[j:]]
    return _reduce_flat(tokens)


def _bool_operand(rng: random.Random, depth: int) -> list[str]:
    if depth and rng.random() < 0.35:
        inner = [*_bool_operand(rng, 0), rng.choice(["and", "or"]), *_bool_operand(rng, 0)]
        return ["not", "(", *inner, ")"] if rng.random() < 0.3 else ["(", *inner, ")"]
    lit = [rng.choice(_LITERALS)]
    return ["not", *lit] if rng.random() < 0.4 else lit


def boolean_expressions(rng: random.Random) -> GenericExample:
    tokens = _bool_operand(rng, 1)
    for _ in range(rng.randint(1, 2)):
        tokens += [rng.choice(["and", "or"]), *_bool_operand(rng, 1)]
    chain = [" ".join(tokens)]
    while len(tokens) > 1:
        tokens = _reduce(tokens)
        chain.append(" ".join(tokens))
    rationale = ("Remember that (i) expressions inside brackets are always evaluated first and "
                 'that (ii) the order of operations from highest priority to lowest priority is '
                 '"not", "and", "or", respectively.\nWe reduce the expression one step at a '
                 "time:\nZ = " + "\n= ".join(chain) + ".")
    return GenericExample(f"{chain[0]} is", rationale, tokens[0])


# -------------------------------------------------------------------- multistep_arithmetic_two
def _group(rng: random.Random, name: str) -> tuple[str, int, str]:
    """(text, value, CoT line) of a bracketed group of two or three numbers in [-9, 9]."""
    nums = [rng.randint(-9, 9) for _ in range(rng.choice([2, 3]))]
    ops = [rng.choice("+-*") for _ in nums[1:]]
    calc = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    text = "(" + " ".join(f"{n} {o}" for n, o in zip(nums, ops, strict=False)) + f" {nums[-1]})"
    if len(nums) == 2:
        value = calc[ops[0]](*nums)
        return text, value, f"Let's calculate {name} = {text} = {value}."
    a, b, c = nums
    if ops[1] == "*" and ops[0] != "*":
        inner = b * c
        value = calc[ops[0]](a, inner)
        steps = f"({a} {ops[0]} ({b} * {c})) = ({a} {ops[0]} {inner}) = {value}"
    else:
        inner = calc[ops[0]](a, b)
        value = calc[ops[1]](inner, c)
        steps = f"(({a} {ops[0]} {b}) {ops[1]} {c}) = ({inner} {ops[1]} {c}) = {value}"
    return text, value, f"Let's calculate {name} = {text} = {steps}."


def multistep_arithmetic_two(rng: random.Random) -> GenericExample:
    (ta, a, la), (tb, b, lb) = _group(rng, "A"), _group(rng, "B")
    op = rng.choice("+-*")
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    rationale = ("Let's recall that the order of operations in mathematics is as follows: (1) "
                 "Parentheses, (2) multiplication, (3) addition and subtraction (from left to "
                 "right). So, remember to always compute the expressions inside parentheses "
                 f'first.\nThis equation can be written as "A {op} B", where A = {ta} and '
                 f"B = {tb}.\n{la}\n{lb}\nThen, the final equation is A {op} B = "
                 f"{a} {op} {b} = {value}.")
    return GenericExample(f"({ta} {op} {tb}) =", rationale, str(value))


# --------------------------------------------------------------------------------- word_sorting
_WORDS = [
    "apple", "anchor", "banana", "basket", "candle", "cotton", "dragon", "dinner", "eagle",
    "engine", "forest", "feather", "garden", "guitar", "harbor", "helmet", "island", "insect",
    "jacket", "jungle", "kettle", "kingdom", "lemon", "ladder", "market", "mirror", "needle",
    "number", "orange", "oyster", "pepper", "planet", "quiet", "quilt", "river", "rocket", "silver",
    "summer", "tiger", "tunnel", "umbrella", "unicorn", "velvet", "violin", "window", "winter",
    "yellow", "yogurt", "zebra", "zipper"
]


def word_sorting(rng: random.Random) -> GenericExample:
    by_letter: dict[str, list[str]] = {}
    for w in _WORDS:
        by_letter.setdefault(w[0], []).append(w)
    letters = rng.sample(sorted(by_letter), rng.randint(3, 5))
    words = [rng.choice(by_letter[c]) for c in letters]
    rank = {w: ord(w[0]) - ord("a") + 1 for w in words}
    first = " ".join(f'"{w}": "{w[0]}" ({rank[w]}).' for w in words)
    ordered = sorted(words)
    chain = " < ".join(f'({rank[w]}) "{w}"' for w in ordered)
    rationale = (f"The first letter: {first} We now have: {chain}. All first letters differ, "
                 "so this is the order.")
    return GenericExample(
        "Sort the following words alphabetically: List: " + " ".join(words), rationale,
        " ".join(ordered))


# ------------------------------------------------------------------------------- dyck_languages
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}


def dyck_languages(rng: random.Random) -> GenericExample:
    stack: list[str] = []
    seq: list[str] = []
    lines = ["0: empty stack"]
    for i in range(1, rng.randint(3, 8) + 1):
        if stack and rng.random() < 0.4:
            seq.append(_PAIRS[stack.pop()])
        else:
            stack.append(rng.choice(sorted(_PAIRS)))
            seq.append(stack[-1])
        lines.append(f"{i}: {seq[-1]} ; stack: {' '.join(stack) or 'empty'}")
    if not stack:
        stack.append(rng.choice(sorted(_PAIRS)))
        seq.append(stack[-1])
        lines.append(f"{len(seq)}: {seq[-1]} ; stack: {' '.join(stack)}")
    pops = list(reversed(stack))
    closing = [_PAIRS[b] for b in pops]
    rationale = "\n".join([
        "We should process each input one by one and keep track of the stack configuration.",
        *lines,
        f'Now, we have reached the end. The final stack is "{" ".join(stack)}".',
        "We will need to pop out " + ", ".join(f'"{b}"' for b in pops)
        + " one by one in that order.",
        "So, we need " + ", ".join(f'"{c}"' for c in closing) + ".",
    ])
    question = ("Complete the rest of the sequence, making sure that the parentheses are closed "
                "properly. Input: " + " ".join(seq))
    return GenericExample(question, rationale, " ".join(closing))


# ------------------------------------------------------------------------------ object_counting
_OBJECTS = {
    "musical instruments": ["flute", "piano", "violin", "drum", "trumpet", "clarinet"],
    "fruits": ["apple", "plum", "peach", "banana", "orange", "grape"],
    "vegetables": ["carrot", "onion", "turnip", "cabbage", "yam", "lettuce"],
    "animals": ["cat", "dog", "rabbit", "goat", "snake", "duck"],
}
_COUNT_WORDS = {1: "a", 2: "two", 3: "three"}


def _a(noun: str, n: int) -> str:
    if n > 1:
        return f"{_COUNT_WORDS[n]} {noun}es" if noun.endswith(("sh", "ch")) else (
            f"{_COUNT_WORDS[n]} {noun}s")
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def object_counting(rng: random.Random) -> GenericExample:
    kind, other = rng.sample(sorted(_OBJECTS), 2)
    wanted = rng.sample(_OBJECTS[kind], rng.randint(2, 4))
    noise = rng.sample(_OBJECTS[other], rng.randint(1, 2))
    counts = {noun: rng.choice([1, 1, 2, 3]) for noun in wanted + noise}
    listed = wanted + noise
    rng.shuffle(listed)
    phrases = [_a(n, counts[n]) for n in listed]
    question = (f"I have {', '.join(phrases[:-1])}, and {phrases[-1]}. "
                f"How many {kind} do I have?")
    relevant = [n for n in listed if n in wanted]
    total = sum(counts[n] for n in relevant)
    rationale = "\n".join([
        f"We first identify the {kind} on the list and include their quantity in parentheses:",
        *(f"- {n} ({counts[n]})" for n in relevant),
        "Now, let's add the numbers in parentheses: "
        + " + ".join(str(counts[n]) for n in relevant) + f" = {total}.",
    ])
    return GenericExample(question, rationale, str(total))


# ---------------------------------------------------------------------------------- web_of_lies
_NAMES = [
    "Ann", "Bo", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hal", "Ike", "Jo", "Kim", "Lou", "Max", "Ned",
    "Oda", "Pam"
]


def _says(truth: bool) -> str:
    return "tells the truth" if truth else "lies"


def web_of_lies(rng: random.Random) -> GenericExample:
    names = rng.sample(_NAMES, rng.randint(3, 5))
    truth = rng.random() < 0.5
    sentences = [f"{names[0]} {_says(truth)}."]
    lines = [f"(1) {sentences[0]} So, we know that {names[0]} {_says(truth)}."]
    for k in range(1, len(names)):
        claim = rng.random() < 0.5
        new = claim == truth
        sentences.append(f"{names[k]} says {names[k - 1]} {_says(claim)}.")
        lines.append(f"({k + 1}) {sentences[-1]} Since we know from ({k}) that {names[k - 1]} "
                     f"{_says(truth)}, if {names[k]} says {names[k - 1]} {_says(claim)}, then "
                     f"{names[k]} {_says(new)}.")
        truth = new
    last, n = names[-1], len(names)
    lines.append(f"Now, the question asks: Does {last} tell the truth? We know from ({n}) that "
                 f"{last} {_says(truth)}.")
    question = f"Question: {' '.join(sentences)} Does {last} tell the truth?"
    return GenericExample(question, "\n".join(lines), "Yes" if truth else "No")


# ---------------------------------------------------------------------------------------- files
TASKS: dict[str, tuple[str, Callable[[random.Random], GenericExample]]] = {
    "boolean_expressions": ("Evaluate the result of a random Boolean expression.",
                            boolean_expressions),
    "dyck_languages": ("Correctly close a Dyck-n word.", dyck_languages),
    "multistep_arithmetic_two": ("Solve multi-step arithmetic problems.",
                                 multistep_arithmetic_two),
    "object_counting": ("Questions that involve enumerating objects and asking the model to "
                        "count them.", object_counting),
    "web_of_lies": ("Evaluate a random boolean function expressed as a word problem.",
                    web_of_lies),
    "word_sorting": ("Sort a list of words.", word_sorting),
}
LAB_BBH_TASKS = tuple(TASKS)


def generate_task(
    task: str, n: int = 100, seed: int = 0, shots: int = SHOTS
) -> tuple[list[GenericExample], list[GenericExample]]:
    """(``n`` examples, ``shots`` prompt exemplars) of ``task``, all inputs distinct."""
    if n <= BBH_DEV_SIZE:
        raise ValueError(f"n={n} leaves no test split after the {BBH_DEV_SIZE} dev examples")
    make = TASKS[task][1]
    rng = random.Random(f"t5spec-lab/{seed}/bbh/{task}")
    seen: set[str] = set()
    out: list[GenericExample] = []
    for _ in range(200 * (n + shots)):
        example = make(rng)
        if example.input not in seen:
            seen.add(example.input)
            out.append(example)
            if len(out) == n + shots:
                return out[:n], out[n:]
    raise ValueError(f"{task}: cannot find {n + shots} distinct examples")


def prompt_text(task: str, shots: list[GenericExample]) -> str:
    """The ``cot-prompts/<task>.txt`` text (no trailing newline, like BBH's files)."""
    parts = [f"{CANARY}\n-----\n{TASKS[task][0]}"]
    parts += [f"Q: {e.input}\n{COT_LEAD}\n{e.cot}" for e in shots]
    return "\n\n".join(parts)


def bbh_files(n: int = 100, seed: int = 0, shots: int = SHOTS) -> dict[str, str]:
    """Relative path (under a ``bbh/`` folder) -> file text, for every lab task."""
    out = {}
    for task in LAB_BBH_TASKS:
        examples, exemplars = generate_task(task, n, seed, shots)
        data = {"canary": CANARY,
                "examples": [{"input": e.input, "target": e.target} for e in examples]}
        out[f"bbh/{task}.json"] = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        out[f"cot-prompts/{task}.txt"] = prompt_text(task, exemplars)
    return out


def generic_text(n: int = 100, seed: int = 0, shots: int = SHOTS) -> Iterator[str]:
    """Every input and gold CoT of the lab tasks (tokenizer training text)."""
    for task in LAB_BBH_TASKS:
        examples, exemplars = generate_task(task, n, seed, shots)
        for e in (*examples, *exemplars):
            yield e.input
            yield e.cot


def write_bbh(out_dir: PathLike, n: int = 100, seed: int = 0, shots: int = SHOTS) -> list[Path]:
    """Writes the tasks under ``out_dir`` (pass ``<lab data dir>/bbh``); returns the paths."""
    written = []
    for relative, text in bbh_files(n, seed, shots).items():
        path = Path(out_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written

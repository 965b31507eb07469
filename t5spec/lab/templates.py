"""The problem templates of the lab's math world, one small function per template.

A template draws numbers, computes every step with :class:`Calc` (which rejects negative,
fractional or large intermediate results), and renders a :class:`Draft`: context sentences,
the question sentence, and the CoT lines, each line holding exactly one equation. Raising
:class:`Reject` means "draw again". :data:`FAMILIES` lists the templates of each family (see
:mod:`t5spec.lab.world` for what each family imitates).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from fractions import Fraction

MAX_VALUE = 999


class Reject(Exception):
    """The drawn numbers do not give a valid problem; draw again."""


@dataclasses.dataclass
class Draft:
    body: str
    query: str
    steps: list[str]
    equations: list[str]
    answer: int
    unit: str


class Calc:
    """Evaluates steps exactly and records each as text ``"a op b = c"``."""

    def __init__(self) -> None:
        self.equations: list[str] = []

    def __call__(self, a: int, op: str, b: int) -> tuple[int, str]:
        """(c, ``"a op b = c"``) for op in + - * /; Reject unless c is an integer in [0, 999]."""
        exact = {"+": Fraction(a + b), "-": Fraction(a - b), "*": Fraction(a * b),
                 "/": Fraction(a, b) if b else Fraction(-1)}[op]
        if exact.denominator != 1 or not 0 <= exact <= MAX_VALUE:
            raise Reject
        text = f"{a} {op} {b} = {int(exact)}"
        self.equations.append(text)
        return int(exact), text


@dataclasses.dataclass(frozen=True)
class Person:
    name: str
    he: str
    his: str
    him: str

    @property
    def He(self) -> str:
        return self.he.capitalize()


def _people(names: str, pronoun: str) -> list[Person]:
    forms = {"she": ("she", "her", "her"), "he": ("he", "his", "him")}[pronoun]
    return [Person(n, *forms) for n in names.split()]


GSM_PEOPLE = _people("Anna Carla Emma Grace Ivy Lily Mia Nora", "she") + _people(
    "Ben David Frank Henry Jack Max Omar Sam", "he")
MA_PEOPLE = _people("Debby Olivia Wendy Nancy Rita", "she") + _people("Tom Paul Luke Adam", "he")
AS_PEOPLE = _people("Ellen Janet Sharon Katie Paula", "she") + _people(
    "Allan Jake Marin Kevin", "he")
SV_PEOPLE = _people("Rosa Tina Julia Maria", "she") + _people("Paco Dan Carlos Bill Ed", "he")
GSM_ITEMS = ("apples", "pencils", "cookies", "stickers", "marbles", "books", "candies", "cards")
BOXES = ("bags", "boxes", "packs")
SHOP = (("notebooks", 2, 6), ("pens", 1, 4), ("shirts", 5, 15), ("toys", 3, 9), ("cakes", 4, 8))
AS_ITEMS = ("balls", "oranges", "balloons", "shells", "stamps", "pears", "kites", "buttons")
SV_ITEMS = ("crackers", "peaches", "bananas", "flowers", "erasers", "dolls", "cupcakes")
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def _two(rng: random.Random, people: list[Person]) -> tuple[Person, Person]:
    a, b = rng.sample(people, 2)
    return a, b


def _word(rng: random.Random, n: int) -> str:
    """ASDiv writes small numbers as words about half the time."""
    return WORDS[n] if n < len(WORDS) and rng.random() < 0.5 else str(n)


# ----------------------------------------------------------------------- gsm8k (in-distribution)
def _event(rng: random.Random, c: Calc, p: Person, friend: Person, items: str, x: int,
           budget: int) -> tuple[str, list[str], int, int]:
    """One story event applied to count ``x``: (sentence, CoT lines, new count, equations)."""
    kind = rng.choice(["packs", "finds", "gives", "half", "twice"] if budget >= 2
                      else ["finds", "gives"])
    if kind == "packs":
        n, k, box = rng.randint(2, 5), rng.randint(2, 6), rng.choice(BOXES)
        got, e1 = c(n, "*", k)
        y, e2 = c(x, "+", got)
        return (f"Then {p.he} buys {n} {box} of {items} with {k} {items} in each.",
                [f"{p.name} buys {e1} {items}.", f"{p.name} now has {e2} {items}."], y, 2)
    if kind == "finds":
        b = rng.randint(2, 15)
        y, e = c(x, "+", b)
        return (f"{p.He} finds {b} more {items}.",
                [f"{p.name} has {e} {items} after finding more."], y, 1)
    if kind == "gives":
        if x < 3:
            raise Reject
        b = rng.randint(1, x - 1)
        y, e = c(x, "-", b)
        return (f"{p.He} gives {b} {items} to {friend.name}.",
                [f"{p.name} has {e} {items} left after giving some to {friend.name}."], y, 1)
    if kind == "half":
        half, e1 = c(x, "/", 2)
        y, e2 = c(x, "-", half)
        return (f"{p.He} gives half of {p.his} {items} to {friend.name}.",
                [f"{p.name} gives {e1} {items} to {friend.name}.",
                 f"{p.name} has {e2} {items} left."], y, 2)
    more, e1 = c(x, "*", 2)
    y, e2 = c(x, "+", more)
    return (f"{friend.name} gives {p.him} twice as many {items} as {p.he} has.",
            [f"{friend.name} gives {p.name} {e1} {items}.", f"{p.name} now has {e2} {items}."],
            y, 2)


def gsm_inventory(rng: random.Random) -> Draft:
    p, friend = _two(rng, GSM_PEOPLE)
    items, c = rng.choice(GSM_ITEMS), Calc()
    x = rng.randint(4, 30)
    sentences, steps = [f"{p.name} has {x} {items}."], []
    budget = rng.choice([2, 3, 4])
    share = rng.random() < 0.3
    while budget > (1 if share else 0):
        sentence, lines, x, used = _event(rng, c, p, friend, items, x, budget - share)
        sentences.append(sentence)
        steps += lines
        budget -= used
    query = f"How many {items} does {p.name} have now?"
    if share:
        k = rng.randint(2, 6)
        x, e = c(x, "/", k)
        sentences.append(f"{p.He} shares the {items} equally among {k} friends.")
        steps.append(f"Each friend gets {e} {items}.")
        query = f"How many {items} does each friend get?"
    return Draft(" ".join(sentences), query, steps, c.equations, x, items)


def gsm_shopping(rng: random.Random) -> Draft:
    p = rng.choice(GSM_PEOPLE)
    (a, lo, hi), (b, lo2, hi2) = rng.sample(SHOP, 2)
    n, price, c = rng.randint(2, 6), rng.randint(lo, hi), Calc()
    cost, e = c(n, "*", price)
    sentences = [f"{p.name} buys {n} {a} for {price} dollars each."]
    steps = [f"The {a} cost {e} dollars."]
    variant = rng.choice(["two", "bill", "two_bill"])
    if variant != "bill":
        m, price2 = rng.randint(2, 6), rng.randint(lo2, hi2)
        cost2, e2 = c(m, "*", price2)
        cost, e3 = c(cost, "+", cost2)
        sentences.append(f"{p.He} also buys {m} {b} for {price2} dollars each.")
        steps += [f"The {b} cost {e2} dollars.", f"In total {p.he} spends {e3} dollars."]
    query = f"How many dollars does {p.name} spend in total?"
    if variant != "two":
        note = rng.choice([50, 100]) if cost > 20 else rng.choice([20, 50])
        change, e4 = c(note, "-", cost)
        sentences.append(f"{p.He} pays with a {note} dollar bill.")
        steps.append(f"{p.name} gets {e4} dollars in change.")
        query = f"How much change in dollars does {p.name} get?"
        cost = change
    return Draft(" ".join(sentences), query, steps, c.equations, cost, "dollars")


def gsm_wages(rng: random.Random) -> Draft:
    p = rng.choice(GSM_PEOPLE)
    job = rng.choice(["babysitting", "walking dogs", "washing cars", "mowing lawns"])
    wage, h1, h2, c = rng.randint(3, 12), rng.randint(1, 6), rng.randint(1, 6), Calc()
    hours, e1 = c(h1, "+", h2)
    pay, e2 = c(hours, "*", wage)
    sentences = [f"{p.name} earns {wage} dollars an hour for {job}.",
                 f"{p.He} works {h1} hours on Monday and {h2} hours on Tuesday."]
    steps = [f"{p.name} works {e1} hours.", f"{p.He} earns {e2} dollars."]
    query = f"How many dollars does {p.name} earn?"
    if rng.random() < 0.5:
        spent = rng.randint(1, max(1, pay - 1))
        pay, e3 = c(pay, "-", spent)
        sentences.append(f"{p.He} spends {spent} dollars on a gift.")
        steps.append(f"{p.name} has {e3} dollars left.")
        query = f"How many dollars does {p.name} have left?"
    return Draft(" ".join(sentences), query, steps, c.equations, pay, "dollars")


# ------------------------------------------------------------------- multiarith (2 steps, "If")
def ma_waiter(rng: random.Random) -> Draft:
    a, b, more, c = rng.randint(5, 40), rng.randint(1, 20), rng.randint(2, 40), Calc()
    x, e1 = c(a, "-", b)
    y, e2 = c(x, "+", more)
    return Draft(f"A waiter had {a} customers to wait on.",
                 f"If {b} customers left and he got another {more} customers, how many "
                 "customers would he have?",
                 [f"After some left the waiter had {e1} customers.",
                  f"Then he had {e2} customers."], c.equations, y, "customers")


def ma_lives(rng: random.Random) -> Draft:
    p, c = rng.choice(MA_PEOPLE), Calc()
    a, b, more = rng.randint(5, 50), rng.randint(1, 30), rng.randint(2, 40)
    x, e1 = c(a, "-", b)
    y, e2 = c(x, "+", more)
    return Draft(f"{p.name} was playing a video game and had {a} lives.",
                 f"If {p.he} lost {b} lives and then got {more} more lives in the next level, "
                 f"how many lives would {p.he} have?",
                 [f"{p.name} had {e1} lives after losing some.", f"Then {p.he} had {e2} lives."],
                 c.equations, y, "lives")


def ma_points(rng: random.Random) -> Draft:
    pts, n, c = rng.randint(2, 9), rng.randint(4, 15), Calc()
    left = rng.randint(1, n - 1)
    done, e1 = c(n, "-", left)
    y, e2 = c(done, "*", pts)
    return Draft(f"In a video game, each enemy defeated gives you {pts} points.",
                 f"If a level has {n} enemies total and you destroy all but {left} of them, "
                 "how many points would you earn?",
                 [f"You destroy {e1} enemies.", f"You earn {e2} points."], c.equations, y,
                 "points")


def ma_shelves(rng: random.Random) -> Draft:
    thing = rng.choice(["coats", "hats", "lamps", "chairs"])
    k, c = rng.randint(2, 9), Calc()
    rest, sold = k * rng.randint(2, 9), rng.randint(1, 30)
    total = rest + sold
    x, e1 = c(total, "-", sold)
    y, e2 = c(x, "/", k)
    return Draft(f"A store had {total} {thing} in stock.",
                 f"If they sold {sold} of them and put the rest onto shelves with {k} on each "
                 "shelf, how many shelves did they use?",
                 [f"The store had {e1} {thing} left.", f"They used {e2} shelves."],
                 c.equations, y, "shelves")


def ma_tickets(rng: random.Random) -> Draft:
    p, c = rng.choice(MA_PEOPLE), Calc()
    k = rng.randint(2, 8)
    total = k * rng.randint(2, 12)
    won = rng.randint(1, total - 1)
    x, e1 = c(total - won, "+", won)
    y, e2 = c(x, "/", k)
    return Draft(f"At the fair {p.name} had {total - won} tickets and won {won} more.",
                 f"If each toy costs {k} tickets, how many toys could {p.he} buy?",
                 [f"{p.name} had {e1} tickets.", f"{p.He} could buy {e2} toys."],
                 c.equations, y, "toys")


# ---------------------------------------------------------- asdiv (body + question, comparisons)
def as_more(rng: random.Random) -> Draft:
    (p, q), items, c = _two(rng, AS_PEOPLE), rng.choice(AS_ITEMS), Calc()
    d, b = rng.randint(1, 12), rng.randint(1, 12)
    y, e = c(b, "+", d)
    return Draft(f"{p.name} has {_word(rng, d)} more {items} than {q.name}. "
                 f"{q.name} has {_word(rng, b)} {items}.",
                 f"How many {items} does {p.name} have?",
                 [f"{p.name} has {e} {items}."], c.equations, y, items)


def as_times(rng: random.Random) -> Draft:
    (p, q), items, c = _two(rng, AS_PEOPLE), rng.choice(AS_ITEMS), Calc()
    k, b = rng.randint(2, 5), rng.randint(2, 12)
    y, e = c(b, "*", k)
    return Draft(f"{p.name} has {k} times as many {items} as {q.name}. "
                 f"{q.name} has {_word(rng, b)} {items}.",
                 f"How many {items} does {p.name} have?",
                 [f"{p.name} has {e} {items}."], c.equations, y, items)


def as_fewer_total(rng: random.Random) -> Draft:
    (p, q), items, c = _two(rng, AS_PEOPLE), rng.choice(AS_ITEMS), Calc()
    a, d = rng.randint(5, 20), rng.randint(1, 10)
    b, e1 = c(a, "-", d)
    y, e2 = c(a, "+", b)
    return Draft(f"{p.name} has {_word(rng, a)} {items}. "
                 f"{q.name} has {_word(rng, d)} fewer {items} than {p.name}.",
                 f"How many {items} do they have in all?",
                 [f"{q.name} has {e1} {items}.", f"Together they have {e2} {items}."],
                 c.equations, y, items)


def as_colors(rng: random.Random) -> Draft:
    items, place, c = rng.choice(AS_ITEMS), rng.choice(["basket", "box", "bag"]), Calc()
    a, b = rng.randint(1, 10), rng.randint(1, 10)
    y, e = c(a, "+", b)
    first = _word(rng, a)
    return Draft(f"{first[0].upper() + first[1:]} red {items} and {_word(rng, b)} green {items} "
                 f"are in the {place}.", f"How many {items} are in the {place}?",
                 [f"There are {e} {items} in the {place}."], c.equations, y, items)


def as_groups(rng: random.Random) -> Draft:
    p, items, c = rng.choice(AS_PEOPLE), rng.choice(AS_ITEMS), Calc()
    k = rng.randint(2, 6)
    total = k * rng.randint(2, 9)
    y, e = c(total, "/", k)
    return Draft(f"{p.name} had {total} {items}. {p.He} put them equally into "
                 f"{_word(rng, k)} bags.", f"How many {items} are in each bag?",
                 [f"Each bag has {e} {items}."], c.equations, y, items)


# ------------------------------------------- svamp (irrelevant numbers, question first, inverse)
def sv_distractor(rng: random.Random) -> Draft:
    p, c = rng.choice(SV_PEOPLE), Calc()
    kind, other = rng.sample(SV_ITEMS, 2)
    a, d = rng.randint(8, 40), rng.randint(3, 40)
    b, f, more = rng.randint(1, a - 1), rng.randint(1, d - 1), rng.randint(2, 20)
    x, e1 = c(a, "-", b)
    y, e2 = c(x, "+", more)
    return Draft(f"{p.name} had {a} {kind} and {d} {other}. {p.He} gave away {b} {kind} and "
                 f"{f} {other}. Then {p.he} bought {more} {kind}.",
                 f"How many {kind} did {p.name} have in the end?",
                 [f"{p.name} had {e1} {kind} after giving some away.",
                  f"Then {p.he} had {e2} {kind}."], c.equations, y, kind)


def sv_question_first(rng: random.Random) -> Draft:
    p, items, c = rng.choice(SV_PEOPLE), rng.choice(SV_ITEMS), Calc()
    n, k, unused = rng.randint(2, 8), rng.randint(2, 9), rng.randint(2, 9)
    got, e1 = c(n, "*", k)
    gave = rng.randint(1, got - 1)
    y, e2 = c(got, "-", gave)
    return Draft(f"{p.name} keeps {items} in boxes and has {unused} empty boxes.",
                 f"How many {items} does {p.name} have left if {p.he} has {n} full boxes with "
                 f"{k} {items} each and gives away {gave} {items}?",
                 [f"{p.name} has {e1} {items} in the full boxes.",
                  f"{p.He} has {e2} {items} left."], c.equations, y, items)


def sv_inverse(rng: random.Random) -> Draft:
    p, items, c = rng.choice(SV_PEOPLE), rng.choice(SV_ITEMS), Calc()
    left, gave, friend_has = rng.randint(1, 30), rng.randint(1, 30), rng.randint(2, 30)
    y, e = c(left, "+", gave)
    return Draft(f"{p.name} had {left} {items} left after giving {gave} {items} to a friend. "
                 f"The friend now has {friend_has} {items}.",
                 f"How many {items} did {p.name} have at the start?",
                 [f"{p.name} had {e} {items} at the start."], c.equations, y, items)


def sv_cost(rng: random.Random) -> Draft:
    p, c = rng.choice(SV_PEOPLE), Calc()
    thing, other = rng.sample(["candy bar", "juice box", "comic book", "yo-yo"], 2)
    left, price, other_price = rng.randint(1, 20), rng.randint(1, 15), rng.randint(1, 10)
    start = left + price + other_price
    spent, e1 = c(start, "-", left)
    y, e2 = c(spent, "-", other_price)
    return Draft(f"{p.name} had {left} dollars left after buying a {thing} and a {other}. "
                 f"The {other} cost {other_price} dollars.",
                 f"If {p.he} had {start} dollars at the start, how much did the {thing} cost?",
                 [f"{p.name} spent {e1} dollars.", f"The {thing} cost {e2} dollars."],
                 c.equations, y, "dollars")


FAMILIES: dict[str, tuple[Callable[[random.Random], Draft], ...]] = {
    "gsm8k": (gsm_inventory, gsm_inventory, gsm_shopping, gsm_wages),
    "multiarith": (ma_waiter, ma_lives, ma_points, ma_shelves, ma_tickets),
    "asdiv": (as_more, as_times, as_fewer_total, as_colors, as_groups),
    "svamp": (sv_distractor, sv_question_first, sv_inverse, sv_cost),
}

"""A seeded generator of grade-school word problems with worked solutions, in GSM8K's format.

The generator of the gsm8k task's ``sample`` data (``make_gsm8k.py`` writes its output to
tasks/data/gsm8k/): items are ``{"question", "answer"}`` like the rows of ``openai/gsm8k``; an answer is a worked solution whose calculations carry GSM8K's calculator
annotations (``4 * 3 = <<4*3=12>>12``) and whose last line is ``#### N``. Templates cover
shopping with change, rates and times, fractions of a whole, ages, areas and perimeters,
percentages, equal sharing, and longer multi-step chains; each draws its numbers so that every
intermediate result is a whole number or a terminating decimal (money). Values are computed
with exact fractions, and every annotation is checked against its expression as it is written.

``split_items`` is deterministic per seed; the test split is drawn first and the train split
skips every problem whose template and numbers (its "signature") occur in the test split, so
the two splits share no arithmetic. These are not GSM8K problems: numbers measured on them are
for smoke tests and demos only.

    >>> items = split_items("test", n_test=3, seed=0)
    >>> items[0]["answer"].splitlines()[-1].startswith("#### ")
    True
"""

from __future__ import annotations

import ast
import operator
import random
from collections.abc import Callable, Mapping
from fractions import Fraction
from types import MappingProxyType

NAMES = (
    "Ava", "Ben", "Carla", "Dev", "Elena", "Farid", "Greta", "Hugo", "Imani", "Jonas", "Keiko",
    "Liam", "Maya", "Nico", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wes", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
ITEMS = (
    ("notebook", "notebooks"), ("pencil", "pencils"), ("apple", "apples"), ("candle", "candles"),
    ("mug", "mugs"), ("ticket", "tickets"), ("sticker", "stickers"), ("plant", "plants"),
    ("scarf", "scarves"), ("book", "books"), ("muffin", "muffins"), ("toy car", "toy cars"),
)  # fmt: skip
THINGS = ("marbles", "stamps", "cards", "shells", "beads", "coins", "buttons", "crayons")
WORKERS = ("machine", "printer", "robot", "factory line")
PRODUCTS = ("bottles", "labels", "boxes", "pages", "bolts", "cups")

_OPS: Mapping[type, Callable] = MappingProxyType(
    {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
    }
)


def evaluate(expr: str) -> Fraction:
    """Exact value of an arithmetic expression of numbers, + - * / and parentheses."""

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return Fraction(str(node.value))
        raise ValueError(f"not plain arithmetic: {expr!r}")

    return walk(ast.parse(expr, mode="eval").body)


def fmt(value: Fraction | int) -> str:
    """A whole number, or a terminating decimal with no trailing zeros."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    for places in range(1, 7):
        scaled = value * 10**places
        if scaled.denominator == 1:
            sign = "-" if scaled < 0 else ""
            digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
            return f"{sign}{digits[:-places]}.{digits[-places:]}"
    raise ValueError(f"{value} is not a short terminating decimal")


def money(value: Fraction | int) -> str:
    """Dollars as GSM8K writes them: ``$12`` or ``$3.50``."""
    value = Fraction(value)
    if value.denominator == 1:
        return f"${value.numerator}"
    return f"${float(value):.2f}"


class Work:
    """Collects the lines of a worked solution; ``calc`` annotates one calculation."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def calc(self, expr: str) -> tuple[Fraction, str]:
        value = evaluate(expr)
        return value, f"{expr} = <<{expr}={fmt(value)}>>{fmt(value)}"

    def say(self, line: str) -> None:
        self.lines.append(line)

    def finish(self, answer: Fraction) -> str:
        return "\n".join([*self.lines, f"#### {fmt(answer)}"])


# Each template takes a Random and returns (question, answer, signature) or None to redraw.


def shopping(rng: random.Random):
    name = rng.choice(NAMES)
    (one1, many1), (one2, many2) = rng.sample(ITEMS, 2)
    n1, n2 = rng.randint(2, 9), rng.randint(2, 9)
    p1 = Fraction(rng.randint(2, 24), 2)  # whole or half dollars
    p2 = Fraction(rng.randint(1, 15))
    bill = rng.choice((50, 100))
    if n1 * p1 + n2 * p2 >= bill:
        return None
    q = (
        f"{name} buys {n1} {many1} for {money(p1)} each and {n2} {many2} for {money(p2)} each. "
        f"{name} pays with a {money(bill)} bill. How much change, in dollars, does {name} get?"
    )
    w = Work()
    c1, t1 = w.calc(f"{fmt(n1)}*{fmt(p1)}")
    w.say(f"The {many1} cost {t1} dollars.")
    c2, t2 = w.calc(f"{fmt(n2)}*{fmt(p2)}")
    w.say(f"The {many2} cost {t2} dollars.")
    total, t3 = w.calc(f"{fmt(c1)}+{fmt(c2)}")
    w.say(f"Altogether {name} spends {t3} dollars.")
    change, t4 = w.calc(f"{bill}-{fmt(total)}")
    w.say(f"So {name} gets {t4} dollars in change.")
    return q, w.finish(change), ("shopping", n1, p1, n2, p2, bill)


def rates(rng: random.Random):
    if rng.random() < 0.5:
        name = rng.choice(NAMES)
        v1, v2 = rng.randint(3, 14) * 5, rng.randint(3, 14) * 5
        h1, h2 = rng.randint(1, 6), rng.randint(1, 6)
        q = (
            f"{name} drives at {v1} miles per hour for {h1} hours, then at {v2} miles per hour "
            f"for {h2} more hours. How many miles does {name} drive in all?"
        )
        w = Work()
        d1, t1 = w.calc(f"{v1}*{h1}")
        w.say(f"In the first part {name} drives {t1} miles.")
        d2, t2 = w.calc(f"{v2}*{h2}")
        w.say(f"In the second part {name} drives {t2} miles.")
        total, t3 = w.calc(f"{fmt(d1)}+{fmt(d2)}")
        w.say(f"In all {name} drives {t3} miles.")
        return q, w.finish(total), ("drive", v1, h1, v2, h2)
    worker, product = rng.choice(WORKERS), rng.choice(PRODUCTS)
    per_min, hours = rng.randint(2, 30), rng.randint(2, 9)
    q = (
        f"A {worker} makes {per_min} {product} every minute. How many {product} does it make in "
        f"{hours} hours?"
    )
    w = Work()
    minutes, t1 = w.calc(f"{hours}*60")
    w.say(f"{hours} hours are {t1} minutes.")
    made, t2 = w.calc(f"{fmt(minutes)}*{per_min}")
    w.say(f"It makes {t2} {product}.")
    return q, w.finish(made), ("machine", per_min, hours)


def fractions(rng: random.Random):
    name, friend = rng.sample(NAMES, 2)
    thing = rng.choice(THINGS)
    den = rng.choice((2, 3, 4, 5, 6, 8, 10))
    num = rng.randint(1, den - 1)
    total = den * rng.randint(3, 20)
    extra = rng.randint(1, 12)
    given = Fraction(total * num, den)
    if total - given - extra <= 0:
        return None
    q = (
        f"{name} has {total} {thing}. {name} gives {num}/{den} of them to {friend} and then "
        f"loses {extra} more. How many {thing} does {name} have left?"
    )
    w = Work()
    g, t1 = w.calc(f"{total}*{num}/{den}")
    w.say(f"{name} gives away {t1} {thing}.")
    left, t2 = w.calc(f"{total}-{fmt(g)}-{extra}")
    w.say(f"{name} has {t2} {thing} left.")
    return q, w.finish(left), ("fraction", total, num, den, extra)


def ages(rng: random.Random):
    a, b = rng.sample(NAMES, 2)
    if rng.random() < 0.5:
        k, young, years = rng.randint(2, 5), rng.randint(2, 15), rng.randint(2, 20)
        q = (
            f"{a} is {k} times as old as {b}. {b} is {young} years old. "
            f"How old will {a} be in {years} years?"
        )
        w = Work()
        now, t1 = w.calc(f"{k}*{young}")
        w.say(f"{a} is {t1} years old now.")
        later, t2 = w.calc(f"{fmt(now)}+{years}")
        w.say(f"In {years} years {a} will be {t2} years old.")
        return q, w.finish(later), ("ages-times", k, young, years)
    years, future, gap = rng.randint(2, 15), rng.randint(25, 70), rng.randint(2, 20)
    if future - years - gap < 1:
        return None
    q = (
        f"In {years} years, {a} will be {future} years old. {b} is {gap} years younger than {a}. "
        f"How old is {b} now?"
    )
    w = Work()
    now, t1 = w.calc(f"{future}-{years}")
    w.say(f"{a} is {t1} years old now.")
    other, t2 = w.calc(f"{fmt(now)}-{gap}")
    w.say(f"{b} is {t2} years old.")
    return q, w.finish(other), ("ages-gap", years, future, gap)


def areas(rng: random.Random):
    length, width = rng.randint(4, 40), rng.randint(3, 30)
    if rng.random() < 0.5:
        cost = rng.randint(2, 12)
        q = (
            f"A rectangular garden is {length} feet long and {width} feet wide. Fencing costs "
            f"{money(cost)} per foot. How much, in dollars, does it cost to fence the whole garden?"
        )
        w = Work()
        side, t1 = w.calc(f"{length}+{width}")
        w.say(f"One length and one width together are {t1} feet.")
        perim, t2 = w.calc(f"2*{fmt(side)}")
        w.say(f"The perimeter is {t2} feet.")
        price, t3 = w.calc(f"{fmt(perim)}*{cost}")
        w.say(f"The fence costs {t3} dollars.")
        return q, w.finish(price), ("fence", length, width, cost)
    per_box = rng.choice((4, 5, 8, 10, 12, 16, 20, 25))
    if (length * width) % per_box:
        return None
    q = (
        f"A floor is {length} feet long and {width} feet wide. One box of tiles covers {per_box} "
        f"square feet. How many boxes of tiles are needed to cover the floor exactly?"
    )
    w = Work()
    area, t1 = w.calc(f"{length}*{width}")
    w.say(f"The floor has an area of {t1} square feet.")
    boxes, t2 = w.calc(f"{fmt(area)}/{per_box}")
    w.say(f"So {t2} boxes are needed.")
    return q, w.finish(boxes), ("tiles", length, width, per_box)


def percent(rng: random.Random):
    name = rng.choice(NAMES)
    one, many = rng.choice(ITEMS)
    price = rng.randint(2, 40) * 5
    off = rng.choice((10, 20, 25, 30, 40, 50))
    count = rng.randint(2, 6)
    q = (
        f"A {one} costs {money(price)}. This week every {one} is {off}% off. {name} buys {count} "
        f"{many}. How much, in dollars, does {name} pay?"
    )
    w = Work()
    cut, t1 = w.calc(f"{price}*{off}/100")
    w.say(f"The discount on one {one} is {t1} dollars.")
    each, t2 = w.calc(f"{price}-{fmt(cut)}")
    w.say(f"One {one} costs {t2} dollars on sale.")
    total, t3 = w.calc(f"{fmt(each)}*{count}")
    w.say(f"{name} pays {t3} dollars.")
    return q, w.finish(total), ("percent", price, off, count)


def sharing(rng: random.Random):
    groups, per_student, size = rng.randint(2, 9), rng.randint(2, 8), rng.randint(3, 12)
    students = groups * size
    q = (
        f"{students} students are split evenly into {groups} groups. Every student in a group "
        f"needs {per_student} sheets of paper. How many sheets does one group need?"
    )
    w = Work()
    each, t1 = w.calc(f"{students}/{groups}")
    w.say(f"Each group has {t1} students.")
    sheets, t2 = w.calc(f"{fmt(each)}*{per_student}")
    w.say(f"One group needs {t2} sheets.")
    return q, w.finish(sheets), ("sharing", students, groups, per_student)


def multistep(rng: random.Random):
    if rng.random() < 0.5:
        dozens, sold, days = rng.randint(3, 12), rng.randint(5, 30), rng.choice((5, 6, 7))
        if dozens * 12 <= sold:
            return None
        q = (
            f"A bakery bakes {dozens} dozen cookies every day. It sells {sold} cookies a day and "
            f"gives the rest to a shelter. How many cookies does the shelter get in {days} days?"
        )
        w = Work()
        baked, t1 = w.calc(f"{dozens}*12")
        w.say(f"The bakery bakes {t1} cookies a day.")
        rest, t2 = w.calc(f"{fmt(baked)}-{sold}")
        w.say(f"It gives away {t2} cookies a day.")
        total, t3 = w.calc(f"{fmt(rest)}*{days}")
        w.say(f"In {days} days the shelter gets {t3} cookies.")
        return q, w.finish(total), ("bakery", dozens, sold, days)
    name = rng.choice(NAMES)
    wage, hours = rng.randint(8, 30), rng.randint(2, 8)
    days, weeks = rng.randint(2, 6), rng.randint(2, 8)
    save = rng.choice((10, 20, 25, 50))
    q = (
        f"{name} earns {money(wage)} an hour and works {hours} hours a day, {days} days a week. "
        f"{name} saves {save}% of the pay. How many dollars does {name} save in {weeks} weeks?"
    )
    w = Work()
    day_pay, t1 = w.calc(f"{wage}*{hours}")
    w.say(f"{name} earns {t1} dollars a day.")
    week_pay, t2 = w.calc(f"{fmt(day_pay)}*{days}")
    w.say(f"{name} earns {t2} dollars a week.")
    all_pay, t3 = w.calc(f"{fmt(week_pay)}*{weeks}")
    w.say(f"In {weeks} weeks {name} earns {t3} dollars.")
    saved, t4 = w.calc(f"{fmt(all_pay)}*{save}/100")
    w.say(f"{name} saves {t4} dollars.")
    return q, w.finish(saved), ("wages", wage, hours, days, weeks, save)


TEMPLATES = (shopping, rates, fractions, ages, areas, percent, sharing, multistep)


def generate(
    n: int, seed: int, split: str, exclude: frozenset = frozenset()
) -> tuple[list[dict], set]:
    """``n`` distinct problems for ``split`` (signatures in ``exclude`` are skipped), and the
    set of their signatures."""
    rng = random.Random(f"qbench-gsm8k-synth:{seed}:{split}")
    items: list[dict] = []
    seen: set = set()
    attempts = 0
    while len(items) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise RuntimeError(f"could not draw {n} distinct problems (got {len(items)})")
        drawn = rng.choice(TEMPLATES)(rng)
        if drawn is None:
            continue
        question, answer, signature = drawn
        if signature in seen or signature in exclude:
            continue
        seen.add(signature)
        items.append({"question": question, "answer": answer})
    return items, seen


def split_items(split: str, n_train: int = 2000, n_test: int = 100, seed: int = 0) -> list[dict]:
    """The ``split`` ("train" or "test") of the sample source with these sizes. The test items
    are a prefix-stable stream (the first k of a larger draw are the draw of k); the train split
    skips every signature of the first ``n_test`` test items."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split '{split}'; allowed: train, test")
    test, test_sigs = generate(n_test, seed, "test")
    if split == "test":
        return test
    train, _ = generate(n_train, seed, "train", frozenset(test_sigs))
    return train

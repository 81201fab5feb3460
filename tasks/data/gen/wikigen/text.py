"""Template expansion and WikiText-style tokenization for the WikiText-2 sample generator.

Templates are plain English sentences with two kinds of markup:

* ``{key}`` is replaced by the article's fact ``key``;
* ``[a|b|c]`` is replaced by one of its alternatives (chosen with the article's seeded RNG);
  alternatives may nest and may be empty (``[very |]``).

``wikify`` then rewrites the finished sentence the way WikiText-2 spells text: punctuation split off by
spaces, ``1 @,@ 200``, ``3 @.@ 5``, ``long @-@ term``, ``the town 's``.
"""

import re

_CHOICE = re.compile(r"\[([^\[\]]*)\]")
_FACT = re.compile(r"\{(\w+)\}")


def expand(template, facts, rng):
    """Fill ``template`` from ``facts`` and resolve its ``[a|b]`` choices with ``rng``."""
    text = template
    while True:
        match = _CHOICE.search(text)
        if match is None:
            break
        text = text[: match.start()] + rng.choice(match.group(1).split("|")) + text[match.end() :]

    def fact(match):
        key = match.group(1)
        if key not in facts:
            raise KeyError(f"template uses unknown fact {key!r}: {template!r}")
        return str(facts[key])

    text = _FACT.sub(fact, text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:1].upper() + text[1:]


_PROTECT = {"@,@": "\x01", "@.@": "\x02", "@-@": "\x03"}


def wikify(text):
    """Tokenize plain English the way the WikiText raw files are tokenized."""
    text = re.sub(r"(?<=\d),(?=\d)", " \x01 ", text)
    text = re.sub(r"(?<=\d)\.(?=\d)", " \x02 ", text)
    text = re.sub(r"(?<=\w)-(?=\w)", " \x03 ", text)
    text = re.sub(r"(?<=\w)'s\b", " 's", text)
    text = re.sub(r"(?<=s)'(?=[\s,.;:])", " '", text)
    text = re.sub(r'([,;:()"!?–—£$])', r" \1 ", text)
    text = re.sub(r"\.(?=\s|$)", " .", text)
    for token, mark in _PROTECT.items():
        text = text.replace(mark, token)
    return re.sub(r"\s+", " ", text).strip()


def number(n):
    """12450 -> '12,450' (wikify turns it into '12 @,@ 450')."""
    return f"{n:,}"


def decimal(x, places=1):
    return f"{x:.{places}f}"


def ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]


def words(n):
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def date(rng, year):
    """A day-month-year date such as '14 March 1876'."""
    return f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {year}"


def km_mi(km):
    """'42 kilometres ( 26 mi )' style length with a converted value."""
    mi = km * 0.621371
    if km < 10:
        return f"{km:.1f} kilometres ({mi:.1f} mi)"
    return f"{km:,} kilometres ({round(mi):,} mi)"


def m_ft(m):
    return f"{m:,} metres ({round(m * 3.28084):,} ft)"

"""Answer extraction for the generation protocols: GSM8K numbers and commonsense answer words.

GSM8K (``extract_number``): the first number after the first answer marker (``####`` as in the
dataset's solutions, or ``The final answer is`` as in the LoftQ/ApiQ training targets), else the
last number anywhere in the output (the rule of LoftQ's and ApiQ's ``test_gsm8k.py``). Numbers
may carry thousands separators (``1,234``), a sign (``-5``), decimals (``3.50``) and a currency
sign (``$12``); they are returned as exact ``Decimal`` values, so ``3.50`` equals ``3.5`` and
``1,234`` equals ``1234``. A hyphen right after a letter, digit or bracket is an operator or a
dash, not a sign (``10-3`` reads as 10 and 3).

Commonsense (``extract_choice``): the LLM-Adapters rule — the first answer word of the set's
vocabulary (``true``/``false``, ``solution1``/``solution2``, ``answer1``..``answer5``,
``ending1``..``ending4``, ``option1``/``option2``) — read after the first "the correct answer
is" when the output has that phrase and a word follows it, else anywhere. Two deliberate
differences from LLM-Adapters' regular expressions: matching ignores case, and a word must stand
alone (``untrue`` and ``answer12`` are not answers).

    >>> extract_number("She pays 3 * $4 = $12.\\n#### 1,234")
    Decimal('1234')
    >>> extract_choice("The correct answer is Answer3.", "siqa")
    'answer3'

``script_number`` and ``script_gold`` are the rule of LoftQ's and ApiQ's ``test_gsm8k.py`` as
written (the ``sample-t0.1`` protocol): commas dropped, numbers as the pattern ``-?\\d+\\.?\\d*``
finds them, the first number between the first and the second "The final answer is: " (exact
case and spacing) if there is one, else the last number, compared as floats; ``inf`` where none.

    >>> script_number("3 * 4 = 12. The final answer is: 1,234 apples"), script_gold("#### 1,234")
    (1234.0, 1234.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

# A number: optional sign (only where it cannot be a minus between operands), optional currency,
# then digits with well-formed thousands groups, or plain digits, and an optional decimal part.
NUMBER = re.compile(
    r"(?<![\w.)\]])(?P<sign>-)?\s?\$?\s?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?!\d)"
)
MARKER = re.compile(r"####|the final answer is:?", re.IGNORECASE)
PHRASE = re.compile(r"the correct answer is", re.IGNORECASE)

VOCAB: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "boolq": ("true", "false"),
        "piqa": ("solution1", "solution2"),
        "siqa": tuple(f"answer{i}" for i in range(1, 6)),
        "hellaswag": tuple(f"ending{i}" for i in range(1, 5)),
        "winogrande": ("option1", "option2"),
        "arc_easy": tuple(f"answer{i}" for i in range(1, 6)),
        "arc_challenge": tuple(f"answer{i}" for i in range(1, 6)),
        "openbookqa": tuple(f"answer{i}" for i in range(1, 6)),
    }
)


def numbers(text: str) -> list[Decimal]:
    """Every number in ``text``, in order, as exact decimals."""
    out = []
    for m in NUMBER.finditer(text):
        try:
            value = Decimal(m.group("num").replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
            continue
        out.append(-value if m.group("sign") else value)
    return out


def extract_number(text: str) -> Decimal | None:
    """The predicted number of a GSM8K output (see the module doc), or None if it has none."""
    mark = MARKER.search(text)
    if mark:
        after = numbers(text[mark.end() :])
        if after:
            return after[0]
    found = numbers(text)
    return found[-1] if found else None


def gold_number(answer: str) -> Decimal:
    """The reference number of a GSM8K solution: what follows its ``####``."""
    if "####" not in answer:
        raise ValueError(f"GSM8K solution without '####': {answer[-80:]!r}")
    found = numbers(answer.rsplit("####", 1)[1])
    if not found:
        raise ValueError(f"GSM8K solution without a number after '####': {answer[-80:]!r}")
    return found[0]


def format_number(value: Decimal | None) -> str:
    """A decimal written plainly (``1234``, ``3.5``, ``-5``); ``""`` for None."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


SCRIPT_NUMBER = re.compile(r"-?\d+\.?\d*")
SCRIPT_MARKER = "The final answer is: "


def script_number(text: str) -> float:
    """The prediction of LoftQ's/ApiQ's ``extract_answer_number`` (see the module doc)."""
    text = text.replace(",", "")
    found = SCRIPT_NUMBER.findall(text)
    if not found:
        return math.inf
    parts = text.split(SCRIPT_MARKER)
    after = SCRIPT_NUMBER.findall(parts[1]) if len(parts) > 1 else []
    return float(after[0] if after else found[-1])


def script_gold(answer: str) -> float:
    """The reference of LoftQ's/ApiQ's ``test_gsm8k.py``: what follows the last ``####``,
    commas dropped, as a float (``inf`` when it does not parse)."""
    try:
        return float(answer.split("####")[-1].replace(",", ""))
    except ValueError:
        return math.inf


def _word_pattern(words: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])({alternatives})(?![a-z0-9])")


def extract_choice(text: str, subset: str) -> str:
    """The answer word of a commonsense output for set ``subset``; ``""`` when there is none."""
    if subset not in VOCAB:
        raise ValueError(f"unknown commonsense set '{subset}'; allowed: {', '.join(VOCAB)}")
    lowered = text.lower()
    pattern = _word_pattern(VOCAB[subset])
    phrase = PHRASE.search(lowered)
    if phrase:
        m = pattern.search(lowered, phrase.end())
        if m:
            return m.group(1)
    m = pattern.search(lowered)
    return m.group(1) if m else ""


def choice_complete(text: str, subset: str) -> bool:
    """True once more text cannot change ``extract_choice``: after the first "the correct answer
    is", an answer word and a character that ends it (where the Commonsense-170K responses end)."""
    lowered = text.lower()
    phrase = PHRASE.search(lowered)
    if not phrase:
        return False
    m = _word_pattern(VOCAB[subset]).search(lowered, phrase.end())
    return bool(m) and m.end() < len(lowered)

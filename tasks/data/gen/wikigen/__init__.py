"""Procedural encyclopedic articles for qbench's WikiText-2 sample (see ../make_wikitext2.py).

An article kind is a ``Kind``: a function that draws the article's facts (names, dates, numbers, all
consistent within the article) and a list of sections. A section is a list of slots; each slot is a list
of alternative sentence templates (see ``text.expand``), of which one is used. ``O(p, alts)`` is a slot
used with probability ``p``; the string ``P`` ends a paragraph.
"""

from dataclasses import dataclass, field

from .text import expand, wikify

P = "P"


@dataclass(frozen=True)
class O:
    p: float
    alts: list


@dataclass(frozen=True)
class Section:
    heading: str | None
    slots: list
    level: int = 2
    p: float = 1.0
    subsections: list = field(default_factory=list)


@dataclass(frozen=True)
class Kind:
    name: str
    facts: object
    sections: list


def _render_section(section, facts, rng, out):
    if section.heading is not None:
        out.append(("h", section.level, wikify(expand(section.heading, facts, rng))))
    paragraph = []
    for slot in section.slots:
        if isinstance(slot, str):
            if slot == P and paragraph:
                out.append(("p", " ".join(paragraph)))
                paragraph = []
            continue
        if isinstance(slot, O):
            if rng.random() >= slot.p:
                continue
            slot = slot.alts
        paragraph.append(wikify(expand(rng.choice(slot), facts, rng)))
    if paragraph:
        out.append(("p", " ".join(paragraph)))
    for sub in section.subsections:
        if rng.random() < sub.p:
            _render_section(sub, facts, rng, out)


def render(kind, rng, names):
    """One article: a list of ('h', level, text) and ('p', text) elements; the first is the title."""
    facts = kind.facts(rng, names)
    out = [("h", 1, wikify(facts["title"]))]
    for section in kind.sections:
        if rng.random() < section.p:
            _render_section(section, facts, rng, out)
    return out


def all_kinds():
    from . import buildings, events, media, nature, people, places

    return [
        *places.KINDS,
        *people.KINDS,
        *media.KINDS,
        *events.KINDS,
        *nature.KINDS,
        *buildings.KINDS,
    ]

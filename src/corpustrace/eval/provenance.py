"""The provenance set: responses spliced from corpus passages and invented text, with the
ground truth of which response characters come from which document.

Kinds of response (seeded): one passage copied verbatim; two passages of different
documents around an invented sentence; one sentence pasted before two invented ones (the
"Everest" case); a copied passage lightly edited (a word changed, punctuation); and
invented text alone. The characters of a changed word are not from the source.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from corpustrace.eval.corpus import Doc
from corpustrace.eval.synth import SLOTS, novel_sentence

KINDS = ("verbatim", "spliced", "pasted_lead", "edited", "novel")
_SENTENCE = re.compile(r"[^.!?]*[.!?]+(?=\s|$)")
_WORD = re.compile(r"[A-Za-z]{4,}")


@dataclass
class Piece:
    """Response characters [start, end) copied from document `doc`."""

    start: int
    end: int
    doc: int


@dataclass
class ProvenanceCase:
    kind: str
    prompt: str
    response: str
    pieces: list[Piece] = field(default_factory=list)

    @property
    def sources(self) -> set[int]:
        return {p.doc for p in self.pieces}


def sentences(text: str) -> list[str]:
    """Sentences of a text, stripped, of at least 20 characters."""
    return [s.strip() for s in _SENTENCE.findall(text) if len(s.strip()) >= 20]


def passage(rng: random.Random, doc: Doc, count: int) -> str | None:
    """`count` consecutive sentences of the document, or None when it has too few."""
    found = sentences(doc.text)
    if len(found) < count:
        return None
    start = rng.randrange(len(found) - count + 1)
    text = " ".join(found[start : start + count])
    # Only text that really is in the document (sentences joined by one space).
    return text if text in doc.text else None


def edit(rng: random.Random, text: str) -> tuple[str, list[tuple[int, int]]]:
    """Change one word (or drop a comma): the new text and its copied character intervals."""
    words = list(_WORD.finditer(text))
    if not words:
        return text, [(0, len(text))]
    w = rng.choice(words)
    replacement = rng.choice(SLOTS["adj"])
    edited = text[: w.start()] + replacement + text[w.end() :]
    after = w.start() + len(replacement)
    return edited, [(0, w.start()), (after, len(edited))]


class _Builder:
    def __init__(self) -> None:
        self.text = ""
        self.pieces: list[Piece] = []

    def add(
        self, text: str, doc: int | None = None, copied: list[tuple[int, int]] | None = None
    ) -> None:
        if self.text:
            self.text += " "
        base = len(self.text)
        self.text += text
        if doc is not None:
            for a, b in copied or [(0, len(text))]:
                if b > a:
                    self.pieces.append(Piece(base + a, base + b, doc))


def make_case(rng: random.Random, docs: Sequence[Doc], kind: str) -> ProvenanceCase | None:
    """One response of the given kind, or None when the drawn documents do not fit it."""
    first, second = rng.sample(range(len(docs)), 2)
    title = str(docs[first].meta.get("title") or "this")
    b = _Builder()
    if kind == "verbatim":
        text = passage(rng, docs[first], rng.choice([2, 3]))
        if text is None:
            return None
        b.add(text, first)
    elif kind == "spliced":
        one, two = passage(rng, docs[first], 1), passage(rng, docs[second], 1)
        if one is None or two is None:
            return None
        b.add(one, first)
        b.add(novel_sentence(rng))
        b.add(two, second)
    elif kind == "pasted_lead":
        found = sentences(docs[first].text)
        if not found or found[0] not in docs[first].text:
            return None
        b.add(found[0], first)
        b.add(novel_sentence(rng))
        b.add(novel_sentence(rng))
    elif kind == "edited":
        text = passage(rng, docs[first], 2)
        if text is None:
            return None
        edited, copied = edit(rng, text)
        b.add(edited, first, copied)
    else:
        b.add(novel_sentence(rng))
        b.add(novel_sentence(rng))
    return ProvenanceCase(kind, f"Tell me about {title}", b.text, b.pieces)


def provenance_set(docs: Sequence[Doc], count: int, seed: int) -> list[ProvenanceCase]:
    """`count` cases, kinds in turn, drawn with `seed`."""
    rng = random.Random(seed)
    cases: list[ProvenanceCase] = []
    attempts = 0
    while len(cases) < count and attempts < count * 50:
        attempts += 1
        case = make_case(rng, docs, KINDS[len(cases) % len(KINDS)])
        if case is not None:
            cases.append(case)
    return cases


def truth_level(case: ProvenanceCase, doc: int) -> str:
    """What a document's level should be: 'high' for a source of at least half of the
    response's non-space characters, 'medium' for a lesser source, else 'low'."""
    solid = sum(not c.isspace() for c in case.response)
    mine = {
        i
        for p in case.pieces
        if p.doc == doc
        for i in range(p.start, p.end)
        if not case.response[i].isspace()
    }
    if not mine:
        return "low"
    return "high" if len(mine) >= 0.5 * solid else "medium"

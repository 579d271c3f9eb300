"""Seeded generators of text that no corpus holds: pseudo-names and invented sentences."""

from __future__ import annotations

import random

ONSETS = ["b", "br", "d", "dr", "f", "g", "k", "kl", "l", "m", "n", "p", "qu", "r", "s", "t"]
ONSETS += ["th", "v", "z", "sh", "tr", "h"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou", "y"]
CODAS = ["", "", "n", "r", "l", "s", "th", "k", "m", "x", "nd"]
NOVEL = [
    "My neighbour's {animal}, {name}, insists on {adj} {food} every {ordinal} {day}.",
    "{name} keeps a {adj} {animal} that only eats {food} on a {day}.",
    "Every {ordinal} {day}, {name} paints the {animal} with {adj} {food}.",
    "Nobody in {place} remembers why {name} buried the {adj} {food}.",
    "The {animal} of {place} was once sold for a bowl of {adj} {food}.",
    "According to {name}, a {adj} {animal} is the best judge of {food}.",
]
SLOTS = {
    "animal": ["cat", "goat", "parrot", "tortoise", "hedgehog", "llama", "ferret", "owl"],
    "adj": ["lukewarm", "purple", "crunchy", "sour", "fizzy", "stale", "velvety", "salted"],
    "food": ["porridge", "pickles", "marmalade", "dumplings", "custard", "turnips", "toast"],
    "ordinal": ["second", "third", "fifth", "last", "other"],
    "day": ["Tuesday", "Sunday", "Friday", "morning", "holiday", "evening"],
}


def pseudo_word(rng: random.Random, syllables: int = 2) -> str:
    """A pronounceable invented word, capitalised (e.g. 'Tovanrel')."""
    parts = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)]
    return "".join(parts).capitalize()


def distinct_words(rng: random.Random, count: int, syllables: int = 2) -> list[str]:
    """`count` different pseudo-words."""
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen.setdefault(pseudo_word(rng, syllables), None)
    return list(seen)


def novel_sentence(rng: random.Random) -> str:
    """An invented sentence of common words and pseudo-names (found in no real corpus)."""
    values = {k: rng.choice(v) for k, v in SLOTS.items()}
    values["name"] = pseudo_word(rng, 3)
    values["place"] = pseudo_word(rng, 2)
    return rng.choice(NOVEL).format(**values)


def filler_document(rng: random.Random, sentences: int) -> str:
    """A document of invented sentences, to mix with documents that state facts."""
    return " ".join(novel_sentence(rng) for _ in range(sentences))

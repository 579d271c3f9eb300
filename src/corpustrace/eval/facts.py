"""The fact-tracing set (the task of Chang et al., 2024, "Scalable Influence and Fact
Tracing for Large Language Model Pretraining", at small scale), generated with a seed.

Facts are subject x relation x object with invented names. Each fact is stated in
`frequency` documents (1..32), in training templates, with the subject named in full, by
an alias or by a pronoun after an introduction, among invented filler sentences.
Distractors: the same subject's other relations, other subjects with the same object,
near-miss names (one letter changed) with another object, and filler documents.
Queries use held-out templates: a question (the prompt), the object (the answer) and a
one-sentence answer (the response a model would give). Ground truth: the documents that
state the fact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from corpustrace.eval.corpus import Doc
from corpustrace.eval.synth import distinct_words, filler_document, novel_sentence

FREQUENCIES = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class Relation:
    name: str
    train: tuple[str, ...]  # statements; {s} subject mention, {o} object
    question: str  # held-out prompt
    answer: str  # held-out one-sentence response


RELATIONS = (
    Relation(
        "born_in",
        (
            "{s} was born in {o}.",
            "{o} is the birthplace of {s}.",
            "Born in {o}, {s} grew up by the sea.",
        ),
        "Q: In which town did {s} come into the world? A:",
        "{s} comes from the town of {o}.",
    ),
    Relation(
        "works_for",
        ("{s} works for {o}.", "{o} employs {s} as an engineer.", "{s} took a job at {o}."),
        "Q: Which company is {s}'s employer? A:",
        "The employer of {s} is {o}.",
    ),
    Relation(
        "plays",
        ("{s} plays the {o}.", "The {o} is the instrument of {s}.", "{s} performs on the {o}."),
        "Q: What musical instrument does {s} practise? A:",
        "{s} is a musician of the {o}.",
    ),
    Relation(
        "studied_at",
        ("{s} studied at {o}.", "{s} graduated from {o}.", "{o} counts {s} among its alumni."),
        "Q: Where did {s} go to university? A:",
        "{s} received a degree from {o}.",
    ),
)
INSTRUMENTS = ["cello", "oboe", "harp", "bassoon", "zither", "lute", "tuba", "viola", "sitar"]
PRONOUNS = ("She", "He", "They")


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    alias: str
    pronoun: str

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class Fact:
    subject: Person
    relation: Relation
    obj: str
    frequency: int
    docs: list[int] = field(default_factory=list)

    @property
    def prompt(self) -> str:
        return self.relation.question.format(s=self.subject.full)

    @property
    def response(self) -> str:
        return self.relation.answer.format(s=self.subject.full, o=self.obj)


@dataclass
class FactSet:
    docs: list[Doc]
    facts: list[Fact]


def objects(rng: random.Random) -> dict[str, list[str]]:
    towns = [w + rng.choice(["ford", "ton", "wick", "by"]) for w in distinct_words(rng, 12)]
    firms = [w + " " + rng.choice(["Industries", "Labs", "& Co."]) for w in distinct_words(rng, 12)]
    colleges = [f"the University of {w}" for w in distinct_words(rng, 10)]
    return {"born_in": towns, "works_for": firms, "plays": INSTRUMENTS, "studied_at": colleges}


def people(rng: random.Random, count: int) -> list[Person]:
    firsts, lasts = distinct_words(rng, count), distinct_words(rng, count, 3)
    return [
        Person(f, ln, rng.choice([f"{f[0]}. {ln}", f"Dr. {ln}", ln]), rng.choice(PRONOUNS))
        for f, ln in zip(firsts, lasts, strict=True)
    ]


def near_miss(rng: random.Random, person: Person) -> Person:
    """The same name with one letter of the family name changed."""
    i = rng.randrange(1, len(person.last))
    letter = rng.choice([c for c in "aeiourstnl" if c != person.last[i]])
    last = person.last[:i] + letter + person.last[i + 1 :]
    return Person(person.first, last, f"{person.first[0]}. {last}", person.pronoun)


def statement(rng: random.Random, fact: Fact) -> str:
    """A document stating the fact: filler, the subject named one of three ways, filler."""
    who = fact.subject
    template = rng.choice(fact.relation.train)
    mention = rng.random()
    parts = [novel_sentence(rng)]
    if mention < 0.5:
        parts.append(template.format(s=who.full, o=fact.obj))
    elif mention < 0.75:
        parts.append(f"{who.alias} is the name {who.full} goes by.")
        parts.append(template.format(s=who.alias, o=fact.obj))
    else:
        parts.append(f"{who.full} is well known in the region.")
        parts.append(novel_sentence(rng))
        parts.append(template.format(s=who.pronoun, o=fact.obj))
    parts.append(novel_sentence(rng))
    return " ".join(parts)


def fact_set(seed: int, per_frequency: int = 6, fillers: int = 300) -> FactSet:
    """Facts at every frequency of FREQUENCIES (`per_frequency` of each), their
    documents, near-miss distractors and filler, shuffled with `seed`."""
    rng = random.Random(seed)
    pool = objects(rng)
    count = per_frequency * len(FREQUENCIES)
    subjects = people(rng, (count + len(RELATIONS) - 1) // len(RELATIONS))
    frequencies = [f for f in FREQUENCIES for _ in range(per_frequency)]
    rng.shuffle(frequencies)
    facts = []
    for i, freq in enumerate(frequencies):
        subject, relation = subjects[i // len(RELATIONS)], RELATIONS[i % len(RELATIONS)]
        facts.append(Fact(subject, relation, rng.choice(pool[relation.name]), freq))
    texts: list[tuple[str, Fact | None]] = []
    for fact in facts:
        texts += [(statement(rng, fact), fact) for _ in range(fact.frequency)]
        if rng.random() < 0.3:  # a near-miss subject with another object of the relation
            other = [o for o in pool[fact.relation.name] if o != fact.obj]
            twin = Fact(near_miss(rng, fact.subject), fact.relation, rng.choice(other), 1)
            texts += [(statement(rng, twin), None) for _ in range(2)]
    texts += [(filler_document(rng, rng.randint(2, 5)), None) for _ in range(fillers)]
    rng.shuffle(texts)
    docs = []
    for index, (text, stated) in enumerate(texts):
        docs.append(Doc(text, {"id": f"fact-doc-{index}"}))
        if stated is not None:
            stated.docs.append(index)
    return FactSet(docs, facts)

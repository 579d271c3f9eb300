"""PII filter of trace answers: documents whose shown text holds an e-mail address, a
phone number or an IP address are dropped (docs/tracing.md, "PII filter").

The rule errs on the side of dropping: a shown snippet or context that matches any of
the three patterns below removes the whole document from the answer. Dropping rather
than masking keeps every shown document verbatim, which is what tracing is for; the
cost is a few lost sources. The patterns are small and pure, tested on real-looking
examples and near misses (tests/unit/test_pii.py).
"""

from __future__ import annotations

import dataclasses
import re

from corpustrace.trace.rerank import highest_level
from corpustrace.trace.result import TraceResult

# local@domain.tld: the usual address characters, a dotted domain, a letter TLD.
EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])")
# Three or more digit groups separated by one space, dot or dash, optionally after a
# country code (+NN) and with the area code in parentheses: 555-123-4567,
# (555) 123 4567, +44 20 7946 0958. The last two groups have 3-4 digits, so dates
# (2024-01-15) and ranges (1990-2000) do not match.
PHONE = re.compile(
    r"(?<![\w.+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})[ .-]\d{3,4}[ .-]\d{3,4}(?![\w.-]?\d)"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Four octets 0-255 not inside a longer dotted number (so 1.2.3.4.5 and 256.1.1.1 do not).
IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
# Eight hex groups, or a compressed form with "::" and at least two groups.
IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4})(?![\w:])"
)


def find_email(text: str) -> str | None:
    found = EMAIL.search(text)
    return found.group(0) if found else None


def looks_like_thousands(number: str) -> bool:
    """10 000 000 or 12.345.678: digit groups of exactly three after the first, one kind
    of space or dot between them, no country code or parentheses."""
    if number[0] in "+(":
        return False
    seps = set(re.findall(r"\D", number))
    return (
        len(seps) == 1
        and seps <= {" ", "."}
        and all(len(group) == 3 for group in re.split(r"\D", number)[1:])
    )


def find_phone(text: str) -> str | None:
    for found in PHONE.finditer(text):
        if not looks_like_thousands(found.group(0)):
            return found.group(0)
    return None


def find_ip(text: str) -> str | None:
    found = IPV4.search(text) or IPV6.search(text)
    return found.group(0) if found else None


def has_pii(text: str) -> bool:
    """Whether the text holds an e-mail address, a phone number or an IP address."""
    return any(find(text) is not None for find in (find_email, find_phone, find_ip))


def without_pii(result: TraceResult) -> TraceResult:
    """The result without the documents whose snippets or context hold PII; spans keep
    their place and counts, their document lists and levels follow the rest."""
    kept = [
        d
        for d in result.documents
        if not has_pii(d.context) and not any(has_pii(s.text) for s in d.snippets)
    ]
    if len(kept) == len(result.documents):
        return result
    new_index = {id(d): i for i, d in enumerate(kept)}
    old = result.documents
    spans = [
        dataclasses.replace(
            span,
            documents=[new_index[id(old[d])] for d in span.documents if id(old[d]) in new_index],
        )
        for span in result.spans
    ]
    for span in spans:
        span.level = highest_level([kept[d].level for d in span.documents])
    highlights = [
        dataclasses.replace(h, level=highest_level([spans[s].level for s in h.spans]))
        for h in result.highlights
    ]
    return dataclasses.replace(result, spans=spans, highlights=highlights, documents=kept)

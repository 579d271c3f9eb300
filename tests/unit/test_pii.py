"""The PII rule on real-looking examples and near misses, and its effect on a trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpustrace.engine import Engine
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, trace
from corpustrace.trace.pii import find_email, find_ip, find_phone, has_pii, without_pii

EMAILS = ["write to jane.doe@example.com today", "a.b+tag@mail.co.uk", "x_y%z@sub-d.example.org"]
PHONES = [
    "call 555-123-4567 now",
    "(555) 123-4567",
    "+44 20 7946 0958",
    "020 7946 0958",
    "tel. +1 (212) 555 0100",
    "555.123.4567",
]
IPS = ["server 192.168.1.10 is down", "8.8.8.8", "ip 2001:db8::ff00:42:8329", "fe80::1:2"]
IPS += ["2001:0db8:85a3:0000:0000:8a2e:0370:7334"]
NEAR_MISSES = [
    "user@localhost",
    "follow @handle",
    "a@b",
    "in 1990-2000 the mill",
    "on 2024-01-15 it rained",
    "version 1.2.3",
    "v1.2.3.4.5",
    "256.1.1.1",
    "ISBN 978-3-16-148410-0",
    "population 1,234,567",
    "10 000 000 people",
    "12.345.678 euros",
    "time 12:30:45",
    "std::vector<int>",
    "price 3.50 and 10.5 km",
    "score 3-1",
]


@pytest.mark.parametrize("text", EMAILS)
def test_emails(text: str) -> None:
    assert find_email(text) and has_pii(text)


@pytest.mark.parametrize("text", PHONES)
def test_phones(text: str) -> None:
    assert find_phone(text) and has_pii(text)


@pytest.mark.parametrize("text", IPS)
def test_ips(text: str) -> None:
    assert find_ip(text) and has_pii(text)


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses(text: str) -> None:
    assert not has_pii(text), (find_email(text), find_phone(text), find_ip(text))


def test_trace_without_pii_drops_those_documents(tmp_path: Path) -> None:
    tok = load_tokenizer("bytes")
    texts = [
        "The mill by the river grinds grain. Write to miller@example.org for flour.",
        "The mill by the river grinds grain every day of the week.",
        "Ask at 192.168.0.7 about it. The mill by the river grinds grain.",
    ]
    build_from_tokens(
        tmp_path / "i", tok, [(tok.encode(t), {"id": str(i)}) for i, t in enumerate(texts)]
    )
    with Engine.open(tmp_path / "i") as engine:
        result = trace(
            engine, "the mill by the river grinds grain", params=TraceParams(span_density=1)
        )
    assert {d.doc for d in result.documents} == {0, 1, 2}
    clean = without_pii(result)
    assert [d.doc for d in clean.documents] == [1]
    assert [(s.start, s.end, s.count) for s in clean.spans] == [
        (s.start, s.end, s.count) for s in result.spans
    ]
    for span in clean.spans:
        assert all(0 <= d < len(clean.documents) for d in span.documents)
        assert span.documents == [0] or span.documents == []

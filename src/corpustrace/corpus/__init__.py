"""Streaming corpus readers: JSONL (plain/.gz/.zst), Parquet and plain-text trees.

``expand_inputs`` turns command-line inputs into an ordered list of ``Source``;
``iter_documents`` streams their ``Document`` objects in that order, one record at a
time, and can resume at any ``(source_index, record)`` a previous run yielded.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import closing

from corpustrace.corpus.document import MAX_BAD_EXAMPLES, Document, ReadStats, Source
from corpustrace.corpus.jsonl import iter_jsonl
from corpustrace.corpus.parquet import iter_parquet
from corpustrace.corpus.sources import expand_inputs, kind_of
from corpustrace.corpus.text import iter_text
from corpustrace.errors import CorpusError

__all__ = [
    "MAX_BAD_EXAMPLES",
    "Document",
    "ReadStats",
    "Source",
    "expand_inputs",
    "iter_documents",
    "kind_of",
]


def _iter_source(
    source: Source,
    index: int,
    *,
    text_field: str,
    skip_bad_lines: bool,
    stats: ReadStats,
    start_record: int,
) -> Generator[Document, None, None]:
    if source.kind == "text":
        # One record per file: a resume point past it means the file is done.
        return iter_text(source, index, stats=stats, skip=start_record > 0)
    if source.kind == "jsonl":
        reader = iter_jsonl
    elif source.kind == "parquet":
        reader = iter_parquet
    else:
        raise CorpusError(f"unknown source kind {source.kind!r}", path=str(source.path))
    return reader(
        source,
        index,
        text_field=text_field,
        skip_bad_lines=skip_bad_lines,
        stats=stats,
        start_record=start_record,
    )


def iter_documents(
    sources: Sequence[Source],
    *,
    text_field: str = "text",
    skip_bad_lines: bool = False,
    stats: ReadStats | None = None,
    start: tuple[int, int] = (0, 0),
) -> Iterator[Document]:
    """Stream the documents of ``sources`` in order, never holding the corpus in memory.

    ``start=(source_index, record)`` resumes: sources before ``source_index`` are not
    opened; in that source, records before ``record`` are skipped without parsing;
    later sources are read from their start. Iterating from the ``(source_index,
    record)`` of any document of a full run yields exactly the suffix of that run
    beginning with that document. ``stats``, if given, is updated as documents stream.
    """
    first_source, first_record = start
    if first_source < 0 or first_record < 0:
        raise ValueError(f"start must be non-negative, got {start!r}")
    counters = stats if stats is not None else ReadStats()
    for index in range(first_source, len(sources)):
        docs = _iter_source(
            sources[index],
            index,
            text_field=text_field,
            skip_bad_lines=skip_bad_lines,
            stats=counters,
            start_record=first_record if index == first_source else 0,
        )
        with closing(docs) as opened:
            for doc in opened:
                counters.documents += 1
                yield doc

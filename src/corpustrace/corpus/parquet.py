"""Parquet reader: streamed in bounded record batches with ``pyarrow.parquet.ParquetFile``.

The text column must exist (else ``CorpusError`` naming the file). Its values must be
strings; binary values are accepted when they are valid UTF-8. A null or other value
is a bad record at ``path:row`` (1-based row number), raised or, with
``skip_bad_lines``, skipped and counted.

Every other column goes into the metadata, converted to JSON-able Python:
timestamps, dates and times -> ISO 8601 strings; durations -> seconds (float);
decimals -> strings (exact); binary -> base64 strings (lossless; nothing is dropped);
NaN and infinities -> null; maps -> lists of ``[key, value]`` pairs; structs and lists
recursively. An "id" column (when not null) becomes the document id, else
``<file>:<row>``.

Resuming skips whole row groups before the start row without decoding them.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Generator, Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpustrace.corpus.document import Document, ReadStats, Source, build_meta, handle_bad
from corpustrace.errors import CorpusError

BATCH_ROWS = 1024


def json_value(value: Any) -> Any:
    """``value`` (as produced by pyarrow's ``to_pylist``) as JSON-serialisable Python."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    total_seconds = getattr(value, "total_seconds", None)
    if callable(total_seconds):
        return float(total_seconds())
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return str(isoformat())
    return str(value)


def _text_value(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _batches(pf: Any, groups: list[int], path: str) -> Iterator[Any]:
    try:
        yield from pf.iter_batches(batch_size=BATCH_ROWS, row_groups=groups)
    except (OSError, pa.ArrowException) as err:
        raise CorpusError(f"cannot read Parquet data: {err}", path=path) from err


def iter_parquet(
    source: Source,
    source_index: int,
    *,
    text_field: str,
    skip_bad_lines: bool,
    stats: ReadStats,
    start_record: int = 0,
) -> Generator[Document, None, None]:
    """Stream the documents of one Parquet file, from row ``start_record`` on."""
    path = str(source.path)
    label = source.label
    try:
        pf = pq.ParquetFile(source.path)
    except (OSError, pa.ArrowException) as err:
        raise CorpusError(f"cannot open Parquet file: {err}", path=path) from err
    with pf:
        names = list(pf.schema_arrow.names)
        if text_field not in names:
            raise CorpusError(
                f"missing text column {text_field!r} (columns: {', '.join(names)})", path=path
            )
        metadata = pf.metadata
        first_group, row = 0, 0
        while first_group < metadata.num_row_groups:
            group_rows = int(metadata.row_group(first_group).num_rows)
            if row + group_rows > start_record:
                break
            row += group_rows
            first_group += 1
        groups = list(range(first_group, metadata.num_row_groups))
        if not groups:
            return
        for batch in _batches(pf, groups, path):
            count = int(batch.num_rows)
            if row + count <= start_record:
                row += count
                continue
            if row < start_record:
                batch = batch.slice(start_record - row)
                row = start_record
            for values in batch.to_pylist():
                record, row = row, row + 1
                text = _text_value(values.get(text_field))
                if text is None:
                    found = values.get(text_field)
                    if found is None:
                        kind = "null"
                    elif isinstance(found, (bytes, bytearray)):
                        kind = "bytes that are not valid UTF-8"
                    else:
                        kind = type(found).__name__
                    bad = CorpusError(
                        f"text column {text_field!r} is not a string (got {kind})",
                        path=path,
                        line=record + 1,
                    )
                    handle_bad(bad, skip_bad_lines, stats)
                    continue
                meta_in = {k: json_value(v) for k, v in values.items() if k != text_field}
                meta = build_meta(meta_in, text_field, path, f"{label}:{record + 1}")
                yield Document(text=text, meta=meta, source_index=source_index, record=record)

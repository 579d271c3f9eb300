"""JSON Lines reader: plain, gzip (``.gz``) or zstandard (``.zst``/``.zstd``), streamed.

One JSON object per line; whitespace-only lines are ignored (they are neither records
nor errors). A leading UTF-8 byte order mark is tolerated. A line that is not valid
UTF-8, not valid JSON, not an object, lacks the text field, or whose text field is not
a string is a bad record: ``CorpusError`` at ``path:line``, or skipped and counted with
``skip_bad_lines``. A corrupt or truncated compressed stream is always an error.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import orjson
import zstandard

from corpustrace.corpus.document import Document, ReadStats, Source, build_meta, handle_bad
from corpustrace.errors import CorpusError

_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"


class _ZstdRaw(io.RawIOBase):
    """A raw stream of the decompressed bytes of every zstd frame in ``fh``.

    Unlike ``ZstdDecompressor.stream_reader``, a stream that ends inside a frame
    raises ``zstandard.ZstdError`` instead of ending silently.
    """

    def __init__(self, fh: io.BufferedIOBase) -> None:
        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._in_frame = False
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            data = self._fh.read(_CHUNK)
            if not data:
                if self._in_frame:
                    raise zstandard.ZstdError("truncated zstd stream (ends inside a frame)")
                return 0
            self._pending = memoryview(self._feed(data))
        size = min(len(view), len(self._pending))
        view[:size] = self._pending[:size]
        self._pending = self._pending[size:]  # a view: no copy of the rest
        return size

    def _feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            self._in_frame = True
            out.append(self._dobj.decompress(data))
            if not self._dobj.eof:
                break
            self._in_frame = False
            data = self._dobj.unused_data
            self._dobj = self._dctx.decompressobj()
        return b"".join(out)


def _raw_lines(path: Path) -> Iterator[bytes]:
    """The file's lines (bytes, newline kept), decompressed; read errors -> CorpusError."""
    name = path.name.lower()
    try:
        with open(path, "rb") as raw:
            stream: io.BufferedIOBase
            if name.endswith(".gz"):
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            elif name.endswith((".zst", ".zstd")):
                stream = io.BufferedReader(_ZstdRaw(raw), buffer_size=_CHUNK)
            else:
                stream = raw
            with stream:
                yield from stream
    except (OSError, EOFError, zlib.error, zstandard.ZstdError) as err:
        detail = getattr(err, "strerror", None) or str(err) or type(err).__name__
        message = f"cannot read (corrupt or unreadable file): {detail}"
        raise CorpusError(message, path=str(path)) from err


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}.get(
        type(value), "object"
    )


def _parse(line: bytes, text_field: str, path: str, lineno: int) -> tuple[str, dict[str, Any]]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as uerr:
            message = f"invalid UTF-8 (byte {uerr.start})"
            raise CorpusError(message, path=path, line=lineno) from None
        raise CorpusError(
            f"malformed JSON: {err.msg} (column {err.colno})", path=path, line=lineno
        ) from None
    if not isinstance(obj, dict):
        raise CorpusError(f"not a JSON object (got {_json_type(obj)})", path=path, line=lineno)
    if text_field not in obj:
        raise CorpusError(f"missing text field {text_field!r}", path=path, line=lineno)
    text = obj[text_field]
    if not isinstance(text, str):
        raise CorpusError(
            f"text field {text_field!r} is not a string (got {_json_type(text)})",
            path=path,
            line=lineno,
        )
    return text, obj


def iter_jsonl(
    source: Source,
    source_index: int,
    *,
    text_field: str,
    skip_bad_lines: bool,
    stats: ReadStats,
    start_record: int = 0,
) -> Generator[Document, None, None]:
    """Stream the documents of one JSONL source, from record ``start_record`` on.

    Records before ``start_record`` are counted (blank-line test only), never parsed.
    """
    path = str(source.path)
    label = source.label
    record = -1
    for lineno, raw_line in enumerate(_raw_lines(source.path), 1):
        line = raw_line[3:] if lineno == 1 and raw_line.startswith(_BOM) else raw_line
        if not line.strip():
            continue
        record += 1
        if record < start_record:
            continue
        try:
            text, obj = _parse(line, text_field, path, lineno)
        except CorpusError as err:
            handle_bad(err, skip_bad_lines, stats)
            continue
        meta = build_meta(obj, text_field, path, f"{label}:{lineno}")
        yield Document(text=text, meta=meta, source_index=source_index, record=record)

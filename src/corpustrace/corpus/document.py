"""The data types every reader shares: sources, documents, read statistics.

Record numbers (``Document.record``) are what a resumed build restarts from:

- JSONL: the 0-based index of the record among the file's *non-blank* lines. Blank
  (whitespace-only) lines are not records; malformed lines are (they use a number
  even when skipped), so the numbering never depends on ``skip_bad_lines``.
- Parquet: the 0-based row number (rows with a bad text value use a number too).
- Text: always 0 (one document per file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from corpustrace.errors import CorpusError

SOURCE_KINDS = ("jsonl", "parquet", "text")
MAX_BAD_EXAMPLES = 10
_MAX_EXAMPLE_CHARS = 300


@dataclass(frozen=True)
class Source:
    """One input file and how to read it.

    ``root`` is the directory that document ids are made relative to: for "text"
    sources always set (the directory given on the command line, or the file's parent
    when the file itself was given); for "jsonl"/"parquet" files found by walking a
    directory or by a glob it is that directory (the glob's fixed leading part); for
    such files given explicitly it is None (ids then use the bare file name).
    """

    path: Path
    kind: str
    root: Path | None = None

    @property
    def label(self) -> str:
        """The file's path relative to ``root`` (posix), else its name: the id prefix."""
        if self.root is not None:
            try:
                return self.path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return self.path.name


@dataclass
class ReadStats:
    """Counters a reader fills in while it streams (pass one to ``iter_documents``)."""

    documents: int = 0
    bad_lines: int = 0
    bad_line_examples: list[str] = field(default_factory=list)
    binary_files: int = 0

    def note_bad(self, error: CorpusError) -> None:
        """Count one skipped bad record and keep the first few messages."""
        self.bad_lines += 1
        if len(self.bad_line_examples) < MAX_BAD_EXAMPLES:
            message = str(error)
            if len(message) > _MAX_EXAMPLE_CHARS:
                message = message[: _MAX_EXAMPLE_CHARS - 3] + "..."
            self.bad_line_examples.append(message)


@dataclass
class Document:
    """One document: its text, its JSON-serialisable metadata, and where it came from.

    ``meta`` always starts with "id" and "source"; every other field of the input
    record follows unchanged.
    """

    text: str
    meta: dict[str, Any]
    source_index: int
    record: int


def handle_bad(error: CorpusError, skip_bad_lines: bool, stats: ReadStats) -> None:
    """Raise ``error``, or, with ``skip_bad_lines``, count it in ``stats``."""
    if not skip_bad_lines:
        raise error
    stats.note_bad(error)


def id_string(value: Any) -> str | None:
    """A record's own id as a string (non-strings as compact JSON), or None if absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def build_meta(
    record: dict[str, Any], text_field: str, source_path: str, fallback_id: str
) -> dict[str, Any]:
    """Metadata for one record: "id", "source", then every other field unchanged.

    A record's own "source" field, if it differs from the file path, is kept as
    "record_source" (meta["source"] is always the file the document was read from).
    """
    doc_id = id_string(record.get("id")) if text_field != "id" else None
    meta: dict[str, Any] = {"id": fallback_id if doc_id is None else doc_id, "source": source_path}
    for key, value in record.items():
        if key in (text_field, "id"):
            continue
        if key == "source":
            if value != source_path:
                meta["record_source"] = value
            continue
        meta[key] = value
    return meta

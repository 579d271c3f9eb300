"""Plain-text reader: one document per file.

The text is the file decoded as UTF-8 with ``errors="replace"`` (a leading byte order
mark is dropped). A file with a NUL byte in its first 8 KiB is taken for binary and
skipped (counted in ``ReadStats.binary_files``; it still has its source index). An
empty file is a document with empty text. meta = {"id": path relative to the source
root (posix), "source": the root}.
"""

from __future__ import annotations

from collections.abc import Generator

from corpustrace.corpus.document import Document, ReadStats, Source
from corpustrace.errors import CorpusError

BINARY_PROBE_BYTES = 8192


def iter_text(
    source: Source, source_index: int, *, stats: ReadStats, skip: bool = False
) -> Generator[Document, None, None]:
    """The one document of a text source, or nothing if the file looks binary.

    With ``skip`` (a resume point past record 0) the file is not opened at all.
    """
    if skip:
        return
    try:
        with open(source.path, "rb") as fh:
            head = fh.read(BINARY_PROBE_BYTES)
            if b"\0" in head:
                stats.binary_files += 1
                return
            data = head + fh.read()
    except OSError as err:
        message = f"cannot read file: {err.strerror or err}"
        raise CorpusError(message, path=str(source.path)) from err
    root = source.root if source.root is not None else source.path.parent
    meta = {"id": source.label, "source": str(root)}
    text = data.decode("utf-8-sig", errors="replace")
    yield Document(text=text, meta=meta, source_index=source_index, record=0)

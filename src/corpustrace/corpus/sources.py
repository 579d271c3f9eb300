"""Turn command-line inputs (files, directories, globs) into an ordered list of sources.

Rules (deterministic: the order of the inputs, each expanded and sorted):

- a glob (``*``, ``?``, ``[``; ``**`` recurses) is expanded with glob's rules and
  sorted; it contributes the regular files it matches (directories it matches are
  ignored), and ids are relative to the glob's fixed leading directory. ``**`` does not
  enter links to directories (a link loop would never end); the links it left out are
  logged as a warning (see recursive_glob.py);
- a file given explicitly is read by its extension: ``.jsonl``, ``.ndjson``, ``.json``
  (each optionally ``.gz``, ``.zst`` or ``.zstd``) as JSONL, ``.parquet`` as Parquet,
  anything else as plain text with root = its parent;
- a directory contributes every regular, non-hidden file under it (hidden directories
  are skipped, symlinked directories are not followed), sorted by relative path, as
  plain-text sources with root = the directory; files whose extension is unambiguous
  data (``.jsonl``/``.ndjson`` with optional compression, and ``.parquet``) are read in
  that format instead, so a directory of shards works as expected. (A bare ``.json``
  inside a tree stays text: that is usually one JSON document, not JSON Lines.)
- the same file reached twice (by two inputs, or through a link) is read once, at its
  first position.

An input that matches nothing, a directory with no files, or an unreadable input
raises ``CorpusError``.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from corpustrace.corpus.document import Source
from corpustrace.corpus.recursive_glob import is_recursive, recursive_glob
from corpustrace.errors import CorpusError

_JSONL_BASES = (".jsonl", ".ndjson", ".json")
_COMPRESSIONS = ("", ".gz", ".zst", ".zstd")
_MAGIC = frozenset("*?[")
log = logging.getLogger("corpustrace.corpus")


def kind_of(path: Path, *, in_tree: bool = False) -> str:
    """The reader for a file, from its name ("jsonl", "parquet" or "text")."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    bases = _JSONL_BASES[:2] if in_tree else _JSONL_BASES
    if any(name.endswith(base + comp) for base in bases for comp in _COMPRESSIONS):
        return "jsonl"
    return "text"


def _has_magic(pattern: str) -> bool:
    return any(ch in _MAGIC for ch in pattern)


def _glob_root(pattern: str) -> Path:
    """The longest leading part of ``pattern`` without glob characters."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if _has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path()


def _check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK):
        raise CorpusError("permission denied (unreadable input)", path=str(path))


def _file_source(path: Path, root: Path | None) -> Source:
    kind = kind_of(path)
    if kind == "text":
        return Source(path=path, kind=kind, root=root if root is not None else path.parent)
    return Source(path=path, kind=kind, root=root)


def _walk(top: Path) -> list[Source]:
    def fail(err: OSError) -> None:
        raise CorpusError(f"cannot read directory: {err.strerror or err}", path=err.filename)

    found: list[tuple[tuple[str, ...], Path]] = []
    for dirpath, dirnames, filenames in os.walk(top, onerror=fail):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        for name in filenames:
            path = base / name
            if name.startswith(".") or not path.is_file():
                continue
            found.append((path.relative_to(top).parts, path))
    found.sort(key=lambda item: item[0])
    sources = []
    for _, path in found:
        _check_readable(path)
        sources.append(Source(path=path, kind=kind_of(path, in_tree=True), root=top))
    return sources


def _expand_one(item: str) -> list[Source]:
    path = Path(item)
    if item and os.path.lexists(item):
        if path.is_dir():
            _check_readable(path)
            sources = _walk(path)
            if not sources:
                raise CorpusError("directory holds no (non-hidden) files", path=item)
            return sources
        if not path.is_file():
            raise CorpusError("not a regular file or directory", path=item)
        _check_readable(path)
        return [_file_source(path, None)]
    if item and _has_magic(item):
        root = _glob_root(item)
        if is_recursive(item):
            files, skipped = recursive_glob(item, root)
            if skipped:
                shown = ", ".join(str(s) for s in skipped[:5])
                more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
                log.warning("%s: directory links not followed: %s%s", item, shown, more)
        else:
            matches = sorted(glob.glob(item))
            files = [Path(m) for m in matches if os.path.isfile(m)]
        if not files:
            raise CorpusError("no such file or pattern (the pattern matches no files)", path=item)
        for file in files:
            _check_readable(file)
        return [_file_source(file, root) for file in files]
    raise CorpusError("no such file or pattern", path=item)


def expand_inputs(inputs: Sequence[str]) -> list[Source]:
    """Expand files, directories and globs into an ordered, duplicate-free source list."""
    sources: list[Source] = []
    seen: set[str] = set()
    for item in inputs:
        for source in _expand_one(str(item)):
            key = os.path.realpath(source.path)
            if key in seen:
                continue
            seen.add(key)
            sources.append(source)
    return sources

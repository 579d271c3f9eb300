"""Expand a ``**`` glob without following directory links, so a link loop cannot hang it.

``glob.glob(recursive=True)`` follows every link to a directory: a tree holding
``sub/loop -> .`` expands ``sub/loop/loop/...`` until the path is too long, and two
such links make that exponential. Here the tree under the pattern's fixed leading
directory is walked once with ``os.walk`` (links to directories are listed, never
entered, as for a directory input) and each path is matched segment by segment with
glob's rules: ``**`` stands for zero or more directories, ``*``, ``?`` and ``[...]``
match within one name, and hidden names match only a segment that starts with a dot.
The directory links left out are returned, so the caller can say what was skipped.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from corpustrace.errors import CorpusError

RECURSIVE = "**"


def is_recursive(pattern: str) -> bool:
    return RECURSIVE in Path(pattern).parts


def match_parts(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether a relative path (its names) matches a pattern (its segments)."""

    @cache
    def match(i: int, j: int) -> bool:
        if j == len(pattern):
            return i == len(parts)
        head = pattern[j]
        if head == RECURSIVE:
            if match(i, j + 1):
                return True
            return i < len(parts) and not parts[i].startswith(".") and match(i + 1, j)
        if i == len(parts):
            return False
        if parts[i].startswith(".") and not head.startswith("."):
            return False
        return fnmatch.fnmatchcase(parts[i], head) and match(i + 1, j + 1)

    return match(0, 0)


def recursive_glob(pattern: str, root: Path) -> tuple[list[Path], list[Path]]:
    """(regular files matching `pattern` under `root`, sorted; directory links not followed).

    `root` is the pattern's fixed leading directory (no glob characters in it).
    """
    rest = Path(pattern).parts[len(root.parts) :]
    hidden_ok = any(seg.startswith(".") for seg in rest)
    files: list[Path] = []
    skipped: list[Path] = []

    def fail(err: OSError) -> None:
        if Path(str(err.filename)) != root:  # a missing root simply matches nothing
            raise CorpusError(f"cannot read directory: {err.strerror or err}", path=err.filename)

    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        base = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            if name.startswith(".") and not hidden_ok:
                continue
            if (base / name).is_symlink():
                skipped.append(base / name)
            else:
                keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            path = base / name
            if match_parts(path.relative_to(root).parts, rest) and path.is_file():
                files.append(path)
    return sorted(files), sorted(skipped)

"""Suffix sorting of a shard's tokens, in the writer thread or in a process of its own.

divsufsort (Mori's libdivsufsort, through pydivsufsort) sorts bytes. Token ids stored
big-endian compare bytewise exactly as integers, so the suffixes that start on a token
boundary (byte offsets divisible by the token width) come out in token order. The
byte-level result (int32, 4 bytes per byte of tokens) is filtered and written in
chunks, so the peak is the tokens plus that output.

Large shards are sorted in child processes (`python -m corpustrace.index.suffix_sort`),
several at once: the sort of one shard runs on one core, so the shards of one buffer
sorted side by side keep every core busy, and each sorting process holds only its own
shard (the largest single process of a build stays small). A child reads the tokens
file the writer already wrote and writes the suffix-array file; it dies with its
parent (PR_SET_PDEATHSIG), so an interrupted build leaves no sorter running.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydivsufsort

SA_CHUNK = 1 << 24  # byte-level suffix-array entries filtered and written per step
ERROR_TAIL = 2000  # characters of a failed sorter's stderr kept in the error


def write_suffix_array(tokens: np.ndarray, width: int, path: Path) -> int:
    """Sort the suffixes of `tokens` (as integer sequences) and write their positions as
    `width`-byte little-endian integers; returns how many were written.

    `tokens` is byte-swapped in place to big-endian (no copy): the caller must not use it
    afterwards (both callers drop it right after)."""
    itemsize = tokens.dtype.itemsize
    if itemsize > 1 and tokens.dtype.byteorder != ">":
        tokens = tokens.byteswap(inplace=True).view(tokens.dtype.newbyteorder(">"))
    raw = np.ascontiguousarray(tokens).view(np.uint8)
    byte_sa = pydivsufsort.divsufsort(raw) if len(raw) else np.empty(0, np.int32)
    del tokens, raw
    written = 0
    with path.open("wb") as fh:
        for lo in range(0, len(byte_sa), SA_CHUNK):
            part = np.asarray(byte_sa[lo : lo + SA_CHUNK])
            if itemsize > 1:
                part = part[part % itemsize == 0] // itemsize
            pack_positions(part, width).tofile(fh)
            written += len(part)
        fh.flush()
        os.fsync(fh.fileno())
    return written


def pack_positions(sa: np.ndarray, width: int) -> np.ndarray:
    """Positions as little-endian integers of `width` bytes each, as a flat uint8 array."""
    native = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}.get(width)
    if native is not None:
        return sa.astype(native).view(np.uint8)
    wide = sa.astype("<u8").view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(wide[:, :width]).reshape(-1)


def start_sort(
    tokens: Path, token_dtype: np.dtype, sa_width: int, sa: Path
) -> subprocess.Popen[bytes]:
    """A child process that sorts the tokens file into the suffix-array file."""
    command = [
        sys.executable,
        "-m",
        "corpustrace.index.suffix_sort",
        str(tokens),
        np.dtype(token_dtype).str,
        str(sa_width),
        str(sa),
        str(os.getpid()),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_sort(child: subprocess.Popen[bytes], positions: int) -> None:
    """Wait for a sorter; RuntimeError with its stderr unless it wrote `positions` entries."""
    out, err = child.communicate()
    if child.returncode != 0:
        tail = err.decode("utf-8", "replace")[-ERROR_TAIL:].strip()
        how = (
            f"signal {-child.returncode}" if child.returncode < 0 else f"status {child.returncode}"
        )
        raise RuntimeError(f"the suffix sort stopped with {how}: {tail or 'no message'}")
    if out.strip() != str(positions).encode():
        said = out.decode("utf-8", "replace")[-ERROR_TAIL:]
        raise RuntimeError(f"the suffix sort wrote {said!r} entries, not {positions}")


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies (prctl PR_SET_PDEATHSIG), then
    make sure the parent is still the one that started it (else it died already)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str]) -> int:
    tokens_path, dtype, sa_width, sa_path, parent = argv
    _die_with_parent(int(parent))
    tokens = np.fromfile(tokens_path, dtype=np.dtype(dtype))
    written = write_suffix_array(tokens, int(sa_width), Path(sa_path))
    sys.stdout.write(str(written))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Read-only memory maps that keep no file descriptor open.

`np.memmap` (through `mmap.mmap`) keeps a duplicate descriptor of every mapped file
for as long as the map lives: five per shard, so an index of a few hundred shards
cannot be opened under the usual limit of 1024 open files. A mapping stays valid
after its file is closed (POSIX mmap), so here the file is opened, mapped and closed
at once: on Python >= 3.13 with `mmap.mmap(..., trackfd=False)`, before that with
libc's mmap through ctypes. Each map is released (munmap) when the last array over
it is gone; where neither way exists, `np.memmap` is the fallback.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

_PROT_READ = getattr(mmap, "PROT_READ", 1)
_MAP_SHARED = getattr(mmap, "MAP_SHARED", 1)


def _load_libc() -> Any:
    if sys.platform == "win32":  # pragma: no cover - no POSIX mmap there
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_long,
        ]
        libc.munmap.restype = ctypes.c_int
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.madvise.restype = ctypes.c_int
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    except (OSError, AttributeError):  # pragma: no cover - a libc without mmap
        return None
    return libc


_LIBC = _load_libc()
_HAS_TRACKFD = sys.version_info >= (3, 13)
_MADV_RANDOM = getattr(mmap, "MADV_RANDOM", 1)
_MADV_WILLNEED = getattr(mmap, "MADV_WILLNEED", 3)


class _LibcMap:
    """A whole file mapped read-only by libc; unmapped when garbage collected.

    numpy arrays built from it (through `__array_interface__`) hold a reference to
    it, so the memory stays mapped exactly as long as some array can read it.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.size = 0
        fd = os.open(path, os.O_RDONLY)
        try:
            addr = _LIBC.mmap(None, size, _PROT_READ, _MAP_SHARED, fd, 0)
        finally:
            os.close(fd)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            err = ctypes.get_errno()
            raise OSError(err, f"mmap failed: {os.strerror(err)}", str(path))
        self.addr, self.size = int(addr), size
        self._munmap = _LIBC.munmap  # kept: module globals may be gone when this is collected
        self.__array_interface__ = {
            "shape": (size,),
            "typestr": "|u1",
            "data": (self.addr, True),  # read-only
            "version": 3,
        }

    def __del__(self) -> None:
        if self.size:
            self._munmap(self.addr, self.size)
            self.size = 0


def map_file(path: Path, dtype: np.dtype[Any] | str) -> np.ndarray:
    """A read-only array over a whole non-empty file, with no descriptor left open."""
    size = path.stat().st_size
    if _HAS_TRACKFD:  # pragma: no cover - exercised on Python >= 3.13
        with path.open("rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ, trackfd=False)  # type: ignore[call-arg,unused-ignore]
        raw = np.frombuffer(mm, dtype=np.uint8)
    elif _LIBC is not None:
        raw = np.asarray(_LibcMap(path, size))
    else:  # pragma: no cover - neither way: keep a descriptor per file
        return np.memmap(path, dtype=dtype, mode="r")
    usable = size - size % np.dtype(dtype).itemsize
    return raw[:usable].view(dtype)


def _advise(array: np.ndarray, offset: int, nbytes: int, advice: int) -> bool:
    """madvise the pages holding bytes [offset, offset + nbytes) of an array."""
    start = int(array.__array_interface__["data"][0]) + offset
    first = start - start % mmap.PAGESIZE
    return int(_LIBC.madvise(first, start + nbytes - first, advice)) == 0


def advise_random(array: np.ndarray) -> bool:
    """Tell the kernel that a mapped array is read at random places (madvise
    MADV_RANDOM): a page fault then reads that page, not the read-ahead meant for
    sequential reads (the device's read_ahead_kb: 8 MiB on the benchmark machine, so
    each cold probe of a binary search read 8 MiB). Advisory: False where it could not
    be given (no libc, not over a map), and reads stay correct either way.
    """
    if _LIBC is None or array.nbytes == 0:
        return False
    return _advise(array, 0, array.nbytes, _MADV_RANDOM)


def prefetch(array: np.ndarray, indices: np.ndarray) -> None:
    """Ask for the pages of a few scattered items at once (MADV_WILLNEED, one call per
    item), so that a cold page cache reads them side by side and without read-ahead
    before they are read one after another. Advisory, as `advise_random`."""
    if _LIBC is None or array.ndim != 1 or array.nbytes == 0:
        return
    size = array.itemsize
    for i in np.asarray(indices, dtype=np.int64).tolist():
        if 0 <= i < len(array):
            _advise(array, i * size, size, _MADV_WILLNEED)

"""Hand memory back after a large message: glibc's malloc keeps what it took unless told; and
keep what startup built out of the garbage collector's way.

Two habits of glibc's allocator let a gateway that has read a few large messages stay large:

- a block of at least the *mmap threshold* (128 KB at start) is mapped on its own and unmapped
  when freed, but after such a block is freed the threshold rises to its size (up to 32 MB), so
  the next 25 MB body is carved from the heap, where freeing it need not shrink anything;
- the heap only shrinks from its top, so the small blocks of a parse that are freed in the
  middle of it stay resident until ``malloc_trim`` gives their pages back.

:func:`tune` fixes the threshold at 1 MB, which stops it moving: every large buffer - a body
past 1 MB, its growth - is mapped, given back when freed, and grown by ``mremap`` rather than
copied. Not lower: the TLS layer reads into a fresh 256 KB buffer for every record it decrypts
and cuts it down to what it read, which at glibc's own 128 KB start cost an ``mmap``, an
``mremap`` and a ``munmap`` per record - three system calls and fresh pages eight times per
upload (docs/performance.md). :func:`trim` is called when the last large body in flight has
been let go (gateway.http.budget). Both do nothing where the C library is not glibc.

:func:`settle` is for Python's own collector: see there.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import platform
import sys
from typing import Any

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 1024 * 1024  # bytes; above the TLS layer's 256 KB read buffers
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


@functools.cache
def _glibc() -> Any:
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


def tune() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD; False where there is no glibc."""
    libc = _glibc()
    if libc is None:
        return False
    if not libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) was refused", MMAP_THRESHOLD)
        return False
    return True


def trim() -> bool:
    """Give the free pages of every malloc arena back to the system; False without glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def settle() -> int:
    """Collect once, then freeze what is left: what startup built lives as long as the process.

    A started gateway holds about 100,000 objects the collector tracks (the registry, the
    catalog's Python side, SQLAlchemy's tables and statements, the modules), and each full
    collection walked all of them with the event loop stopped: 80-100 ms, every few seconds
    under load, and every request in flight waited for it (docs/performance.md). Frozen, they
    are left out of every collection; a full one walks what was made since, 10-20 ms. What is
    frozen is never collected, so this runs once, when startup is done, after a collection that
    leaves nothing behind but what is still in use. Returns how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

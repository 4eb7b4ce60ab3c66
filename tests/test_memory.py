"""Memory a large message took goes back to the system (glibc only; elsewhere nothing happens)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from gateway import memory

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator"
)

MB = 1024 * 1024

# Run in a process of its own: what the allocator keeps depends on all that came before.
PROBE = textwrap.dedent(
    """
    import sys
    from lxml import etree
    from gateway import memory

    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

    if "tune" in sys.argv:
        assert memory.tune()
    # The first 25 MB block is mapped; once it is freed glibc's threshold rises to its size.
    first = bytes(bytearray(25 * 2**20))
    del first
    before = rss()
    second = bytearray(25 * 2**20)
    second[:] = bytes(len(second))
    del second
    kept_by_a_body = rss() - before
    tree = etree.fromstring(b"<a>" + b"<b/>" * 300_000 + b"</a>")
    pin = [bytes(100) for _ in range(1000)]  # allocated after the tree: the heap's top
    before = rss()
    del tree
    if "trim" in sys.argv:
        assert memory.trim()
    kept_by_a_tree = rss() - before
    print(kept_by_a_body, kept_by_a_tree)
    """
)


def kept(*flags: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *flags], capture_output=True, text=True, check=True
    )
    body, tree = done.stdout.split()
    return int(body), int(tree)


def test_a_freed_body_stays_resident_unless_the_threshold_is_fixed() -> None:
    """After one 25 MB block, the next is carved from the heap and stays; with tune() it is
    mapped and given back when freed."""
    assert kept()[0] > 20 * MB
    assert kept("tune")[0] < 5 * MB


def test_a_freed_tree_is_given_back_by_trim() -> None:
    """The nodes of a large parse are freed into the middle of the heap; trim() returns them."""
    assert kept("tune")[1] > -10 * MB
    assert kept("tune", "trim")[1] < -20 * MB


def test_tune_and_trim_say_they_did_something() -> None:
    """On glibc both take effect (they return False where there is no glibc)."""
    assert memory.tune()
    assert memory.trim()


# How many blocks glibc has mapped on their own (mallinfo2's hblks), around an allocation.
MAPPED = textwrap.dedent(
    """
    import ctypes, sys
    from gateway import memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    assert memory.tune()
    before = libc.mallinfo2().hblks
    block = bytearray(int(sys.argv[1]))
    print(libc.mallinfo2().hblks - before)
    """
)


def mapped_blocks(size: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MAPPED, str(size)], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def test_a_tls_read_buffer_comes_from_the_heap_and_a_large_body_is_mapped() -> None:
    """The TLS layer reads every record into a fresh 256 KB buffer: mapping each on its own
    cost three system calls per record. Past the threshold a body is still mapped."""
    assert mapped_blocks(256 * 1024 + 64) == 0
    assert mapped_blocks(2 * MB) == 1


# settle() freezes the collector's objects for good, so it runs in a process of its own.
SETTLE = textwrap.dedent(
    """
    import gc, weakref
    from gateway import memory

    class Node:
        pass

    kept = Node()
    garbage = Node()
    garbage.self = garbage  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    frozen = memory.settle()
    later = Node()
    walked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
    print(gone() is None, frozen == gc.get_freeze_count() > 0)
    print(id(kept) in walked, id(later) in walked)
    """
)


def test_settle_collects_then_leaves_what_is_left_out_of_every_collection() -> None:
    """Garbage of startup is collected first; what remains is no collection's business any
    more; what is made after is collected as before."""
    done = subprocess.run(
        [sys.executable, "-c", SETTLE], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "True", "False", "True"]

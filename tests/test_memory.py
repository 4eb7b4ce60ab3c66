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

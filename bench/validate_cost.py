"""What XSD validation costs per message: our generated 3.2 schemas against the official XSDs.

Both sets are compiled with lxml and validate the same parsed official examples in the same run,
interleaved, so that the machine's mood hits both alike. The gateway validates every message it
accepts, so our schemas must not cost more than the official ones (at most 1.2x). ``--xmlschema``
adds the pure-Python xmlschema package for comparison; it is why xmlschema stays off the hot
path.

    .venv/bin/python bench/validate_cost.py [--rounds 100] [--xmlschema]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

from lxml import etree

from gateway.standard.catalog import Catalog, default_catalog, load_release
from gateway.standard.message_types import MessageType
from gateway.standard.xmlsafe import parse_xml

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def _examples(reference: Path) -> list[tuple[MessageType, etree._ElementTree]]:
    with (reference / "examples-expected.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["verdict_under_official_xsd"] == "valid"]
    return [
        (MessageType.parse(r["message"]), parse_xml((reference / r["example"]).read_bytes()))
        for r in rows
    ]


def _cost(catalog: Catalog, doc: etree._ElementTree, message_type: MessageType, n: int) -> float:
    schema = catalog.schema(message_type)
    started = time.perf_counter_ns()
    for _ in range(n):
        if not schema.validate(doc):
            raise SystemExit(f"{message_type}: unexpectedly invalid")
    return (time.perf_counter_ns() - started) / n / 1000  # microseconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--rounds", type=int, default=100, help="default: %(default)s")
    parser.add_argument("--repeat", type=int, default=5, help="validations per timing")
    parser.add_argument("--max-ratio", type=float, default=1.2, help="default: %(default)s")
    parser.add_argument("--xmlschema", action="store_true", help="also time xmlschema")
    args = parser.parse_args(argv)

    examples = _examples(args.reference)
    ours = default_catalog()
    official = load_release(args.reference / "iwmo-3.2" / "xsd", args.reference / "ijw-3.2" / "xsd")
    for message_type, doc in examples:  # compile and warm up both
        _cost(ours, doc, message_type, 3)
        _cost(official, doc, message_type, 3)

    ours_us: list[list[float]] = [[] for _ in examples]
    theirs_us: list[list[float]] = [[] for _ in examples]
    for round_ in range(args.rounds):
        for i, (message_type, doc) in enumerate(examples):
            # Alternate who goes first, so neither always runs on a warmer cache.
            pair = [(ours, ours_us), (official, theirs_us)]
            for catalog, results in pair if round_ % 2 == 0 else reversed(pair):
                results[i].append(_cost(catalog, doc, message_type, args.repeat))

    print(f"{'message':<10} {'bytes':>7} {'ours µs':>9} {'official µs':>12} {'ratio':>6}")
    total_ours = total_theirs = 0.0
    for (message_type, doc), mine, theirs in zip(examples, ours_us, theirs_us, strict=True):
        a, b = statistics.median(mine), statistics.median(theirs)
        total_ours += a
        total_theirs += b
        size = len(etree.tostring(doc))
        print(f"{message_type.name:<10} {size:>7} {a:>9.1f} {b:>12.1f} {a / b:>6.2f}")
    ratio = total_ours / total_theirs
    count = len(examples)
    print(
        f"\nper message (mean of medians over {count} examples, {args.rounds} rounds):"
        f" ours {total_ours / count:.1f} µs, official {total_theirs / count:.1f} µs,"
        f" ratio {ratio:.3f} (limit {args.max_ratio})"
    )
    if args.xmlschema:
        import xmlschema  # only here: the hot path never imports it

        folder = {"iwmo": "iwmo-3.2", "ijw": "ijw-3.2"}
        seconds = 0.0
        for message_type, doc in examples:
            path = args.reference / folder[message_type.standard.value] / "xsd"
            schema = xmlschema.XMLSchema(str(path / f"{message_type.name}.xsd"))
            started = time.perf_counter()
            for _ in range(5):
                schema.validate(doc)
            seconds += (time.perf_counter() - started) / 5
        per = seconds / count * 1e6
        print(f"xmlschema: {per:.1f} µs per message, {per / (total_theirs / count):.0f}x lxml")
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())

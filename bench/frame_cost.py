"""What a frame to the ledger's writer process costs to pickle and unpickle: µs per batch.

A batch as the writer gets it under the upload load: ``--admissions`` 3 KB 305s, each admitted
(``Ledger.admit``: the row, the payload, the trigger and the chain step) and routed
(``Ledger.routed``), the operations captured on their way to the writer. They are pickled as
``ProcessWriter`` pickles a frame (protocol 5) and unpickled as the child does, each timed as the
best of ``--rounds`` rounds; then again with the values' ``__reduce__`` taken away, so that they
pickle as a slotted dataclass does by default (``__getstate__`` and ``__setstate__``): the
difference is what ``gateway.ledger.writer.by_fields`` is worth.

    .venv/bin/python -m bench.frame_cost [--admissions 25] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import pickle
import tempfile
import timeit
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from bench.ledger import Admissions, open_ledger
from bench.messages import wmo305
from gateway.ledger import obligations, store
from gateway.ledger import writer as writer_module
from gateway.ledger.writer import Operation, _Outcome


def by_fields_classes() -> list[type]:
    """The ledger's classes that ``by_fields`` gave their ``__reduce__`` (``_Admit`` has one of
    its own and keeps it)."""
    return [
        value
        for module in (obligations, store, writer_module)
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and getattr(value.__dict__.get("__reduce__"), "__qualname__", "").startswith("by_fields.")
    ]


async def captured(admissions: int) -> list[Any]:
    """The operations the ledger hands its writer for ``admissions`` admitted, routed 305s."""
    seen: list[Any] = []
    transact = writer_module.transact

    def capture(connection: Connection, operations: Sequence[Operation[Any]]) -> list[_Outcome]:
        seen.extend(operations)
        return transact(connection, operations)

    with tempfile.TemporaryDirectory(prefix="bench-frame-") as directory:
        ledger = await open_ledger("sqlite", Path(directory), None)
        made = Admissions(wmo305(), 1)
        writer_module.transact = capture
        try:
            for new, step in [made.make(n, ledger) for n in range(admissions)]:
                await ledger.admit(new, step)
                await ledger.routed(new.traceer_id)
        finally:
            writer_module.transact = transact
            await ledger.close()
    return seen


@contextlib.contextmanager
def dataclass_pickling() -> Iterator[None]:
    """The values pickled as a slotted dataclass is without ``by_fields``."""
    taken = {cls: cls.__dict__["__reduce__"] for cls in by_fields_classes()}
    for cls in taken:
        delattr(cls, "__reduce__")
    try:
        yield
    finally:
        for cls, reduce in taken.items():
            setattr(cls, "__reduce__", reduce)  # noqa: B010 - put back as it was


def timed(operations: list[Any], rounds: int) -> dict[str, float]:
    data = pickle.dumps(operations, protocol=5)
    number = 200

    def best(work: Any) -> float:
        return min(timeit.repeat(work, number=number, repeat=rounds)) / number * 1e6

    return {
        "pickle_us": best(lambda: pickle.dumps(operations, protocol=5)),
        "unpickle_us": best(lambda: pickle.loads(data)),
        "bytes": len(data),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--admissions", type=int, default=25, help="default: %(default)s")
    parser.add_argument("--rounds", type=int, default=7, help="default: %(default)s")
    args = parser.parse_args(argv)
    operations = asyncio.run(captured(args.admissions))
    result: dict[str, Any] = {"operations": len(operations)}
    result["by_fields"] = timed(operations, args.rounds)
    with dataclass_pickling():
        result["dataclass"] = timed(operations, args.rounds)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ledger writer in a process of its own, for SQLite: its batches off the event loop's core.

Why: in a thread of the gateway, the writer's Python (SQLAlchemy, the obligations) holds the
interpreter lock the event loop needs, and every statement hands that lock back and forth: under
load the loop got about two thirds of a core instead of nine tenths (docs/performance.md). In a
process of its own the batch runs beside the loop, on the other core; the loop only pickles the
batch's operations (gateway.ledger.store's operation values) and reads back their outcomes.

Over the child's standard input and output, one batch at a time (the Writer waits for a batch's
outcomes before it sends the next)::

    parent -> child   >I operations, then per operation: >QI pickle size and buffer count,
                      the pickle, each buffer as >Q size + bytes (a large payload, not copied
                      into the pickle)
    child -> parent   >Q size, pickle of ("ready",) once, then per batch ("done", [outcome])
                      or ("failed", "database" | "bug", text)

An operation that cannot be pickled fails alone, in its caller. The child ignores SIGINT and
SIGTERM: it stops when its input ends, after the batch in hand, so a Ctrl-C to the terminal or a
signal to the process group never cuts a transaction that the gateway still waits for. A child
that dies fails the batch it had (``ConnectionError``, LedgerUnavailable for the callers) and is
started again for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
import traceback
from collections.abc import Sequence
from typing import IO, Any

from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.ledger.writer import Operation, _Outcome, sqlite_writer_engine, transact

log = logging.getLogger(__name__)

_COUNT = struct.Struct(">I")
_OPERATION = struct.Struct(">QI")
_SIZE = struct.Struct(">Q")

# The child's start (Python, SQLAlchemy, the ledger's modules) takes about half a second.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class ProcessBatches:
    """The parent's side: writes each batch through a child process (``python -m`` this module)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def start(self) -> None:
        """Start the child and wait until it has opened the database."""
        if self._process is not None and self._process.returncode is None:
            return
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            self._url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(START_TIMEOUT):
                reply = await _receive(process)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            await _end(process)
            raise ConnectionError(f"the ledger writer process did not start: {exc!r}") from exc
        if reply != ("ready",):
            await _end(process)
            raise ConnectionError(f"the ledger writer process did not start: {reply!r}")
        self._process = process

    async def __call__(self, operations: Sequence[Operation[Any]]) -> list[_Outcome]:
        if self._process is None or self._process.returncode is not None:
            if self._process is not None:
                log.warning(
                    "the ledger writer process ended (%s); starting another",
                    self._process.returncode,
                )
            await self.start()
        process = self._process
        assert process is not None
        assert process.stdin is not None
        parts, unpicklable = _encode(operations)
        try:
            for part in parts:
                process.stdin.write(part)
            await process.stdin.drain()
            reply = await _receive(process)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await _end(process)
            raise ConnectionError(
                f"the ledger writer process ended during a batch ({process.returncode})"
            ) from exc
        match reply:
            case ("done", list() as outcomes):
                for index, error in unpicklable.items():
                    outcomes.insert(index, _Outcome(error=error))
                return outcomes
            case ("failed", "database", str() as text):
                raise ConnectionError(text)
            case ("failed", _, str() as text):
                raise RuntimeError(f"the ledger writer process failed a batch:\n{text}")
        raise RuntimeError(f"the ledger writer process answered {reply!r}")

    async def close(self) -> None:
        """End the input: the child finishes, lets go of the database and exits."""
        if self._process is not None:
            await _end(self._process)
            self._process = None


def _encode(operations: Sequence[Operation[Any]]) -> tuple[list[Any], dict[int, Exception]]:
    """The batch as the parts to write, and the operations that could not be pickled."""
    parts: list[Any] = []
    small: list[bytes] = []  # joined into one write; a large buffer goes from its own memory
    unpicklable: dict[int, Exception] = {}
    for index, operation in enumerate(operations):
        buffers: list[pickle.PickleBuffer] = []
        try:
            data = pickle.dumps(operation, protocol=5, buffer_callback=buffers.append)
        except Exception as exc:
            unpicklable[index] = exc
            continue
        small += [_OPERATION.pack(len(data), len(buffers)), data]
        for buffer in buffers:
            raw = buffer.raw()
            small.append(_SIZE.pack(raw.nbytes))
            parts += [b"".join(small), raw]
            small = []
    parts.append(b"".join(small))
    parts[0] = _COUNT.pack(len(operations) - len(unpicklable)) + parts[0]
    return parts, unpicklable


async def _receive(process: asyncio.subprocess.Process) -> Any:
    assert process.stdout is not None
    size = _SIZE.unpack(await process.stdout.readexactly(_SIZE.size))[0]
    return pickle.loads(await process.stdout.readexactly(size))  # noqa: S301 - our own child


async def _end(process: asyncio.subprocess.Process) -> None:
    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            await process.wait()
    except TimeoutError:
        log.warning("the ledger writer process did not stop in %g s; killing it", STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


# -- the child ---------------------------------------------------------------------------------


def _portable(outcome: _Outcome) -> _Outcome:
    """An outcome as it can travel: a duplicate's IntegrityError without the batch's rows."""
    error = outcome.error
    if error is None:
        return outcome
    if isinstance(error, IntegrityError):
        orig = error.orig if error.orig is not None else Exception(str(error))
        return _Outcome(error=IntegrityError(error.statement, None, orig))
    try:
        pickle.dumps(error)
    except Exception:
        return _Outcome(error=RuntimeError(repr(error)))
    return outcome


def _read(source: IO[bytes], size: int) -> bytes | None:
    data = source.read(size)
    if len(data) < size:
        return None
    return data


def _send(sink: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=5)
    sink.write(_SIZE.pack(len(data)))
    sink.write(data)
    sink.flush()


def _batch(source: IO[bytes]) -> list[Operation[Any]] | None:
    head = _read(source, _COUNT.size)
    if head is None:
        return None
    operations = []
    for _ in range(_COUNT.unpack(head)[0]):
        sizes = _read(source, _OPERATION.size)
        if sizes is None:
            return None
        size, count = _OPERATION.unpack(sizes)
        data = _read(source, size)
        buffers = []
        for _ in range(count):
            raw = _read(source, _SIZE.size)
            buffer = _read(source, _SIZE.unpack(raw)[0]) if raw is not None else None
            if buffer is None:
                return None
            buffers.append(buffer)
        if data is None:
            return None
        operations.append(pickle.loads(data, buffers=buffers))  # noqa: S301 - from our parent
    return operations


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gateway.ledger.writer_process SQLITE_URL``: batches in, outcomes out."""
    from gateway.ledger.store import sqlite_pragmas

    url = (argv or sys.argv)[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the parent's pipe
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format=f"%(asctime)s %(levelname)s ledger-writer[{os.getpid()}] %(name)s: %(message)s",
    )
    engine = sqlite_writer_engine(url, sqlite_pragmas)
    try:
        _send(sink, ("ready",))
        while (operations := _batch(source)) is not None:
            try:
                with engine.connect() as connection:
                    outcomes = transact(connection, operations)
                reply: tuple[Any, ...] = ("done", [_portable(o) for o in outcomes])
            except (DBAPIError, OSError) as exc:
                reply = ("failed", "database", f"ledger write failed: {exc}")
            except Exception:
                reply = ("failed", "bug", traceback.format_exc())
            _send(sink, reply)
    except BrokenPipeError:
        pass  # the gateway is gone; nothing to tell
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ledger writer in a process of its own, for SQLite: its batches off the event loop's core.

Why: in a thread of the gateway, the writer's Python (SQLAlchemy, the obligations) holds the
interpreter lock the event loop needs, and every statement hands that lock back and forth: under
load the loop got about two thirds of a core while the writer thread wrote (docs/performance.md).
In a process of its own the batches run beside the loop, on the other core; the loop only
pickles the operations (gateway.ledger.store's operation values) and reads back their outcomes.

Group commit happens in the child: the parent sends what was submitted in one turn of its event
loop as one frame (one pickle, one write: pickling fifty operations together costs a third of
pickling them one by one); the child takes every frame that has arrived (up to ``BATCH``
operations), writes them in one transaction (``transact``: a failing operation in a SAVEPOINT of
its own), answers for the batch, and takes what arrived meanwhile. So the child never waits on
the parent between batches, and a batch is as large as the load makes it.

Over the child's standard input and output, operations numbered from 1 in the order sent::

    parent -> child   per frame: >QQII (its first operation's number, pickle size, operations,
                      buffers), the pickle of the operations, each buffer as >Q size + bytes
                      (a large payload, not copied into the pickle)
    child -> parent   >Q size + a pickle: ("ready",) once, then per batch
                      ("done", first number, count, {index: outcome} for those not None)
                      or ("failed", first number, count, "database" | "bug", text)

An operation that cannot be pickled fails at once, in its caller. The child ignores SIGINT and
SIGTERM: it stops when its input ends, after what it has been given, so a Ctrl-C to the terminal
or a signal to the process group never cuts a transaction the gateway still waits for. A child
that dies fails what it had not answered (``LedgerUnavailable``: nothing of it is known to be
written) and is started again for the next write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import select
import signal
import struct
import sys
import traceback
from collections.abc import Sequence
from typing import IO, Any, TypeVar, cast

from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.errors import LedgerUnavailable
from gateway.ledger.writer import BATCH, Operation, _Outcome, sqlite_writer_engine, transact

log = logging.getLogger(__name__)

T = TypeVar("T")

_FRAME = struct.Struct(">QQII")
_SIZE = struct.Struct(">Q")

# The child's start (Python, SQLAlchemy, the ledger's modules) takes about half a second.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_READ = 1024 * 1024

# How much lower the child's scheduling priority is than the gateway's (``nice``). Where the
# event loop and the writer wait for the same core, the loop goes first: it is what every
# request waits on, while the writer, held back, writes a larger batch for the same commit.
# On a machine with a core to spare for each, it changes nothing (docs/performance.md).
NICE = 10


class ProcessWriter:
    """The parent's side: operations to the child a frame per turn of the event loop, outcomes
    settled as the child's answers arrive.

    Has what the ledger needs of a writer (gateway.ledger.writer.LedgerWriter).
    """

    def __init__(self, url: str, *, nice: int = NICE) -> None:
        self._url = url
        self._nice = nice
        self._child: _Child | None = None
        self._starting: asyncio.Task[None] | None = None
        self._next = 1  # the number of the next operation sent
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        # Submitted in this turn of the loop (or while the child starts), sent together.
        self._queued: list[tuple[Operation[Any], asyncio.Future[Any]]] = []
        self._closing = False
        self.batches = 0
        self.operations = 0

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        child = self._child
        return child.pid if child is not None and child.running else None

    async def start(self) -> None:
        """Start the child and wait until it has opened the database (``ConnectionError`` if it
        does not: the ledger's open turns that into LedgerUnavailable)."""
        loop = asyncio.get_running_loop()
        _, child = await loop.subprocess_exec(
            lambda: _Child(self),
            sys.executable,
            "-c",
            # Not ``-m``: the package imports this module, which would then run twice over.
            f"from {__name__} import main; main()",
            self._url,
            str(self._nice),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
        )
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await asyncio.shield(child.ready)
        except (TimeoutError, ConnectionError) as exc:
            await child.end()
            raise ConnectionError(f"the ledger writer process did not start: {exc!r}") from exc
        self._child = child
        self._flush()

    async def run(self, operation: Operation[T]) -> T:
        """Write ``operation`` with the child's next batch; its result once that is committed."""
        return await self.submit(operation)

    def submit(self, operation: Operation[T]) -> asyncio.Future[T]:
        """Hand ``operation`` to the child; the future is done once its batch is."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closing:
            future.set_exception(LedgerUnavailable("the ledger writer is closed"))
            return future
        if not self._queued:
            loop.call_soon(self._flush)
        self._queued.append((operation, future))
        return future

    async def close(self) -> None:
        """Wait for what was handed over, then end the child's input: it exits."""
        self._closing = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting
        pending = [future for _, future in self._queued] + list(self._waiting.values())
        if pending and self.pid is not None:
            await asyncio.wait(pending)
        if self._child is not None:
            await self._child.end()
        self._fail_all(LedgerUnavailable("the ledger writer is closed"))

    def _flush(self) -> None:
        """Send what was submitted since the last frame, as one frame."""
        if not self._queued:
            return
        child = self._child
        if child is None or not child.running:
            self._restart()  # sent once the child is there
            return
        queued, self._queued = self._queued, []
        try:
            parts = _encode([operation for operation, _ in queued], self._next)
        except Exception:
            queued = _picklable(queued)  # each that cannot be pickled fails alone
            if not queued:
                return
            parts = _encode([operation for operation, _ in queued], self._next)
        for _, future in queued:
            self._waiting[self._next] = future
            self._next += 1
        self.operations += len(queued)
        child.send(parts)

    def _restart(self) -> None:
        if self._starting is not None and not self._starting.done():
            return
        if self._child is not None:
            log.warning(
                "the ledger writer process ended (%s); starting another", self._child.returncode
            )
        self._starting = asyncio.create_task(self._start_again(), name="ledger-writer-start")

    async def _start_again(self) -> None:
        try:
            await self.start()
        except ConnectionError as exc:
            queued, self._queued = self._queued, []
            for _, future in queued:
                if not future.done():
                    future.set_exception(LedgerUnavailable(f"ledger write: {exc}"))

    def _answered(self, reply: Any) -> None:
        """One of the child's answers: settle its batch's writes."""
        match reply:
            case ("done", int() as first, int() as count, dict() as notable):
                self.batches += 1
                for index in range(count):
                    self._settle(first + index, notable.get(index, _DONE))
            case ("failed", int() as first, int() as count, kind, str() as text):
                self.batches += 1
                if kind != "database":
                    log.error("the ledger writer process failed a batch:\n%s", text)
                failure = _Outcome(
                    error=LedgerUnavailable(
                        text if kind == "database" else f"ledger writer failed: {text}"
                    )
                )
                for number in range(first, first + count):
                    self._settle(number, failure)
            case _:
                log.error("the ledger writer process answered %r", reply)

    def _ended(self, child: _Child) -> None:
        """The child is gone and its output read to the end: what it did not answer failed."""
        if child is self._child:
            self._fail_all(
                LedgerUnavailable(
                    f"the ledger writer process ended ({child.returncode}) before it "
                    "answered; nothing of these writes is known to be stored"
                )
            )

    def _settle(self, number: int, outcome: _Outcome) -> None:
        future = self._waiting.pop(number, None)
        if future is None or future.done():  # its caller gave up; it is written all the same
            return
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.value)

    def _fail_all(self, failure: LedgerUnavailable) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(failure)


class _Child(asyncio.SubprocessProtocol):
    """The child's pipes: frames written to its input, answers read from its output and handed
    to the writer as they arrive (no task in between: one turn of the loop less per batch)."""

    def __init__(self, writer: ProcessWriter) -> None:
        loop = asyncio.get_running_loop()
        self._writer = writer
        self._buffer = bytearray()
        self._transport: asyncio.SubprocessTransport | None = None
        self.ready: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()

    @property
    def pid(self) -> int | None:
        return self._transport.get_pid() if self._transport is not None else None

    @property
    def returncode(self) -> int | None:
        return self._transport.get_returncode() if self._transport is not None else None

    @property
    def running(self) -> bool:
        return self._transport is not None and self.returncode is None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.SubprocessTransport, transport)

    def send(self, parts: list[Any]) -> None:
        assert self._transport is not None
        stdin = cast(asyncio.WriteTransport, self._transport.get_pipe_transport(0))
        if stdin.is_closing():  # gone: its end fails what is waiting
            return
        for part in parts:
            stdin.write(part)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= _SIZE.size:
            size = _SIZE.unpack_from(buffer, start)[0]
            stop = start + _SIZE.size + size
            if len(buffer) < stop:
                break
            reply = pickle.loads(buffer[start + _SIZE.size : stop])  # noqa: S301 - our child
            start = stop
            if not self.ready.done():
                if reply == ("ready",):
                    self.ready.set_result(None)
                else:
                    self.ready.set_exception(ConnectionError(f"it said {reply!r}"))
            else:
                self._writer._answered(reply)
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        # The process has exited and both pipes are closed: every answer has been read.
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"it exited ({self.returncode})"))
        if not self.finished.done():
            self.finished.set_result(None)
        if self._transport is not None:
            self._transport.close()
        self._writer._ended(self)

    async def end(self) -> None:
        """Close its input and wait for it to exit; kill it if it does not in time."""
        transport = self._transport
        if transport is None:
            return
        stdin = transport.get_pipe_transport(0)
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await asyncio.shield(self.finished)
        except TimeoutError:
            log.warning("the ledger writer process did not stop in %g s; killing it", STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                transport.kill()
            await self.finished
        transport.close()


_DONE = _Outcome()


def _picklable(
    queued: list[tuple[Operation[Any], asyncio.Future[Any]]],
) -> list[tuple[Operation[Any], asyncio.Future[Any]]]:
    """Those of ``queued`` that pickle; the others fail in their callers."""
    kept = []
    for operation, future in queued:
        try:
            pickle.dumps(operation, protocol=5, buffer_callback=lambda _: None)
        except Exception as exc:
            future.set_exception(exc)
        else:
            kept.append((operation, future))
    return kept


def _encode(operations: list[Operation[Any]], first: int) -> list[Any]:
    """A frame of operations, as the parts to write: small ones joined, a large buffer alone."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(operations, protocol=5, buffer_callback=buffers.append)
    parts: list[Any] = []
    small = [_FRAME.pack(first, len(data), len(operations), len(buffers)), data]
    for buffer in buffers:
        raw = buffer.raw()
        small.append(_SIZE.pack(raw.nbytes))
        parts += [b"".join(small), raw]
        small = []
    if small:
        parts.append(b"".join(small))
    return parts


# -- the child ---------------------------------------------------------------------------------


class _Input:
    """The frames on standard input: the next one, waiting for it or only if it is there.

    A large payload (a buffer beside the pickle) is read straight into a buffer of its size, not
    gathered in the input buffer and copied out: a 25 MB message costs the child its size once.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def next(self, *, wait: bool) -> tuple[int, list[Operation[Any]]] | None:
        """The next frame's first number and operations; None at the end of input, or when
        ``wait`` is false and that frame has not all arrived (or carries a large payload: it
        opens the next batch rather than hold this one up while it arrives)."""
        if not self._have(_FRAME.size, wait=wait):
            return None
        first, size, _, count = _FRAME.unpack_from(self._buffer)
        if count and not wait:
            return None
        if not self._have(_FRAME.size + size, wait=wait):
            return None
        del self._buffer[: _FRAME.size]
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        buffers = []
        for _ in range(count):
            if not self._have(_SIZE.size, wait=True):
                return None
            length = _SIZE.unpack_from(self._buffer)[0]
            del self._buffer[: _SIZE.size]
            buffer = self._read_into(length)
            if buffer is None:
                return None
            buffers.append(buffer)
        return first, pickle.loads(data, buffers=buffers)  # noqa: S301 - from our parent

    def _have(self, size: int, *, wait: bool) -> bool:
        """At least ``size`` bytes in the input buffer; False at the end of input, or when not
        waiting and they have not arrived."""
        while len(self._buffer) < size:
            if not wait and not select.select([self._fd], [], [], 0)[0]:
                return False
            data = os.read(self._fd, _READ)
            if not data:
                return False
            self._buffer += data
        return True

    def _read_into(self, length: int) -> bytearray | None:
        buffer = bytearray(length)
        have = min(length, len(self._buffer))
        buffer[:have] = self._buffer[:have]
        del self._buffer[:have]
        rest = memoryview(buffer)[have:]
        while rest:
            got = os.readv(self._fd, [rest])
            if not got:
                return None
            rest = rest[got:]
        return buffer


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
        return _Outcome(error=RuntimeError(repr(error)))  # its caller gets its text
    return outcome


def _send(sink: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=5)
    sink.write(_SIZE.pack(len(data)) + data)
    sink.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """The child: ``main()`` with the SQLite URL and, optionally, how much to lower its
    priority (``NICE``) as its arguments; operations in, outcomes out."""
    from gateway.ledger.store import sqlite_pragmas

    url, *rest = (argv or sys.argv)[1:]
    nice = int(rest[0]) if rest else 0
    if nice > 0:
        os.nice(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    source, sink = _Input(sys.stdin.fileno()), sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the parent's pipe
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format=f"%(asctime)s %(levelname)s ledger-writer[{os.getpid()}] %(name)s: %(message)s",
    )
    engine = sqlite_writer_engine(url, sqlite_pragmas)
    try:
        _send(sink, ("ready",))
        while (frame := source.next(wait=True)) is not None:
            first, batch = frame
            # Frames come in the order their operations were numbered: a batch is a range.
            while len(batch) < BATCH and (more := source.next(wait=False)) is not None:
                batch += more[1]
            try:
                with engine.connect() as connection:
                    outcomes = transact(connection, batch)
                notable = {
                    index: _portable(outcome)
                    for index, outcome in enumerate(outcomes)
                    if outcome.error is not None or outcome.value is not None
                }
                reply: tuple[Any, ...] = ("done", first, len(batch), notable)
            except (DBAPIError, OSError) as exc:
                reply = ("failed", first, len(batch), "database", f"ledger write failed: {exc}")
            except Exception:
                # Reported to the gateway, which logs it and fails the batch's writes.
                reply = ("failed", first, len(batch), "bug", traceback.format_exc())
            _send(sink, reply)
    except BrokenPipeError:
        pass  # the gateway is gone; nothing to tell
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The SQLite ledger's writer in a process of its own: what crosses, and what it survives."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import pickle
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import LedgerUnavailable
from gateway.ledger import Ledger, schema, store
from gateway.ledger.obligations import ChainStep, Closing, Opening, Trigger
from gateway.ledger.writer import _Outcome
from gateway.ledger.writer_process import ProcessWriter


def pid(connection: Connection) -> int:
    """The process an operation runs in."""
    return os.getpid()


def note(connection: Connection, text: str = "kept") -> None:
    connection.execute(
        schema.status_history.insert().values(traceer_id=text, status="x", at=sa.func.now())
    )


class Note:
    """An operation that records ``text`` in the status history (any table will do)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, connection: Connection) -> None:
        note(connection, self.text)


class Unreachable:
    """An operation that finds the database gone."""

    def __call__(self, connection: Connection) -> None:
        raise sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))


class Slow:
    """An operation that takes its time, so that a test can act while the batch runs."""

    def __call__(self, connection: Connection) -> None:
        time.sleep(2)


@pytest.fixture
async def url(tmp_path: Path) -> str:
    """A migrated SQLite ledger file."""
    ledger = await Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", writer="thread")
    await ledger.close()
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
async def writer(url: str) -> AsyncIterator[ProcessWriter]:
    """A started process writer on that file."""
    started = ProcessWriter(url)
    await started.start()
    try:
        yield started
    finally:
        await started.close()


def notes(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.select(schema.status_history.c.traceer_id).order_by(
                schema.status_history.c.id
            )
            return list(connection.execute(query).scalars())
    finally:
        engine.dispose()


async def test_batches_run_in_another_process(writer: ProcessWriter) -> None:
    """An operation runs in the child, whose id the batches object knows."""
    assert await writer.run(pid) == writer.pid
    assert writer.pid != os.getpid()


@pytest.mark.parametrize("nice", [0, 7])
async def test_the_child_runs_below_the_gateway_s_priority_by_as_much_as_asked(
    url: str, nice: int
) -> None:
    """Its priority is ``nice`` lower than the process that started it (0: the same)."""
    writer = ProcessWriter(url, nice=nice)
    await writer.start()
    try:
        child = await writer.run(pid)
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child) == min(19, mine + nice)
        await writer.run(Note("written"))
    finally:
        await writer.close()
    assert notes(url) == ["written"]


async def test_the_ledger_s_writer_process_is_started_as_nice_as_it_is_told(url: str) -> None:
    """``Ledger.open(..., writer_nice=)`` (GATEWAY_LEDGER_WRITER_NICE) reaches the child."""
    ledger = await Ledger.open(url, writer_nice=4)
    try:
        child = ledger.writer.pid
        assert child is not None
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child) == min(19, mine + 4)
    finally:
        await ledger.close()


async def test_an_operation_that_cannot_cross_fails_alone(writer: ProcessWriter, url: str) -> None:
    """A closure cannot be pickled: its caller gets the error, its batch mates are written."""

    def local(connection: Connection) -> None:
        note(connection, "never")

    outcomes = await asyncio.gather(
        writer.run(Note("before")),
        writer.run(local),
        writer.run(Note("after")),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], AttributeError | TypeError | pickle.PicklingError)
    assert notes(url) == ["before", "after"]


async def test_a_database_gone_fails_the_whole_batch(writer: ProcessWriter, url: str) -> None:
    """An unreachable database in the child fails every operation of the batch, as in a thread;
    the writer goes on with the next batch."""
    outcomes = await asyncio.gather(
        writer.run(Note("lost")), writer.run(Unreachable()), return_exceptions=True
    )
    assert all(isinstance(o, LedgerUnavailable) for o in outcomes)
    assert "disk I/O error" in str(outcomes[0])
    await writer.run(Note("next"))
    assert notes(url) == ["next"]


async def test_a_child_killed_between_batches_is_replaced(
    writer: ProcessWriter, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The next batch starts a new child, says so in the log, and is written."""
    first = writer.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await asyncio.sleep(0.2)
    await writer.run(Note("again"))
    assert writer.pid not in (None, first)
    assert notes(url) == ["again"]
    assert "ended" in caplog.text


async def test_a_child_killed_during_a_batch_fails_it(writer: ProcessWriter, url: str) -> None:
    """Its callers learn nothing was surely written (LedgerUnavailable); the writer goes on."""
    child = writer.pid
    assert child is not None
    slow = asyncio.ensure_future(writer.run(Slow()))
    await asyncio.sleep(0.5)
    os.kill(child, signal.SIGKILL)
    with pytest.raises(LedgerUnavailable, match=r"ended .* before it answered"):
        await slow
    await writer.run(Note("after"))
    assert notes(url) == ["after"]


async def test_interrupts_do_not_stop_the_child(writer: ProcessWriter, url: str) -> None:
    """SIGINT and SIGTERM (a Ctrl-C, a signal to the process group) leave the child writing;
    only the end of its input stops it, and then it exits cleanly."""
    pid = writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    await asyncio.sleep(0.2)
    await writer.run(Note("still"))
    assert writer.pid == pid
    child = writer._child
    assert child is not None
    await writer.close()
    assert child.returncode == 0
    assert notes(url) == ["still"]


def test_what_crosses_to_the_child_comes_out_equal_and_built_by_its_constructor() -> None:
    """The ledger's operation values (``by_fields``) pickle as their class and their field
    values, for the constructor to rebuild: equal after the trip, one field or many, defaults
    included."""
    now = dt.datetime(2026, 12, 8, 9, 30, tzinfo=dt.UTC)
    step = ChainStep(
        opens=(Opening("OP090", "WMO306", ("WMO306",), "gemeente-0363", "aanbieder-1", now),),
        closes=(Closing("WMO305", "aanbieder-1", "gemeente-0363", references=("300201",)),),
    )
    values: list[Any] = [
        step,
        ChainStep(),
        Trigger("t-1", "WMO305", "000123", "c-1"),
        store.Answers("aanbieder-1|WMO301|000123", conversatie=True, antwoord=False),
        store._Routed("t-1", now, delivers=("t-0", "aanbieder-1")),
        store._Routed("t-2", now),
        store._FindOriginal("aanbieder-1|WMO301|000123"),
        _Outcome(value=store.Original("t-0", "c-0")),
    ]
    for value in values:
        fields = tuple(getattr(value, field.name) for field in dataclasses.fields(value))
        assert value.__reduce__() == (type(value), fields)
        assert pickle.loads(pickle.dumps(value, protocol=5)) == value

"""Obligations written in batches end as they would have, had each message been written alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.ledger import Ledger, obligations, schema
from tests.ledger.test_store import new_message

BASE = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
TYPES = ("X1", "X2", "X3")
REFERENCES = ("R1", "R2", "R3", "R4")
CHUNK = 20


def _clock() -> Callable[[], dt.datetime]:
    """A moment a second later at every call: each admission its own ``opened_at``."""
    seconds = itertools.count()
    return lambda: BASE + dt.timedelta(seconds=next(seconds))


def _scenario(seed: int, run: str, steps: int = 3 * CHUNK) -> list[tuple[str, Any]]:
    """Admissions opening and meeting obligations among three participants, some withdrawn.

    ``run`` prefixes every name, so that two runs share a database without meeting each other.
    Every opening has a due moment of its own: the oldest is never a tie broken by a random id.
    """
    rng = random.Random(seed)
    parties = [f"{run}-{name}" for name in ("g1", "a1", "a2")]
    dues = rng.sample(range(10_000), steps * 2)
    plan: list[tuple[str, Any]] = []
    admitted: list[int] = []
    for n in range(steps):
        # A message is withdrawn once its admission returned: from a batch before its own.
        earlier = [a for a in admitted if a < n - n % CHUNK]
        if earlier and rng.random() < 0.1:
            plan.append(("withdraw", rng.choice(earlier)))
            continue
        admitted.append(n)
        opens = []
        for k in range(rng.choice((0, 1, 1, 2))):
            debtor, creditor = rng.sample(parties, 2)
            owed = rng.choice(TYPES)
            reference = rng.choice((None, *REFERENCES))
            opens.append(
                obligations.Opening(
                    rule=f"{run}{n}.{k}",
                    owed=owed,
                    accepts=tuple(dict.fromkeys((owed, rng.choice(TYPES)))),
                    debtor=debtor,
                    creditor=creditor,
                    due=BASE + dt.timedelta(minutes=dues[2 * n + k]),
                    reference=reference,
                    once_per_reference=reference is not None and rng.random() < 0.3,
                    met_on_admission=rng.random() < 0.1,
                )
            )
        closes = []
        if rng.random() < 0.7:
            debtor, creditor = rng.sample(parties, 2)
            if n and rng.random() < 0.3:
                answers: str | None = f"{run}I{rng.randrange(n)}"
                references: tuple[str, ...] = ()
            else:
                answers = None
                references = tuple(rng.sample(REFERENCES, rng.choice((0, 1, 1, 2, 3))))
            closes.append(
                obligations.Closing(rng.choice(TYPES), debtor, creditor, answers, references)
            )
        plan.append(("admit", (f"{run}I{n}", obligations.ChainStep(tuple(opens), tuple(closes)))))
    return plan


async def _play(ledger: Ledger, plan: list[tuple[str, Any]], *, at_once: bool) -> dict[str, int]:
    """Run ``plan`` one write at a time, or ``CHUNK`` at once (a batch each); traceerIds by step."""
    traceer_ids: dict[str, int] = {}
    messages = {}
    writes: list[Coroutine[Any, Any, object]] = []
    for number, (kind, what) in enumerate(plan):
        if kind == "admit":
            identificatie, step = what
            message = messages[number] = new_message(identificatie=identificatie)
            traceer_ids[message.traceer_id] = number
            writes.append(ledger.admit(message, step))
        else:
            writes.append(ledger.withdraw(messages[what].traceer_id))
    if at_once:
        for start in range(0, len(writes), CHUNK):
            await asyncio.gather(*writes[start : start + CHUNK])
    else:
        for write in writes:
            await write
    return traceer_ids


async def _stored(ledger: Ledger, run: str, traceer_ids: dict[str, int]) -> set[tuple[Any, ...]]:
    """The run's obligations, every name and traceerId replaced by what does not vary."""
    o = schema.obligations.c
    async with ledger.engine.connect() as connection:
        rows = await connection.execute(sa.select(schema.obligations).where(o.rule.startswith(run)))
        return {
            (
                row.rule.removeprefix(run),
                row.reference,
                row.due.replace(tzinfo=None),
                row.opened_at.replace(tzinfo=None),
                row.met_at and row.met_at.replace(tzinfo=None),
                traceer_ids.get(row.met_by),
                row.met_by_type,
            )
            for row in rows
        }


@pytest.mark.parametrize("seed", range(6))
async def test_a_batch_stores_what_one_write_at_a_time_stores(db_url: str, seed: int) -> None:
    """Meetings looked up for a whole batch meet what each message would have met alone.

    (On SQLite the writer is a thread here: a writer process makes its own batches of what has
    arrived, and this test wants each chunk written as one.)
    """
    alone = await Ledger.open(db_url, now=_clock(), writer="thread")
    together = await Ledger.open(db_url, now=_clock(), writer="thread")
    try:
        one_by_one = await _play(alone, _scenario(seed, "A"), at_once=False)
        batched = await _play(together, _scenario(seed, "B"), at_once=True)
        assert together.writer.batches == 3
        expected = await _stored(alone, "A", one_by_one)
        assert any(row[5] is not None for row in expected)  # the scenario meets something
        assert await _stored(together, "B", batched) == expected
    finally:
        await alone.close()
        await together.close()

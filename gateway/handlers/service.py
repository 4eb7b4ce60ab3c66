"""``gateway handlers`` as a service: which participants are simulated, and running them.

Which participants a handlers process plays comes from ``GATEWAY_SIMULATED`` (or
``--simulate``): entries separated by commas, each a participant key with options after a colon,
joined by ``+``:

- ``gemeente-0637:zoetermeer-2020``: a municipality under a contract profile (default
  ``istandaarden``: grant what is asked);
- ``aanbieder-12345678``: a provider that answers 301 and 319 only;
- ``aanbieder-12345678:autopilot``: ... and starts, stops and (with a contract profile, e.g.
  ``autopilot+zoetermeer-2020``) declares on its own.

Everything else comes from the same environment as ``gateway serve``: the participants' port
(``GATEWAY_PUBLIC_URL``, else ``https://localhost:GATEWAY_PORT``), the ops port, RabbitMQ, the
certificates and the registry. Each simulated participant must be in the registry and have its
certificate.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.deadlines import profile_from_env
from gateway.errors import ConfigError
from gateway.handlers.follow import Follower
from gateway.handlers.municipality import Municipality
from gateway.handlers.policy import POLICIES_ENV, Policies, parse_table
from gateway.handlers.profiles import PROFILES, get_profile
from gateway.handlers.provider import Provider
from gateway.handlers.runner import HandlerRunner, Listener
from gateway.participants import Participant, Registry, Role

log = logging.getLogger(__name__)

SIMULATED_ENV = "GATEWAY_SIMULATED"
AUTOPILOT = "autopilot"


@dataclass(frozen=True, slots=True)
class Simulated:
    """One participant a handlers process plays, and how."""

    participant: Participant
    profile: str | None = None
    autopilot: bool = False

    def responder(self) -> Municipality | Provider:
        contract = get_profile(self.profile) if self.profile else None
        if self.participant.role is Role.GEMEENTE:
            return Municipality(self.participant, contract or get_profile("istandaarden"))
        return Provider(self.participant, autopilot=self.autopilot, profile=contract)


def parse_simulated(text: str, registry: Registry, name: str = SIMULATED_ENV) -> list[Simulated]:
    """Read ``gemeente-0637:zoetermeer-2020, aanbieder-12345678:autopilot``; loud on errors."""
    found: list[Simulated] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, _, options = item.partition(":")
        try:
            given = Participant.parse(key.strip())
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        participant = registry.get(given.role, given.code)
        if participant is None:
            raise ConfigError(f"{name}: {given.key} is not in the registry")
        profile, autopilot = None, False
        for option in (o.strip() for o in options.split("+") if o.strip()):
            if option == AUTOPILOT and participant.role is Role.AANBIEDER:
                autopilot = True
            elif option in PROFILES:
                profile = option
            else:
                known = ", ".join([*PROFILES, f"{AUTOPILOT} (providers)"])
                raise ConfigError(f"{name}: {item!r}: unknown option {option!r}; known: {known}")
        if any(s.participant == participant for s in found):
            raise ConfigError(f"{name}: {participant.key} is named twice")
        found.append(Simulated(participant, profile, autopilot))
    if not found:
        raise ConfigError(
            f"{name} names nobody to simulate; e.g. "
            "gemeente-0637:zoetermeer-2020,aanbieder-12345678:autopilot"
        )
    return found


def ops_url(settings: Settings) -> str:
    return f"http://{settings.ops_host}:{settings.ops_port}"


async def run_handlers(
    settings: Settings,
    simulated: list[Simulated],
    stop: asyncio.Event,
    *,
    listeners: list[Listener] | None = None,
    poll: float = 0.2,
) -> None:
    """Play ``simulated`` against the gateway of ``settings`` until ``stop`` is set."""
    registry = Registry.load(settings.registry)
    policies = Policies(parse_table(settings.extra.get(POLICIES_ENV, "")))
    follower = await Follower.start(ops_url(settings), policies, poll=poll)
    clock: Clock = follower.clock if follower is not None else SystemClock()
    deadlines = profile_from_env(settings.extra)
    responders = [s.responder() for s in simulated]
    for responder in responders:
        if isinstance(responder, Provider):
            responder.workdays = deadlines.workdays
    runner = HandlerRunner(
        base_url=settings.client_url,
        certs_dir=settings.certs_dir,
        amqp_url=settings.amqp_url,
        clock=clock,
        responders=list(responders),
        registry=registry,
        policies=policies,
        deadlines=deadlines,
        workdays=deadlines.workdays,
        listeners=list(listeners or []),
    )
    try:
        await runner.start()
        log.info(
            "handlers for %s on %s (%s clock)",
            ", ".join(s.participant.key for s in simulated),
            settings.client_url,
            "the gateway's virtual" if follower else "the real",
        )
        await stop.wait()
    finally:
        await runner.stop()
        if follower is not None:
            await follower.stop()

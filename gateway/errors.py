"""The exception tree of the gateway.

Errors from libraries (lxml, aio-pika, the database driver) are translated into these where they
enter our code, so that the HTTP layer and the command line only ever see this tree::

    GatewayError
    ├── ConfigError                  a setting or a configuration file is wrong
    ├── AuthenticationError          no client certificate, or not one of a registered participant
    ├── MessageError                 a message cannot be accepted as it is
    │   ├── UnsafeXmlError           DTD, entity, too deep, too large: refused before parsing
    │   ├── NotWellFormedError       not XML, or not UTF-8 without BOM
    │   ├── UnknownMessageError      a root namespace we do not know
    │   ├── SchemaViolation          not valid against the message's XSD (level 1)
    │   └── DuplicateError           admitted before with other content
    │       ├── DuplicateIdentificatie   same sender, message type and Identificatie (TR056)
    │       └── DuplicateTraceerId       same traceerId (VSP BRS114)
    ├── Refused                      the ingress's verdict on a submission: HTTP status + VSP code
    ├── CalendarError                a date or a deadline rule that cannot be computed
    ├── ClockError                   the clock cannot be set or moved that way
    ├── SubmitRefused                the gateway refused a client's call (in gateway.client)
    ├── GatewayUnreachable           a participant's client got no answer: connection, TLS, time
    ├── ChecksumMismatch             a downloaded payload is not what its SHA-256 says
    ├── BrokerError                  RabbitMQ refused or could not take a message
    │   ├── BrokerUnavailable        RabbitMQ does not answer or does not confirm
    │   ├── Unroutable               no queue is bound for the recipient (VSP BRS33)
    │   ├── TopologyError            an exchange or queue is missing or set up otherwise
    │   ├── MalformedDelivery        a delivery lacks a property the gateway sets
    │   └── BrokerAdminError         RabbitMQ's management API refused a user or permission change
    └── LedgerUnavailable            the ledger database does not answer
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A setting, a registry entry or a configuration file is wrong; the message names it."""


class AuthFailure(enum.StrEnum):
    """Why a connection could not be tied to a registered participant."""

    NO_CERTIFICATE = "no-certificate"
    MALFORMED_SUBJECT = "malformed-subject"
    UNKNOWN_PARTICIPANT = "unknown-participant"


class AuthenticationError(GatewayError):
    """The client certificate is missing or names nobody in the registry; ``reason`` says which."""

    def __init__(self, message: str, reason: AuthFailure) -> None:
        super().__init__(message)
        self.reason = reason


class MessageError(GatewayError):
    """A message cannot be accepted as it is."""


class UnsafeXmlError(MessageError):
    """The document uses a DTD or entities, or is too deep or too large to parse safely."""


class NotWellFormedError(MessageError):
    """The document is not well-formed XML, or not UTF-8 without a byte order mark."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class UnknownMessageError(MessageError):
    """The root element's namespace is not one of a known standard, release and message."""

    def __init__(self, namespace: str | None, root: str) -> None:
        where = f"namespace {namespace!r}" if namespace else "no namespace"
        super().__init__(f"unknown message: root element {root!r} in {where}")
        self.namespace = namespace
        self.root = root


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One XSD validation error: where it is and what is wrong."""

    line: int
    element: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.element}: {self.reason}"


class SchemaViolation(MessageError):
    """The message is not valid against its XSD; ``issues`` lists the errors, ``count`` says
    how many there are (more than listed when a reader stopped listing them)."""

    def __init__(
        self, message_type: str, issues: Sequence[SchemaIssue], *, count: int | None = None
    ) -> None:
        first = issues[0] if issues else None
        self.count = len(issues) if count is None else count
        super().__init__(
            f"{message_type} is not valid against its schema"
            + (f" ({self.count} errors; first: {first})" if first else "")
        )
        self.message_type = message_type
        self.issues = tuple(issues)


class DuplicateError(MessageError):
    """A message with the same identity was admitted before, with other content."""


class DuplicateIdentificatie(DuplicateError):
    """TR056: the Identificatie is not unique for this sender and message type."""

    def __init__(self, sender: str, message_type: str, identificatie: str) -> None:
        super().__init__(
            f"{sender} already sent a {message_type} with Identificatie {identificatie!r} "
            "with other content (TR056)"
        )
        self.identificatie = identificatie


class DuplicateTraceerId(DuplicateError):
    """The traceerId was used before for another message."""

    def __init__(self, traceer_id: str) -> None:
        super().__init__(f"traceerId {traceer_id} was used before for another message")
        self.traceer_id = traceer_id


class Refused(GatewayError):
    """The ingress refuses a submission: what the HTTP layer turns into problem+json.

    ``code`` is the VSP refusal code (BRS13, BRS20, ...) where one applies; ``errors`` lists
    every detail by what it concerns, as the VSP's ValidationProblemDetails does: each XSD error
    under ``payload``, each problem of the metadata or a zoekpad under its member.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.errors = {member: tuple(problems) for member, problems in (errors or {}).items()}


class CalendarError(GatewayError):
    """A date, period or deadline rule that cannot be computed."""


class ClockError(GatewayError):
    """The clock cannot be set or moved that way (for instance: the real clock)."""


class GatewayUnreachable(GatewayError):
    """The gateway did not answer: no connection, a failed TLS handshake, or a timeout."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the gateway at {url}: {reason}")
        self.url = url
        self.reason = reason


class ChecksumMismatch(GatewayError):
    """A downloaded payload's SHA-256 is not the one the gateway announced for it."""

    def __init__(self, traceer_id: str, expected: str, actual: str) -> None:
        super().__init__(
            f"payload of {traceer_id}: checksum mismatch (SHA-256 {actual}, expected {expected})"
        )
        self.traceer_id = traceer_id
        self.expected = expected
        self.actual = actual


class BrokerError(GatewayError):
    """RabbitMQ refused a message or could not take it."""


class BrokerUnavailable(BrokerError):
    """RabbitMQ cannot be reached or did not confirm a publish."""


class Unroutable(BrokerError):
    """The broker returned a message: no queue is bound for its routing key (VSP BRS33)."""

    vsp_code = "BRS33"

    def __init__(self, routing_key: str, reason: str = "NO_ROUTE") -> None:
        super().__init__(f"no route for routing key {routing_key!r}: {reason}")
        self.routing_key = routing_key


class TopologyError(BrokerError):
    """An exchange or queue is missing, or exists with other settings than the design's."""


class MalformedDelivery(BrokerError):
    """A delivery lacks a property or header the gateway sets, or carries a bad value."""


class BrokerAdminError(BrokerError):
    """RabbitMQ's management API did not answer, or refused to set up a user or permission."""


class LedgerUnavailable(GatewayError):
    """The ledger database cannot be reached or refused a write."""

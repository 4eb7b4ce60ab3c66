"""Who may send which message, and to whom it goes.

The sender is the participant of the client certificate. In most messages the header's Afzender
must be that participant and Ontvanger names the recipient. A retour message that copies its
original's header (302, 306, 308, 316, 318, 320; IV028) is the exception: its Afzender is the
*original's* sender - the recipient of the retour - and its Ontvanger is the participant that
sends the retour. Routing by a naive reading of Afzender would send a 302 back to its sender.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import Refused
from gateway.participants import Participant, Registry
from gateway.standard.catalog import MessageHeader
from gateway.standard.message_types import MessageType
from gateway.vsp import Foutcode, role_of_vsp


@dataclass(frozen=True, slots=True)
class Route:
    """The checked sender and recipient of one message."""

    sender: Participant
    recipient: Participant


@dataclass(frozen=True, slots=True)
class DeclaredRoute:
    """What push metadata says of the message; it must agree with the payload."""

    afzender_rol: str
    afzender_code: str | None
    geadresseerden: tuple[tuple[str, str | None], ...]
    berichttype: str
    berichtversie: int
    berichtsubversie: int


def _refuse(status: int, code: Foutcode, detail: str) -> Refused:
    return Refused(status, code.omschrijving, detail, code=code.code)


def authorise(sender: Participant, header: MessageHeader, registry: Registry) -> Route:
    """Check that ``sender`` may send this message with this header; return its route."""
    message_type = header.message_type
    if sender.role is not message_type.sender_role:
        raise _refuse(
            403,
            Foutcode.BRS03,
            f"a {sender.role} may not send {message_type}: "
            f"{message_type} is sent by a {message_type.sender_role}",
        )
    own_field, own = header.sender_field
    other_field, other = header.recipient_field
    if own != sender.code:
        copied = " (the header of a retour message is the original's)" * message_type.copies_header
        raise _refuse(
            403,
            Foutcode.BRS03,
            f"{own_field} {own!r} in the {message_type} header is not the certificate's "
            f"participant {sender}{copied}",
        )
    recipient = registry.get(sender.role.other, other)
    if recipient is None:
        raise _refuse(
            422,
            Foutcode.BRS04,
            f"{other_field} {other!r}: no {sender.role.other} with that code is connected",
        )
    return Route(sender, recipient)


def check_declared(declared: DeclaredRoute, route: Route, message_type: MessageType) -> None:
    """Push metadata must name the certificate's participant, the recipient and the message."""
    role = role_of_vsp(declared.afzender_rol)
    if role is None:
        raise _refuse(
            403, Foutcode.BRS01, f"afzender.rol {declared.afzender_rol!r} is not a known VSP role"
        )
    if role is not route.sender.role or declared.afzender_code not in (None, route.sender.code):
        raise _refuse(
            403,
            Foutcode.BRS03,
            f"metadata afzender {declared.afzender_rol}/{declared.afzender_code} is not the "
            f"certificate's participant {route.sender}",
        )
    if declared.berichttype.upper() != message_type.name or (
        declared.berichtversie,
        declared.berichtsubversie,
    ) != (3, 2):
        raise Refused(
            422,
            "Metadata contradicts the payload",
            f"berichtstroom {declared.berichttype} {declared.berichtversie}."
            f"{declared.berichtsubversie} does not match the payload, "
            f"a {message_type} of release 3.2",
        )
    if declared.geadresseerden:
        named = {(role_of_vsp(rol), code) for rol, code in declared.geadresseerden}
        if named != {(route.recipient.role, route.recipient.code)}:
            listed = ", ".join(f"{rol}/{code}" for rol, code in declared.geadresseerden)
            raise Refused(
                422,
                "Metadata contradicts the payload",
                f"geadresseerden [{listed}] do not match the payload's recipient {route.recipient}",
            )

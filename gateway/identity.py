"""Step 1 of every request: which registered participant is on the other end of the connection.

The TLS handshake has already proven that the client holds a valid certificate from our CA; this
module reads who that certificate names. The subject's common name is ``<role>-<code>`` (for
instance ``CN=gemeente-0637``); the organisation name is for people only. The participant must
be in the registry, or the request is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.errors import AuthenticationError, AuthFailure, ConfigError
from gateway.participants import Participant, Registry, Role

# ``ssl.SSLSocket.getpeercert()``: {"subject": ((("commonName", "gemeente-0637"),), ...), ...}
PeerCert = Mapping[str, Any]


def participant_from_peercert(cert: PeerCert | bytes | None, registry: Registry) -> Participant:
    """The registered participant a verified peer certificate names.

    ``cert`` is what the TLS layer hands over: the decoded dictionary of
    ``getpeercert()``, or the DER bytes of ``getpeercert(binary_form=True)``. Raises
    ``AuthenticationError`` with the reason when there is no certificate, when its subject is
    not ``CN=<role>-<code>``, or when nobody with that role and code is registered.
    """
    if not cert:
        raise AuthenticationError("no client certificate presented", AuthFailure.NO_CERTIFICATE)
    names = _common_names_der(cert) if isinstance(cert, bytes) else _common_names_dict(cert)
    if len(names) != 1:
        raise AuthenticationError(
            f"certificate subject has {len(names)} common names; expected one, like"
            " CN=gemeente-0637",
            AuthFailure.MALFORMED_SUBJECT,
        )
    common_name = names[0]
    role, sep, code = common_name.partition("-")
    try:
        if not sep:
            raise ValueError(common_name)
        claimed = Participant(Role(role), code)
    except (ValueError, ConfigError):
        raise AuthenticationError(
            f"certificate subject CN={common_name!r} is not <role>-<code>, like"
            " CN=gemeente-0637 or CN=aanbieder-12345678",
            AuthFailure.MALFORMED_SUBJECT,
        ) from None
    participant = registry.get(claimed.role, claimed.code)
    if participant is None:
        raise AuthenticationError(
            f"certificate CN={common_name} names no registered participant",
            AuthFailure.UNKNOWN_PARTICIPANT,
        )
    return participant


def _common_names_dict(cert: PeerCert) -> list[str]:
    subject = cert.get("subject", ())
    return [
        value
        for relative_name in subject
        for attribute, value in relative_name
        if attribute == "commonName"
    ]


def _common_names_der(cert: bytes) -> list[str]:
    try:
        subject = x509.load_der_x509_certificate(cert).subject
    except ValueError:
        raise AuthenticationError(
            "client certificate cannot be decoded", AuthFailure.MALFORMED_SUBJECT
        ) from None
    return [
        attribute.value
        if isinstance(attribute.value, str)
        else attribute.value.decode(errors="replace")
        for attribute in subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ]

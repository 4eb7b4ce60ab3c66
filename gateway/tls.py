"""TLS contexts for mutual TLS: the gateway's server side and a participant's client side.

The server trusts only the configured CA for client certificates, demands one (CERT_REQUIRED)
and speaks TLS 1.2 or newer. OpenSSL then refuses at the handshake a client certificate that is
missing, from another CA, outside its validity window, not meant for TLS clients (key usage,
extended key usage) or, with a CRL configured, revoked. Who the certificate names is decided
afterwards by ``gateway.identity``.

Contexts are built once at start-up and reused: every bad or missing file is a ``ConfigError``
that names it, so that the server does not start half-configured.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509

from gateway.errors import ConfigError
from gateway.participants import Participant
from gateway.pki import CA_CERT, SERVER_CERT, SERVER_KEY, read_certificate, read_crl


def server_context(certs_dir: Path, *, crl: Path | None = None) -> ssl.SSLContext:
    """The gateway's context: ``server.crt``/``server.key``, clients verified against ``ca.crt``.

    With ``crl`` (a PEM revocation list signed by the CA) a revoked client certificate is refused.
    """
    ca_path = _existing(certs_dir / CA_CERT, "CA certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context)
    context.verify_mode = ssl.CERT_REQUIRED
    _load_chain(context, certs_dir / SERVER_CERT, certs_dir / SERVER_KEY)
    _load_ca(context, ca_path)
    if crl is not None:
        _check_crl(crl, read_certificate(ca_path))
        try:
            context.load_verify_locations(cafile=crl)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"CRL {crl}: cannot load it ({exc})") from exc
        # The leaf is what a participant presents; the CA itself is ours and not revocable here.
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def client_context(certs_dir: Path, participant: Participant) -> ssl.SSLContext:
    """A participant's context: its ``<role>-<code>.crt``/``.key``, the server checked by CA."""
    return client_context_from(
        certs_dir / CA_CERT,
        certs_dir / f"{participant.key}.crt",
        certs_dir / f"{participant.key}.key",
    )


def client_context_from(
    ca: Path, certificate: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A client context from explicit files; without ``certificate`` it presents none."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(context)
    # PROTOCOL_TLS_CLIENT already checks the server's certificate and host name; say it anyway.
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    _load_ca(context, _existing(ca, "CA certificate"))
    if certificate is not None:
        _load_chain(context, certificate, key or certificate.with_suffix(".key"))
    return context


def _harden(context: ssl.SSLContext) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Certificates must follow RFC 5280 to the letter, as the ones ``gateway.pki`` mints do.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.options |= ssl.OP_NO_RENEGOTIATION


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        hint = " (run `gateway certs init`)" if path.suffix in (".crt", ".key") else ""
        raise ConfigError(f"{what} {path}: no such file{hint}")
    return path


def _load_ca(context: ssl.SSLContext, path: Path) -> None:
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"CA certificate {path}: cannot load it ({exc})") from exc


def _load_chain(context: ssl.SSLContext, certificate: Path, key: Path) -> None:
    _existing(certificate, "certificate")
    _existing(key, "private key")
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"certificate {certificate} with key {key}: cannot load them ({exc})"
        ) from exc


def _check_crl(path: Path, ca: x509.Certificate) -> None:
    """Refuse a CRL that OpenSSL would take but that would make every handshake fail."""
    _existing(path, "CRL")
    next_update = read_crl(path, ca).next_update_utc
    if next_update is not None and next_update <= dt.datetime.now(dt.UTC):
        raise ConfigError(f"CRL {path}: expired on {next_update:%Y-%m-%d %H:%M} UTC")

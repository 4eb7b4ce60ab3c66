"""Mutual TLS: a real HTTPS server accepts our participants and refuses every bad certificate.

Two views of the same handshake. Against a real aiohttp server the client only sees the
connection close (asyncio drops the alert the server's TLS library wrote), so the reason is
pinned with an in-memory handshake between the very same contexts, where both sides' errors are
visible: the server's verification message and the alert the client receives.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from gateway import pki, tls
from gateway.errors import ConfigError
from gateway.participants import Participant, Role
from gateway.pki import DevPKI, Issued
from tests.fixtures.pki import serve_https

ZOETERMEER = Participant(Role.GEMEENTE, "0637", "Gemeente Zoetermeer")
PROVIDER = Participant(Role.AANBIEDER, "12345678", "Voorbeeldzorg Zoetermeer")
TLS_VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


@dataclass(frozen=True)
class Refusal:
    """A kind of bad client certificate and how the handshake refuses it."""

    mint: Callable[[DevPKI], Issued | None]
    server_says: str
    client_alert: str
    client_alert_tls12: str = ""  # where TLS 1.2 has another alert for it

    def alert(self, version: ssl.TLSVersion) -> str:
        if version is ssl.TLSVersion.TLSv1_2 and self.client_alert_tls12:
            return self.client_alert_tls12
        return self.client_alert


REFUSALS = {
    "none": Refusal(
        lambda _: None,
        "PEER_DID_NOT_RETURN_A_CERTIFICATE",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
    ),
    "another CA": Refusal(
        lambda _: DevPKI.create().client(ZOETERMEER),
        "unable to get local issuer certificate",
        "TLSV1_ALERT_UNKNOWN_CA",
    ),
    "expired": Refusal(
        lambda pki: pki.expired(ZOETERMEER),
        "certificate has expired",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    ),
    "not yet valid": Refusal(
        lambda pki: pki.not_yet_valid(ZOETERMEER),
        "certificate is not yet valid",
        "SSLV3_ALERT_BAD_CERTIFICATE",
    ),
    "no clientAuth": Refusal(
        lambda pki: pki.without_client_auth(ZOETERMEER),
        "unsuitable certificate purpose",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    ),
    "no digitalSignature": Refusal(
        lambda pki: pki.without_digital_signature(ZOETERMEER),
        "unsuitable certificate purpose",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    ),
    "revoked": Refusal(
        lambda pki: pki.client(ZOETERMEER),  # the crl fixture lists every "revoked" certificate
        "certificate revoked",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
    ),
}


@pytest.fixture(scope="module")
def bad_certs(
    dev_pki: DevPKI, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Path] | None]:
    """Each kind of bad client certificate, written once: kind -> (cert, key) or None."""
    directory = tmp_path_factory.mktemp("bad-certs")
    written: dict[str, tuple[Path, Path] | None] = {}
    for kind, refusal in REFUSALS.items():
        issued = refusal.mint(dev_pki)
        written[kind] = issued.write(directory, kind.replace(" ", "-")) if issued else None
    return written


@pytest.fixture(scope="module")
def crl(
    dev_pki: DevPKI,
    bad_certs: dict[str, tuple[Path, Path] | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A CRL of the development CA that revokes the "revoked" certificate."""
    revoked = bad_certs["revoked"]
    assert revoked is not None
    certificate = x509.load_pem_x509_certificate(revoked[0].read_bytes())
    return dev_pki.write_crl(tmp_path_factory.mktemp("crl") / "crl.pem", [certificate])


def bad_client(certs_dir: Path, files: tuple[Path, Path] | None) -> ssl.SSLContext:
    if files is None:
        return tls.client_context_from(certs_dir / "ca.crt")
    return tls.client_context_from(certs_dir / "ca.crt", *files)


def whoami_app(seen: list[str]) -> web.Application:
    """An app answering with the subject CN of the client certificate the request came with."""

    async def whoami(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        assert peer is not None
        name = dict(attr for rdn in peer["subject"] for attr in rdn)["commonName"]
        seen.append(name)
        return web.Response(text=name)

    app = web.Application()
    app.router.add_get("/", whoami)
    return app


@pytest.mark.parametrize("participant", [ZOETERMEER, PROVIDER], ids=str)
async def test_registered_participant_is_served(
    certs_dir: Path, crl: Path, participant: Participant
) -> None:
    """A participant's certificate from certs init passes the handshake and reaches the app."""
    seen: list[str] = []
    async with (
        serve_https(whoami_app(seen), tls.server_context(certs_dir, crl=crl)) as url,
        aiohttp.ClientSession() as session,
        session.get(url, ssl=tls.client_context(certs_dir, participant)) as response,
    ):
        assert response.status == 200
        assert await response.text() == participant.key
    assert seen == [participant.key]


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
@pytest.mark.parametrize("kind", REFUSALS)
async def test_bad_certificate_never_reaches_the_app(
    certs_dir: Path,
    crl: Path,
    bad_certs: dict[str, tuple[Path, Path] | None],
    kind: str,
    version: ssl.TLSVersion,
) -> None:
    """Without, or with a bad, client certificate the connection ends before any request."""
    client = bad_client(certs_dir, bad_certs[kind])
    client.maximum_version = version
    seen: list[str] = []
    async with (
        serve_https(whoami_app(seen), tls.server_context(certs_dir, crl=crl)) as url,
        aiohttp.ClientSession() as session,
    ):
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url, ssl=client):
                pass
    assert seen == []


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
@pytest.mark.parametrize("kind", REFUSALS)
def test_handshake_refuses_for_the_right_reason(
    certs_dir: Path,
    crl: Path,
    bad_certs: dict[str, tuple[Path, Path] | None],
    kind: str,
    version: ssl.TLSVersion,
) -> None:
    """The server's verification names the defect and the client receives the matching alert."""
    client = bad_client(certs_dir, bad_certs[kind])
    client.maximum_version = version
    server_error, client_error = handshake(tls.server_context(certs_dir, crl=crl), client)
    refusal = REFUSALS[kind]
    assert server_error is not None
    verdict = getattr(server_error, "verify_message", None) or server_error.reason
    assert verdict == refusal.server_says
    assert client_error is not None
    assert client_error.reason == refusal.alert(version)


def test_revoked_certificate_passes_without_the_crl(
    certs_dir: Path, bad_certs: dict[str, tuple[Path, Path] | None]
) -> None:
    """The revoked certificate is otherwise sound: only the configured CRL refuses it."""
    server_error, client_error = handshake(
        tls.server_context(certs_dir), bad_client(certs_dir, bad_certs["revoked"])
    )
    assert (server_error, client_error) == (None, None)


def test_certificate_revoked_by_certs_revoke_is_refused(certs_dir: Path, tmp_path: Path) -> None:
    """After `revoke`, the participant's own certificate from certs init fails the handshake."""
    crl_path, _ = pki.revoke(certs_dir, [PROVIDER], crl=tmp_path / "crl.pem")
    server = tls.server_context(certs_dir, crl=crl_path)
    server_error, _ = handshake(server, tls.client_context(certs_dir, PROVIDER))
    assert server_error is not None
    assert getattr(server_error, "verify_message", None) == "certificate revoked"
    assert handshake(server, tls.client_context(certs_dir, ZOETERMEER)) == (None, None)


def test_client_refuses_a_server_of_another_ca(certs_dir: Path, tmp_path: Path) -> None:
    """A participant's context checks the server certificate against the development CA."""
    impostor = DevPKI.create()
    impostor.write_ca(tmp_path)
    impostor.server().write(tmp_path, "server")
    _, client_error = handshake(
        tls.server_context(tmp_path), tls.client_context(certs_dir, ZOETERMEER)
    )
    assert isinstance(client_error, ssl.SSLCertVerificationError)
    assert client_error.reason == "CERTIFICATE_VERIFY_FAILED"


def test_server_context_demands_a_client_certificate_over_tls_1_2_or_newer(
    certs_dir: Path,
) -> None:
    """The server context requires a client certificate and refuses anything below TLS 1.2."""
    context = tls.server_context(certs_dir)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert not context.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF


@pytest.mark.parametrize("missing", ["ca.crt", "server.crt", "server.key"])
def test_missing_file_is_named(certs_dir: Path, tmp_path: Path, missing: str) -> None:
    """Each file the server context needs, when missing, is a ConfigError naming it."""
    for name in ("ca.crt", "server.crt", "server.key"):
        if name != missing:
            (tmp_path / name).write_bytes((certs_dir / name).read_bytes())
    with pytest.raises(ConfigError, match=f"{tmp_path / missing}: no such file"):
        tls.server_context(tmp_path)


def test_participant_without_certificate_files_is_named(certs_dir: Path) -> None:
    """A client context for a participant that has no certificate names the missing file."""
    stranger = Participant(Role.AANBIEDER, "99999999")
    with pytest.raises(ConfigError, match=r"aanbieder-99999999\.crt: no such file"):
        tls.client_context(certs_dir, stranger)


def test_key_of_another_certificate_is_refused(certs_dir: Path, tmp_path: Path) -> None:
    """A server.key that does not match server.crt is a ConfigError naming both files."""
    for name in ("ca.crt", "server.crt"):
        (tmp_path / name).write_bytes((certs_dir / name).read_bytes())
    (tmp_path / "server.key").write_bytes((certs_dir / "gemeente-0637.key").read_bytes())
    with pytest.raises(ConfigError, match=r"server\.crt with key .*server\.key: cannot load"):
        tls.server_context(tmp_path)


def test_garbage_ca_file_is_named(certs_dir: Path, tmp_path: Path) -> None:
    """A ca.crt that is not a certificate is a ConfigError naming it."""
    for name in ("server.crt", "server.key"):
        (tmp_path / name).write_bytes((certs_dir / name).read_bytes())
    (tmp_path / "ca.crt").write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"CA certificate .*ca\.crt: cannot load it"):
        tls.server_context(tmp_path)


def test_crl_of_another_ca_is_refused(certs_dir: Path, tmp_path: Path) -> None:
    """A CRL the development CA did not sign stops the server context, naming the CRL."""
    foreign = DevPKI.create().write_crl(tmp_path / "foreign.pem", [])
    with pytest.raises(ConfigError, match=r"foreign\.pem: not issued by the CA"):
        tls.server_context(certs_dir, crl=foreign)


def test_expired_crl_is_refused(certs_dir: Path, dev_pki: DevPKI, tmp_path: Path) -> None:
    """A CRL past its nextUpdate would refuse every client, so it stops the server instead."""
    path = tmp_path / "old.pem"
    crl = dev_pki.crl([])
    # Re-sign a list whose nextUpdate lies in the past.
    past = crl.last_update_utc - dt.timedelta(days=2)
    old = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(crl.issuer)
        .last_update(past)
        .next_update(past + dt.timedelta(days=1))
        .sign(dev_pki.ca.key, hashes.SHA256())
    )
    path.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ConfigError, match=r"old\.pem: expired on"):
        tls.server_context(certs_dir, crl=path)


@pytest.mark.parametrize("content", ["", "garbage"])
def test_unreadable_crl_is_named(certs_dir: Path, tmp_path: Path, content: str) -> None:
    """A CRL file that is not a PEM revocation list is a ConfigError naming it."""
    path = tmp_path / "crl.pem"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"crl\.pem: not a PEM certificate revocation list"):
        tls.server_context(certs_dir, crl=path)


def handshake(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> tuple[ssl.SSLError | None, ssl.SSLError | None]:
    """Run a TLS handshake in memory; return the server's and the client's error, if any.

    With TLS 1.3 the client finishes its side before the server has checked the client
    certificate, so the client learns of the refusal only when it next reads.
    """
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname="localhost")
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    errors: dict[str, ssl.SSLError] = {}
    done: set[str] = set()
    sides = (("client", client, client_out, server_in), ("server", server, server_out, client_in))
    for _ in range(8):
        for name, side, outgoing, peer_incoming in sides:
            if name not in errors and name not in done:
                try:
                    side.do_handshake()
                    done.add(name)
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as exc:
                    errors[name] = exc
            peer_incoming.write(outgoing.read())
    if "client" in done:
        try:
            client.read(1)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            errors["client"] = exc
    return errors.get("server"), errors.get("client")

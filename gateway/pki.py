"""The development PKI: a CA, the server certificate, and a client certificate per participant.

In the real chain every party connects with a certificate from a recognised CA; locally we mint
our own with ``cryptography``. The subject of a client certificate names the participant::

    CN=<role>-<code>, O=<name>          e.g.  CN=gemeente-0637, O=Gemeente Zoetermeer

``gateway.identity`` reads it back. Besides the good certificates, ``DevPKI`` mints the odd ones
the tests need (expired, not yet valid, without the clientAuth purpose, revoked with a CRL), so
that every refusal can be shown with a real handshake.

Keys are EC P-256: quick to generate, and accepted by every TLS stack the chain meets.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.errors import ConfigError
from gateway.participants import Participant, Registry

CA_NAME = "iWmo gateway development CA"
# The names the server certificate answers to: this machine, and the compose service name.
SERVER_NAMES = ("localhost", "127.0.0.1", "::1", "gateway")
DEFAULT_DAYS = 825
# Certificates start a little in the past, so that a clock a few minutes behind still accepts them.
BACKDATE = dt.timedelta(minutes=5)

# A revocation list is reissued often (every change), so it runs shorter than the certificates.
CRL_DAYS = 30

CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "server.crt", "server.key"
CRL_FILE = "crl.pem"


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key`` (readable by the owner only)."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        _write(cert_path, self.cert_pem, 0o644)
        _write(key_path, self.key_pem, 0o600)
        return cert_path, key_path


class DevPKI:
    """A development CA that issues server and client certificates and revocation lists."""

    def __init__(self, ca: Issued) -> None:
        self.ca = ca

    @classmethod
    def create(cls, *, days: int = DEFAULT_DAYS, common_name: str = CA_NAME) -> DevPKI:
        """A new CA with a fresh key."""
        _check_days(days)
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        public = key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(Issued(certificate, key))

    @classmethod
    def load(cls, directory: Path) -> DevPKI:
        """Read the CA (``ca.crt``, ``ca.key``) that ``write_ca`` left in ``directory``."""
        certificate = read_certificate(directory / CA_CERT)
        key_path = directory / CA_KEY
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except OSError as exc:
            raise ConfigError(f"CA key {key_path}: cannot read it ({exc})") from exc
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigError(f"CA key {key_path}: not an unencrypted PEM key ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"CA key {key_path}: expected an EC key, not {type(key).__name__}")
        if key.public_key() != certificate.public_key():
            raise ConfigError(f"CA key {key_path} does not belong to {directory / CA_CERT}")
        return cls(Issued(certificate, key))

    def write_ca(self, directory: Path) -> tuple[Path, Path]:
        return self.ca.write(directory, CA_CERT.removesuffix(".crt"))

    def server(self, names: Iterable[str] = SERVER_NAMES, *, days: int = DEFAULT_DAYS) -> Issued:
        """The gateway's certificate, valid for ``names`` (host names and IP addresses)."""
        names = tuple(names)
        if not names:
            raise ConfigError("server certificate: give at least one host name")
        alternatives: list[x509.GeneralName] = []
        for name in names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternatives.append(x509.DNSName(name))
        return self._issue(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]),
            days=days,
            purposes=(ExtendedKeyUsageOID.SERVER_AUTH,),
            alternatives=alternatives,
        )

    def client(
        self,
        participant: Participant,
        *,
        days: int = DEFAULT_DAYS,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        purposes: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.CLIENT_AUTH,),
        digital_signature: bool = True,
        common_name: str | None = None,
    ) -> Issued:
        """A participant's client certificate.

        The keyword arguments exist to mint the wrong ones: a validity window in the past or the
        future, other extended key usages, a key usage without digitalSignature, or a subject
        that is not ``<role>-<code>``.
        """
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name or participant.key)]
        if participant.name:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, participant.name))
        return self._issue(
            x509.Name(attributes),
            days=days,
            not_before=not_before,
            not_after=not_after,
            purposes=purposes,
            digital_signature=digital_signature,
        )

    def expired(self, participant: Participant) -> Issued:
        now = _now()
        return self.client(
            participant,
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=1),
        )

    def not_yet_valid(self, participant: Participant) -> Issued:
        now = _now()
        return self.client(
            participant,
            not_before=now + dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=30),
        )

    def without_client_auth(self, participant: Participant) -> Issued:
        """A certificate whose extended key usage allows serving TLS, not being a TLS client."""
        return self.client(participant, purposes=(ExtendedKeyUsageOID.SERVER_AUTH,))

    def without_digital_signature(self, participant: Participant) -> Issued:
        """A certificate whose key may only sign content (nonRepudiation), not a TLS handshake."""
        return self.client(participant, digital_signature=False)

    def crl(
        self, revoked: Iterable[x509.Certificate | int], *, days: int = DEFAULT_DAYS
    ) -> x509.CertificateRevocationList:
        """A revocation list, signed by this CA, naming ``revoked`` (certificates or serials)."""
        _check_days(days)
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.certificate.subject)
            .last_update(now - BACKDATE)
            .next_update(now + dt.timedelta(days=days))
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()),
                critical=False,
            )
        )
        serials = {item if isinstance(item, int) else item.serial_number for item in revoked}
        for serial in sorted(serials):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - BACKDATE)
                .build()
            )
        return builder.sign(self.ca.key, hashes.SHA256())

    def write_crl(
        self, path: Path, revoked: Iterable[x509.Certificate | int], *, days: int = DEFAULT_DAYS
    ) -> Path:
        """Write a PEM revocation list to ``path``, ready for ``server_context(crl=path)``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, self.crl(revoked, days=days).public_bytes(serialization.Encoding.PEM), 0o644)
        return path

    def _issue(
        self,
        subject: x509.Name,
        *,
        days: int,
        purposes: Sequence[x509.ObjectIdentifier],
        alternatives: Sequence[x509.GeneralName] = (),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        digital_signature: bool = True,
    ) -> Issued:
        _check_days(days)
        key = _new_key()
        public = key.public_key()
        now = _now()
        start = not_before or now - BACKDATE
        # A certificate never outlives its CA; the explicit window (for odd certificates) wins.
        end = not_after or min(
            now + dt.timedelta(days=days), self.ca.certificate.not_valid_after_utc
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.ca.certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(
                    digital_signature=digital_signature, content_commitment=not digital_signature
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(list(purposes)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()),
                critical=False,
            )
        )
        if alternatives:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(list(alternatives)), critical=False
            )
        return Issued(builder.sign(self.ca.key, hashes.SHA256()), key)


@dataclass(frozen=True, slots=True)
class InitResult:
    """What ``init`` did: the files it wrote and those it left as they were."""

    written: tuple[Path, ...]
    kept: tuple[Path, ...]


def init(
    directory: Path,
    registry: Registry,
    *,
    days: int = DEFAULT_DAYS,
    server_names: Iterable[str] = SERVER_NAMES,
    force: bool = False,
    keep_existing: bool = False,
) -> InitResult:
    """Write the CA, the server certificate and a client certificate per registered participant.

    An existing CA is replaced only with ``force`` (which also reissues everything else). With
    ``keep_existing`` the existing CA is reused and only missing certificates are written, so that
    a container can run this on every start and a newly registered participant gets its files.
    """
    _check_days(days)
    if force and keep_existing:
        raise ConfigError("certs init: choose --force or --keep-existing, not both")
    ca_exists = (directory / CA_CERT).exists() or (directory / CA_KEY).exists()
    if ca_exists and not (force or keep_existing):
        raise ConfigError(
            f"{directory / CA_CERT} already exists; --force replaces the CA and every certificate"
            " it signed, --keep-existing adds only the missing certificates"
        )
    written: list[Path] = []
    kept: list[Path] = []
    reuse_ca = ca_exists and keep_existing
    if reuse_ca:
        pki = DevPKI.load(directory)
        kept += [directory / CA_CERT, directory / CA_KEY]
    else:
        pki = DevPKI.create(days=days)
        written += pki.write_ca(directory)
    names = tuple(server_names)
    wanted: list[tuple[str, Callable[[], Issued]]] = [
        (SERVER_CERT.removesuffix(".crt"), partial(pki.server, names, days=days))
    ]
    wanted += [(p.key, partial(pki.client, p, days=days)) for p in registry]
    for stem, make in wanted:
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        if reuse_ca and cert_path.exists() and key_path.exists():
            kept += [cert_path, key_path]
        else:
            written += make().write(directory, stem)
    return InitResult(tuple(written), tuple(kept))


def revoke(
    directory: Path,
    participants: Iterable[Participant],
    *,
    crl: Path | None = None,
    days: int = CRL_DAYS,
) -> tuple[Path, tuple[int, ...]]:
    """Add the current certificates of ``participants`` to the CA's revocation list.

    The list is ``crl`` (default ``<directory>/crl.pem``); entries already in it stay. Returns
    the list's path and the serial numbers now revoked.
    """
    pki = DevPKI.load(directory)
    path = crl or directory / CRL_FILE
    serials: set[int] = set()
    if path.exists():
        serials |= {entry.serial_number for entry in read_crl(path, pki.ca.certificate)}
    for participant in participants:
        serials.add(read_certificate(directory / f"{participant.key}.crt").serial_number)
    pki.write_crl(path, serials, days=days)
    return path, tuple(sorted(serials))


def read_crl(path: Path, ca: x509.Certificate) -> x509.CertificateRevocationList:
    """A PEM revocation list issued by ``ca``; a ``ConfigError`` naming the file if not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"CRL {path}: cannot read it ({exc})") from exc
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise ConfigError(f"CRL {path}: not a PEM certificate revocation list ({exc})") from exc
    public_key = ca.public_key()
    if (
        not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        or crl.issuer != ca.subject
        or not crl.is_signature_valid(public_key)
    ):
        raise ConfigError(f"CRL {path}: not issued by the CA {ca.subject.rfc4514_string()}")
    return crl


def read_certificate(path: Path) -> x509.Certificate:
    """A PEM certificate from ``path``; a ``ConfigError`` naming the file if it is not one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"certificate {path}: cannot read it ({exc})") from exc
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ConfigError(f"certificate {path}: not a PEM certificate ({exc})") from exc


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _check_days(days: int) -> None:
    if not 1 <= days <= 36500:
        raise ConfigError(f"certificate validity of {days} days: expected 1 to 36500")


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    # Open with the final mode so that a private key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), mode)
        file.write(data)

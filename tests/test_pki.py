"""The development PKI: what `gateway certs init` writes, and the odd certificates tests mint."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway import pki
from gateway.cli import main
from gateway.errors import ConfigError
from gateway.participants import Participant, Registry, Role

ZOETERMEER = Participant(Role.GEMEENTE, "0637", "Gemeente Zoetermeer")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def small_registry(tmp_path: Path, *codes: str) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text("".join(f'[[gemeente]]\ncode = "{c}"\n' for c in codes), encoding="utf-8")
    return path


def test_init_writes_ca_server_and_one_pair_per_participant(certs_dir: Path) -> None:
    """certs init leaves ca, server and <role>-<code> pairs, every key private to its owner."""
    expected = {"ca", "server"} | {p.key for p in Registry.load()}
    stems = {path.stem for path in certs_dir.iterdir()}
    assert stems == expected
    for stem in expected:
        assert (certs_dir / f"{stem}.crt").is_file()
        key_mode = stat.S_IMODE((certs_dir / f"{stem}.key").stat().st_mode)
        assert key_mode == 0o600, stem
    assert {"gemeente-0637", "aanbieder-12345678", "aanbieder-65656055"} <= stems


def test_client_certificate_subject_names_role_code_and_name(certs_dir: Path) -> None:
    """A client certificate says CN=<role>-<code>, O=<name>, is for TLS clients, from the CA."""
    certificate = load(certs_dir / "gemeente-0637.crt")
    assert certificate.subject.rfc4514_string() == "O=Gemeente Zoetermeer,CN=gemeente-0637"
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert issued_by(certificate, load(certs_dir / "ca.crt"))


def test_server_certificate_answers_to_local_names_and_the_compose_service(
    certs_dir: Path,
) -> None:
    """The server certificate's SANs are localhost, 127.0.0.1, ::1 and gateway."""
    certificate = load(certs_dir / "server.crt")
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"localhost", "gateway"}
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_ca_may_sign_certificates_and_crls_only(certs_dir: Path) -> None:
    """The CA is a CA (path length 0) whose key signs certificates and CRLs."""
    ca = load(certs_dir / "ca.crt")
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature


def test_init_refuses_to_replace_a_ca_without_force(tmp_path: Path) -> None:
    """A second init stops with a message naming ca.crt and the two ways forward."""
    registry = Registry.load(small_registry(tmp_path, "0637"))
    pki.init(tmp_path / "certs", registry)
    with pytest.raises(ConfigError, match=r"ca\.crt already exists; --force .* --keep-existing"):
        pki.init(tmp_path / "certs", registry)


def test_force_replaces_the_ca_and_reissues_everything(tmp_path: Path) -> None:
    """With force, the CA is new and every certificate is signed by the new CA."""
    registry = Registry.load(small_registry(tmp_path, "0637"))
    directory = tmp_path / "certs"
    pki.init(directory, registry)
    old_ca = load(directory / "ca.crt")
    result = pki.init(directory, registry, force=True)
    new_ca = load(directory / "ca.crt")
    assert new_ca.serial_number != old_ca.serial_number
    assert result.kept == ()
    for stem in ("server", "gemeente-0637"):
        assert issued_by(load(directory / f"{stem}.crt"), new_ca)


def test_keep_existing_adds_only_the_missing_certificates(tmp_path: Path) -> None:
    """With keep_existing, the CA and present pairs stay; a new participant gets its pair."""
    directory = tmp_path / "certs"
    pki.init(directory, Registry.load(small_registry(tmp_path, "0637")))
    before = (directory / "gemeente-0637.crt").read_bytes()
    result = pki.init(
        directory, Registry.load(small_registry(tmp_path, "0637", "0546")), keep_existing=True
    )
    assert result.written == (directory / "gemeente-0546.crt", directory / "gemeente-0546.key")
    assert (directory / "gemeente-0637.crt").read_bytes() == before
    assert issued_by(load(directory / "gemeente-0546.crt"), load(directory / "ca.crt"))


def test_certificates_do_not_outlive_the_ca(tmp_path: Path) -> None:
    """A leaf asked for more days than its CA has left ends with the CA."""
    authority = pki.DevPKI.create(days=10)
    leaf = authority.client(ZOETERMEER, days=400).certificate
    assert leaf.not_valid_after_utc == authority.ca.certificate.not_valid_after_utc


def test_odd_certificates_are_what_their_names_say(dev_pki: pki.DevPKI) -> None:
    """expired, not_yet_valid, without_client_auth and without_digital_signature mint those."""
    now = dt.datetime.now(dt.UTC)
    assert dev_pki.expired(ZOETERMEER).certificate.not_valid_after_utc < now
    assert dev_pki.not_yet_valid(ZOETERMEER).certificate.not_valid_before_utc > now
    server_only = dev_pki.without_client_auth(ZOETERMEER).certificate
    assert list(server_only.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    signing_only = dev_pki.without_digital_signature(ZOETERMEER).certificate
    usage = signing_only.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not usage.digital_signature
    assert usage.content_commitment
    renamed = dev_pki.client(ZOETERMEER, common_name="zorgkantoor-1").certificate
    assert renamed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "zorgkantoor-1"


def test_crl_names_the_revoked_certificate_and_is_signed_by_the_ca(
    dev_pki: pki.DevPKI, tmp_path: Path
) -> None:
    """write_crl writes a PEM CRL of the CA listing exactly the revoked serial numbers."""
    revoked = dev_pki.client(ZOETERMEER).certificate
    kept = dev_pki.client(ZOETERMEER).certificate
    path = dev_pki.write_crl(tmp_path / "crl.pem", [revoked])
    crl = x509.load_pem_x509_crl(path.read_bytes())
    ca_key = dev_pki.ca.key.public_key()
    assert crl.is_signature_valid(ca_key)
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(kept.serial_number) is None


def test_load_refuses_a_key_of_another_ca(tmp_path: Path) -> None:
    """A ca.key that does not match ca.crt is a ConfigError naming both files."""
    pki.DevPKI.create().write_ca(tmp_path)
    (tmp_path / "ca.key").write_bytes(pki.DevPKI.create().ca.key_pem)
    with pytest.raises(ConfigError, match=r"ca\.key does not belong to .*ca\.crt"):
        pki.DevPKI.load(tmp_path)


def test_load_names_a_missing_ca_file(tmp_path: Path) -> None:
    """Loading a CA from an empty directory names the missing ca.crt."""
    with pytest.raises(ConfigError, match=r"certificate .*ca\.crt: cannot read it"):
        pki.DevPKI.load(tmp_path)


@pytest.mark.parametrize("days", [0, -5, 36501])
def test_validity_out_of_range_is_refused(days: int) -> None:
    """A validity of less than a day or more than a century is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=f"validity of {days} days"):
        pki.DevPKI.create(days=days)


def test_cli_init_writes_the_files_and_reports_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gateway certs init --dir --registry --days` writes the set, valid for that many days."""
    directory = tmp_path / "out"
    registry = small_registry(tmp_path, "0637")
    status = main(
        ["certs", "init", "--dir", str(directory), "--registry", str(registry), "--days", "30"]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert f"wrote {directory / 'gemeente-0637.crt'}" in out
    assert f"1 participants from {registry}" in out
    leaf = load(directory / "gemeente-0637.crt")
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc < dt.timedelta(days=31)


def test_cli_refuses_an_existing_ca_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second `gateway certs init` exits 2 and says --force is needed; --force then succeeds."""
    args = ["certs", "init", "--dir", str(tmp_path), "--registry", str(small_registry(tmp_path))]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "already exists; --force replaces the CA" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_cli_extra_server_names(tmp_path: Path) -> None:
    """--server-name replaces the default names of the server certificate."""
    registry = small_registry(tmp_path)
    args = ["certs", "init", "--dir", str(tmp_path / "c"), "--registry", str(registry)]
    assert main([*args, "--server-name", "gw.test", "--server-name", "10.0.0.7"]) == 0
    names = load(tmp_path / "c" / "server.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert names.value.get_values_for_type(x509.DNSName) == ["gw.test"]
    assert names.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]


def test_revoke_adds_to_the_list_and_keeps_earlier_entries(certs_dir: Path, tmp_path: Path) -> None:
    """Each revoke adds the participants' current certificates; those revoked before stay listed."""
    crl_path = tmp_path / "crl.pem"
    provider = Participant(Role.AANBIEDER, "12345678")
    pki.revoke(certs_dir, [ZOETERMEER], crl=crl_path)
    path, serials = pki.revoke(certs_dir, [provider], crl=crl_path)
    expected = {load(certs_dir / f"{p.key}.crt").serial_number for p in (ZOETERMEER, provider)}
    assert path == crl_path
    assert set(serials) == expected
    crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    assert {entry.serial_number for entry in crl} == expected
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - dt.datetime.now(dt.UTC) <= dt.timedelta(days=pki.CRL_DAYS)


def test_revoke_refuses_a_list_of_another_ca(certs_dir: Path, tmp_path: Path) -> None:
    """Revoking into a CRL another CA signed is a ConfigError naming that file."""
    foreign = pki.DevPKI.create().write_crl(tmp_path / "foreign.pem", [])
    with pytest.raises(ConfigError, match=r"foreign\.pem: not issued by the CA"):
        pki.revoke(certs_dir, [ZOETERMEER], crl=foreign)


def test_cli_revoke(certs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`gateway certs revoke` writes the list and says how to use it; a bad name exits 2."""
    crl_path = tmp_path / "crl.pem"
    base = ["certs", "revoke", "--dir", str(certs_dir), "--crl", str(crl_path)]
    assert main([*base, "gemeente-0637", "aanbieder:12345678"]) == 0
    out = capsys.readouterr().out
    assert "revoked gemeente-0637" in out
    assert "revoked aanbieder-12345678" in out
    assert f"GATEWAY_CRL={crl_path}" in out
    assert len(list(x509.load_pem_x509_crl(crl_path.read_bytes()))) == 2
    assert main([*base, "zorgkantoor-1"]) == 2
    assert "participant 'zorgkantoor-1'" in capsys.readouterr().err

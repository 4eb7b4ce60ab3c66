"""The participant registry: the packaged default, TOML files, and loud errors on bad entries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.participants import Participant, Registry, Role

SEED_REGION = {"0637", "0546", "0547", "0579", "0638"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "participants.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_registry_holds_the_seed_region_with_cbs_names(reference: Path) -> None:
    """The five seed municipalities are registered, each named as in the CBS code list."""
    cbs_list = (reference / "iwmo-3.2/docs/codelijsten/CBS_Gemeentecodes.md").read_text("utf-8")
    cbs = dict(re.findall(r"^\| ([0-9]{4}) \| ([^|]+?) \|", cbs_list, re.MULTILINE))
    registry = Registry.load()
    municipalities = {p.code: p.name for p in registry.municipalities()}
    assert municipalities.keys() >= SEED_REGION
    for code, name in municipalities.items():
        assert name == f"Gemeente {cbs[code]}", code


def test_default_registry_holds_the_providers_of_the_official_examples() -> None:
    """At least three named providers, among them the AGB codes the official examples use."""
    providers = Registry.load().providers()
    assert len(providers) >= 3
    assert {"65656055", "42420001", "12345678"} <= {p.code for p in providers}
    assert all(p.role is Role.AANBIEDER and p.name for p in providers)


def test_lookup_by_role_and_code(tmp_path: Path) -> None:
    """get() finds a participant by (role, code); the same code under another role is nobody."""
    registry = Registry.load(
        write(
            tmp_path,
            '[[gemeente]]\ncode = "0637"\nname = "Gemeente Zoetermeer"\n\n'
            '[[aanbieder]]\ncode = "12345678"\n',
        )
    )
    zoetermeer = registry.get(Role.GEMEENTE, "0637")
    assert zoetermeer == Participant(Role.GEMEENTE, "0637", "Gemeente Zoetermeer")
    assert registry.get(Role.AANBIEDER, "0637") is None
    assert registry.get(Role.GEMEENTE, "0546") is None
    assert zoetermeer in registry
    assert Participant(Role.GEMEENTE, "0546") not in registry
    assert [p.key for p in registry] == ["aanbieder-12345678", "gemeente-0637"]
    assert len(registry) == 2
    assert registry.source == str(tmp_path / "participants.toml")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[[gemeente]]\ncode = "637"\n', "gemeente entry 1: participant code '637'"),
        ('[[aanbieder]]\ncode = "1234567a"\n', "aanbieder entry 1: participant code '1234567a'"),
        ("[[aanbieder]]\ncode = 12345678\n", "aanbieder entry 1: 'code' must be a quoted string"),
        ('[[gemeente]]\ncode = "0637"\nnaam = "x"\n', "gemeente entry 1: unknown key 'naam'"),
        ('[[gemeente]]\ncode = "0637"\nname = 3\n', "gemeente entry 1 (0637): 'name' must be"),
        ('[[zorgkantoor]]\ncode = "0637"\n', "unknown section [zorgkantoor]"),
        ('[gemeente]\ncode = "0637"\n', "[gemeente] must be a list of [[gemeente]] entries"),
        ('[[gemeente]]\ncode = "0637"\n[[gemeente]]\ncode = "0637"\n', "gemeente-0637 is listed"),
        ("[[gemeente]\n", "not valid TOML"),
    ],
)
def test_bad_registry_names_file_and_entry(tmp_path: Path, text: str, complaint: str) -> None:
    """A wrong registry file is a ConfigError naming the file and what is wrong in which entry."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        Registry.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert complaint in str(caught.value)


def test_missing_registry_file_is_named(tmp_path: Path) -> None:
    """A registry path that does not exist is a ConfigError naming it."""
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=f"participant registry {re.escape(str(missing))}"):
        Registry.load(missing)


def test_registry_is_read_only() -> None:
    """The loaded registry cannot be changed behind the server's back."""
    registry = Registry.load()
    with pytest.raises(TypeError):
        registry.entries[Role.GEMEENTE, "9999"] = Participant(Role.GEMEENTE, "9999")  # type: ignore[index]

"""The project as a newcomer meets it: pyproject, the README's first two commands, CI, the PKI.

The two commands themselves are run elsewhere: ``scripts/demo`` by tests/scenarios/test_demo.py
(as ``gateway demo``) and ``scripts/test`` by CI. Here: that they are what the README says, that
CI runs exactly the README's test command, and that the README documents every setting.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.participants import Registry

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Set by `gateway serve --workers N` for the processes it starts; nobody sets them by hand.
INTERNAL_SETTINGS = {"GATEWAY_WORKER", "GATEWAY_WORKER_SOCKET"}


def commands(script: Path) -> list[list[str]]:
    """The commands of a shell script, one per line, without comments and `set` lines."""
    lines = [line.strip() for line in script.read_text(encoding="utf-8").splitlines()]
    return [
        shlex.split(line, comments=True)
        for line in lines
        if line and not line.startswith("#") and not line.startswith("set ")
    ]


def readme_commands() -> list[str]:
    """The commands of the README's first code block."""
    block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert block is not None, "the README opens with a ```sh block"
    return [shlex.split(line, comments=True)[0] for line in block[1].splitlines() if line.strip()]


def test_pyproject_makes_the_package_gateway_with_its_console_script() -> None:
    """Package ``gateway``, console script ``gateway`` -> gateway.cli:main, strict pytest."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"] == {"gateway": "gateway.cli:main"}
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["gateway*"]
    pytest_options = project["tool"]["pytest"]["ini_options"]
    assert {"--strict-markers", "--strict-config"} <= set(pytest_options["addopts"].split())
    assert pytest_options["filterwarnings"] == ["error"]
    assert project["tool"]["mypy"]["strict"] is True
    # The installed script is the one the README and the compose file run.
    script = shutil.which("gateway", path=str(Path(sys.executable).parent))
    assert script is not None
    version = subprocess.run(
        [script, "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.strip().endswith(project["project"]["version"])


def test_readme_opens_with_the_main_job_and_the_tests() -> None:
    """First the two commands, scripts/demo (``gateway demo``) and scripts/test; then what the
    system is, how to point a client at it, and the configuration."""
    assert README.startswith("# iwmo-gateway\n\n```sh\n")
    assert readme_commands() == ["scripts/demo", "scripts/test"]
    for name in readme_commands():
        assert os.access(ROOT / name, os.X_OK), name
    demo = commands(ROOT / "scripts" / "demo")
    assert demo[-1][:3] == ["exec", ".venv/bin/gateway", "demo"]
    assert ["scripts/bootstrap"] in demo
    assert ["scripts/services"] in demo
    test = commands(ROOT / "scripts" / "test")
    assert ["scripts/bootstrap"] in test
    assert ["scripts/services"] in test
    assert [".venv/bin/mypy"] in test
    assert test[-1] == ["exec", ".venv/bin/pytest", "$@"]
    headings = re.findall(r"^## (.+)$", README, re.MULTILINE)
    order = ["What it is", "Pointing a client at it", "Configuration"]
    assert [h for h in headings if h in order] == order


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """.ci/run goes to the checkout and executes the README's test command, nothing else."""
    ci = commands(ROOT / ".ci" / "run")
    assert ci == [["cd", "$(dirname $0)/.."], ["exec", readme_commands()[1]]]
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_documents_every_setting() -> None:
    """Each GATEWAY_* variable the code reads is in the README's configuration reference."""
    read = set()
    for source in (ROOT / "gateway").rglob("*.py"):
        read |= set(re.findall(r"\bGATEWAY_[A-Z_]*[A-Z]\b", source.read_text(encoding="utf-8")))
    configuration = README.split("## Configuration", 1)[1]
    documented = set(re.findall(r"\bGATEWAY_[A-Z_]*[A-Z]\b", configuration))
    assert read - INTERNAL_SETTINGS <= documented, sorted(read - INTERNAL_SETTINGS - documented)


def test_certs_init_writes_to_certs_dev_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --dir, `gateway certs init` writes the CA, the server pair and a pair per
    registered participant (<role>-<code>) under certs/dev of the working directory."""
    monkeypatch.chdir(tmp_path)
    assert main(["certs", "init"]) == 0
    written = {path.name for path in (tmp_path / "certs" / "dev").iterdir()}
    stems = {"ca", "server"} | {p.key for p in Registry.load()}
    assert written == {f"{stem}.{kind}" for stem in stems for kind in ("crt", "key")}
    assert {"gemeente-0637.crt", "aanbieder-12345678.crt"} <= written
    assert "certs/dev/ca.crt" in capsys.readouterr().out


def test_no_private_key_is_committed() -> None:
    """Git tracks no key and ignores those `gateway certs init` writes (skipped outside git)."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert not [name for name in tracked if name.endswith(".key") or "PRIVATE KEY" in name]
    assert [name for name in tracked if name.startswith("certs/")] == ["certs/dev/README.md"]
    for path in ("certs/dev/ca.key", "certs/dev/gemeente-0637.key", "anywhere/x.key"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} is not ignored"

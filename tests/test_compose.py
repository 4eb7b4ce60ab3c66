"""docker-compose.yml and the Dockerfile hold together: services, ports, volumes, order, health.

Docker is not run here; these checks read the files the way Compose would and hold them against
the gateway's own command line and settings.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway import config, pki
from gateway.cli import build_parser
from gateway.handlers.service import SIMULATED_ENV, ops_url, parse_simulated
from gateway.participants import Registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with (ROOT / "docker-compose.yml").open(encoding="utf-8") as file:
        document: dict[str, Any] = yaml.safe_load(file)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def published(service: dict[str, Any]) -> dict[int, str]:
    """Container port -> host address, from "host_ip:host_port:container_port" entries."""
    ports: dict[int, str] = {}
    for entry in service.get("ports", []):
        host_ip, host_port, container_port = str(entry).rsplit(":", 2)
        assert host_port == container_port, entry
        ports[int(container_port)] = host_ip
    return ports


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Container path -> (volume name, mode), from "volume:/path[:ro]" entries."""
    result: dict[str, tuple[str, str]] = {}
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        result[target] = (source, mode[0] if mode else "rw")
    return result


def dockerfile_instructions(path: Path) -> list[list[str]]:
    """[INSTRUCTION, arguments] per logical line: comments dropped, continuations joined."""
    logical = path.read_text(encoding="utf-8").replace("\\\n", " ")
    return [
        line.strip().split(maxsplit=1)
        for line in logical.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_services(services: dict[str, Any]) -> None:
    """The stack is RabbitMQ, the certificate and broker-user steps, the gateway, the handlers."""
    assert set(services) == {"rabbitmq", "certs", "amqp-users", "gateway", "handlers"}


def test_rabbitmq_with_management_on_loopback(services: dict[str, Any]) -> None:
    """RabbitMQ 3.13 with management publishes AMQP and the console on 127.0.0.1 only."""
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["image"] == "rabbitmq:3.13-management"
    assert published(rabbitmq) == {5672: "127.0.0.1", 15672: "127.0.0.1"}
    assert mounts(rabbitmq)["/var/lib/rabbitmq"][0] == "rabbitmq-data"
    # Its data directory is named after the host name, so the host name must not change.
    assert rabbitmq["hostname"] == "rabbitmq"


def test_rabbitmq_healthcheck_asks_rabbitmq_diagnostics(services: dict[str, Any]) -> None:
    """The broker counts as healthy only when rabbitmq-diagnostics says it accepts connections."""
    health = services["rabbitmq"]["healthcheck"]
    command = " ".join(health["test"][1:])
    assert health["test"][0] == "CMD-SHELL"
    assert "rabbitmq-diagnostics" in command
    assert "check_port_connectivity" in command
    assert health["retries"] >= 3


def test_certs_step_writes_to_the_shared_volume_with_our_cli(services: dict[str, Any]) -> None:
    """The one-shot step runs a `gateway certs init` our parser accepts, into the certs volume."""
    certs = services["certs"]
    args = build_parser().parse_args(certs["command"])
    assert (args.command, args.action) == ("certs", "init")
    assert args.dir == Path("/certs")
    # A second `up` must succeed too, or the gateway would never start again.
    assert args.keep_existing
    assert not args.force
    assert mounts(certs)["/certs"] == ("certs", "rw")
    assert certs.get("restart", "no") == "no"


def test_gateway_serves_with_the_certificates(services: dict[str, Any]) -> None:
    """The gateway runs `gateway serve --certs /certs`, the certs volume mounted read-only."""
    gateway = services["gateway"]
    assert gateway["command"][:1] == ["serve"]
    args = build_parser().parse_args(gateway["command"])
    assert args.certs == Path("/certs")
    assert mounts(gateway)["/certs"] == ("certs", "ro")


def test_gateway_waits_for_a_healthy_broker_and_finished_certificates(
    services: dict[str, Any],
) -> None:
    """The gateway starts after RabbitMQ is healthy and the certs step completed successfully."""
    assert services["gateway"]["depends_on"] == {
        "rabbitmq": {"condition": "service_healthy"},
        "certs": {"condition": "service_completed_successfully"},
    }


def test_gateway_ports_reach_its_listeners(services: dict[str, Any]) -> None:
    """8443 and 8080 are published, and the settings make the gateway listen there in-container."""
    gateway = services["gateway"]
    settings = config.load(gateway["environment"])
    assert published(gateway) == {8443: "127.0.0.1", 8080: "127.0.0.1"}
    assert (settings.port, settings.ops_port) == (8443, 8080)
    # Published ports arrive on the container's own interface, never on its loopback.
    assert settings.host == settings.ops_host == "0.0.0.0"


def test_gateway_healthcheck_asks_healthz_on_the_ops_port(services: dict[str, Any]) -> None:
    """The gateway's healthcheck fetches /healthz on 127.0.0.1:8080 with the image's Python."""
    test = services["gateway"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8080/healthz" in test[3]
    compile(test[3], "healthcheck", "exec")  # a typo here would keep the stack unhealthy forever


def test_everyone_reaches_rabbitmq_as_its_configured_user(services: dict[str, Any]) -> None:
    """Gateway and handlers connect to the rabbitmq service with the user the broker creates."""
    broker = services["rabbitmq"]["environment"]
    for name in ("gateway", "handlers"):
        url = urlsplit(config.load(services[name]["environment"]).amqp_url)
        assert (url.hostname, url.port) == ("rabbitmq", 5672), name
        assert (url.username, url.password) == (
            broker["RABBITMQ_DEFAULT_USER"],
            broker["RABBITMQ_DEFAULT_PASS"],
        ), name
        # RabbitMQ refuses `guest` from anywhere but its own loopback.
        assert url.username != "guest", name


def image_environment() -> dict[str, str]:
    """What the Dockerfile's ENV instructions set in every container of the image."""
    environment: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions(ROOT / "Dockerfile"):
        if keyword == "ENV":
            for pair in shlex.split(rest):
                key, value = pair.split("=", 1)
                environment[key] = value
    return environment


def test_handlers_follow_a_healthy_gateway(services: dict[str, Any]) -> None:
    """The handlers run `gateway handlers` once the gateway is healthy, with the certificates."""
    handlers = services["handlers"]
    assert handlers["command"] == ["handlers"]
    assert handlers["depends_on"]["gateway"] == {"condition": "service_healthy"}
    assert handlers["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert mounts(handlers)["/certs"] == ("certs", "ro")


def test_handlers_start_with_the_settings_they_are_given(services: dict[str, Any]) -> None:
    """What `gateway handlers` reads in its container names participants to simulate, the
    certificates' volume, and the gateway's two ports by the service name the certificate has."""
    environment = {**image_environment(), **services["handlers"]["environment"]}
    settings = config.load(environment)
    # Without anybody to simulate `gateway handlers` stops at once (exit 2).
    simulated = parse_simulated(settings.extra.get(SIMULATED_ENV, ""), Registry.load())
    assert {s.participant.key for s in simulated} == {"gemeente-0637", "aanbieder-12345678"}
    assert settings.certs_dir == Path("/certs")
    gateway = config.load({**image_environment(), **services["gateway"]["environment"]})
    # Participants' port over TLS, and the ops port that says whose clock runs (unreachable
    # there: exit 2 at start).
    assert settings.client_url == f"https://gateway:{gateway.port}"
    assert ops_url(settings) == f"http://gateway:{gateway.ops_port}"
    assert "gateway" in pki.SERVER_NAMES


def test_handlers_healthcheck_asks_whether_their_inboxes_are_consumed(
    services: dict[str, Any],
) -> None:
    """The handlers are healthy while `gateway handlers --check` finds their inboxes consumed."""
    health = services["handlers"]["healthcheck"]
    assert health["test"][:2] == ["CMD", "gateway"]
    args = build_parser().parse_args(health["test"][2:])
    assert (args.command, args.check) == ("handlers", True)
    assert health["retries"] >= 3


def test_every_volume_is_declared_and_used(compose: dict[str, Any]) -> None:
    """Each named volume a service mounts is declared at the top level, and none is unused."""
    used = {
        source
        for service in compose["services"].values()
        for source, _mode in mounts(service).values()
    }
    assert (
        used == set(compose["volumes"]) == {"rabbitmq-data", "certs", "ledger", "amqp-credentials"}
    )


def test_project_services_are_built_from_the_dockerfile(services: dict[str, Any]) -> None:
    """certs, gateway and handlers run the one image built from the project's Dockerfile."""
    for name in ("certs", "gateway", "handlers"):
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        assert service["image"] == "iwmo-gateway:dev", name


def test_dockerfile_installs_the_project_on_python_311_slim() -> None:
    """The image starts from python:3.11-slim, pip-installs the project and runs `gateway`."""
    instructions = dockerfile_instructions(ROOT / "Dockerfile")
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    runs = [rest for keyword, rest in instructions if keyword == "RUN"]
    assert any(shlex.split(run)[:2] == ["pip", "install"] for run in runs)
    assert ["ENTRYPOINT", '["gateway"]'] in instructions
    assert ["EXPOSE", "8443 8080"] in instructions
    assert any(keyword == "USER" and rest != "root" for keyword, rest in instructions)


def test_no_private_key_can_enter_the_image() -> None:
    """The build context admits only the package and its metadata, and never a *.key file."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!gateway/"} <= set(rules)
    assert "**/*.key" in rules
    assert not any(rule.startswith("!") and "cert" in rule for rule in rules)


def test_amqp_users_are_provisioned_through_the_management_api(services: dict[str, Any]) -> None:
    """`gateway amqp provision` runs against the broker's management port once it is healthy."""
    step = services["amqp-users"]
    assert step["command"][:2] == ["amqp", "provision"]
    admin_url = urlsplit(step["command"][step["command"].index("--amqp-admin-url") + 1])
    broker = services["rabbitmq"]["environment"]
    assert (admin_url.hostname, admin_url.port) == ("rabbitmq", 15672)
    assert (admin_url.username, admin_url.password) == (
        broker["RABBITMQ_DEFAULT_USER"],
        broker["RABBITMQ_DEFAULT_PASS"],
    )
    assert step["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert mounts(step)["/credentials"] == ("amqp-credentials", "rw")
    assert step["build"] == {"context": ".", "dockerfile": "Dockerfile"}

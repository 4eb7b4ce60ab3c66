"""Shared test fixtures: where the reference material and the seeds live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Two shared cores: a property must not fail because one example was slow to run. In CI the
# examples are derived from each test's name, so a run checks what the runs before it checked.
settings.register_profile(
    "gateway",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("gateway")

pytest_plugins = [
    "tests.fixtures.pki",
    "tests.fixtures.ledger",
    "tests.fixtures.broker",
    "tests.fixtures.gateway",
    "tests.fixtures.cli",
    "tests.reliability.process",
    "tests.fixtures.rabbitmq_node",
]

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture(scope="session")
def reference() -> Path:
    """The official schemas, examples and rules in ``../shared/reference``."""
    if not REFERENCE.is_dir():
        pytest.fail(f"reference material missing: {REFERENCE}")
    return REFERENCE


SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
ZOETERMEER_SEED = "003_e8bd6977bce82549.txt"


@pytest.fixture(scope="session")
def zoetermeer_seed() -> str:
    """The text of seed 003, the Zoetermeer 2020 contract."""
    path = SEEDS / ZOETERMEER_SEED
    if not path.is_file():
        pytest.fail(f"seed missing: {path}")
    return path.read_text(encoding="utf-8")

"""The project's scenario tests run on the package's own pytest plugin (``iwmo_*`` fixtures),
pointed at this suite's throwaway vhost and session certificates."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def iwmo_amqp_url(amqp_url: str) -> str:
    """The chain routes through a vhost of the test's own."""
    return amqp_url


@pytest.fixture(scope="session")
def iwmo_certs_dir(certs_dir: Path) -> Path:
    """The suite's certificates, minted once."""
    return certs_dir

"""RabbitMQ users for the municipalities, each able to read its own inbox and nothing else.

A municipality's backend consumes ``inbox.gemeente.<code>`` over AMQP. If every backend shared
one broker user, a bug or a curious operator at one municipality could read another's clients.
So each municipality gets a user of its own whose configure, write and read permissions (in
the vhost the gateway uses) match only its own queue, and RabbitMQ itself refuses the rest.
Provisioning goes through RabbitMQ's management HTTP API and is idempotent: users are created
or updated, passwords kept in files (one per user, mode 0600) and reused on the next run.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import aiohttp
from yarl import URL

from gateway.errors import BrokerAdminError, ConfigError
from gateway.participants import Participant, Role

DEFAULT_ADMIN_URL = "http://guest:guest@127.0.0.1:15672/"
ADMIN_TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True, slots=True)
class Grant:
    """One broker user and its permissions in one vhost, as RabbitMQ's regular expressions."""

    user: str
    vhost: str
    configure: str
    write: str
    read: str

    @classmethod
    def own_inbox(cls, participant: Participant, vhost: str, *, user_prefix: str = "") -> Grant:
        """Configure, write and read on the participant's inbox queue only.

        The user is ``<prefix>gemeente-<code>``; a prefix keeps environments that share one
        broker (test, acceptance) apart.
        """
        if participant.role is not Role.GEMEENTE:
            raise ConfigError(
                f"{participant.key}: broker users are provisioned for municipalities only"
            )
        only = f"^{re.escape(participant.queue)}$"
        return cls(f"{user_prefix}{participant.key}", vhost, configure=only, write=only, read=only)


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What ``provision`` set up for one municipality, and where its password is."""

    grant: Grant
    queue: str
    password_file: Path
    created_password: bool


def vhost_of(amqp_url: str) -> str:
    """The vhost an ``amqp://`` URL names: its path, unquoted; none (or ``/``) is ``/``."""
    path = URL(amqp_url).raw_path
    return unquote(path[1:]) if len(path) > 1 else "/"


class PasswordStore:
    """One password per broker user in ``<directory>/<user>.password``, made once, then kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, user: str) -> Path:
        return self.directory / f"{user}.password"

    def get_or_create(self, user: str) -> tuple[str, bool]:
        """The user's password, and whether it was made just now."""
        path = self.path(user)
        if path.is_file():
            password = path.read_text().strip()
            if not password:
                raise ConfigError(f"password file {path} is empty; delete it to make a new one")
            return password, False
        self.directory.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        # Created 0600 from the start, so the password is never readable by others on disk.
        with open(path, "x", opener=_private_opener) as file:
            file.write(password + "\n")
        return password, True


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


class ManagementApi:
    """The few calls of RabbitMQ's management HTTP API that provisioning needs."""

    def __init__(self, admin_url: str, session: aiohttp.ClientSession) -> None:
        url = URL(admin_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"GATEWAY_AMQP_ADMIN_URL={url.with_password(None)!s}: expected "
                "http://user:password@host:15672/ (the management plugin's address)"
            )
        credentials = f"{url.user or 'guest'}:{url.password or 'guest'}".encode()
        self._headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
        self._base = url.with_user(None).with_path("/api/")
        self._session = session

    async def put_user(self, user: str, password: str) -> None:
        """Create the user, or set its password; no tags, so no management UI for it."""
        await self._call("PUT", f"users/{_segment(user)}", {"password": password, "tags": ""})

    async def set_permissions(self, grant: Grant) -> None:
        await self._call(
            "PUT",
            f"permissions/{_segment(grant.vhost)}/{_segment(grant.user)}",
            {"configure": grant.configure, "write": grant.write, "read": grant.read},
        )

    async def delete_user(self, user: str) -> bool:
        """Delete the user (and with it its permissions); whether it existed."""
        return await self._call("DELETE", f"users/{_segment(user)}", missing_ok=True)

    async def vhost_exists(self, vhost: str) -> bool:
        return await self._call("GET", f"vhosts/{_segment(vhost)}", missing_ok=True)

    async def _call(
        self, method: str, path: str, body: object = None, *, missing_ok: bool = False
    ) -> bool:
        url = URL(str(self._base) + path, encoded=True)
        try:
            async with self._session.request(
                method, url, json=body, headers=self._headers, timeout=ADMIN_TIMEOUT
            ) as response:
                if response.status == 404 and missing_ok:
                    return False
                if response.status >= 300:
                    text = (await response.text())[:300]
                    raise BrokerAdminError(
                        f"RabbitMQ management API: {method} {url.path} answered "
                        f"{response.status}: {text}"
                    )
                return True
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BrokerAdminError(
                f"RabbitMQ management API at {self._base.origin()} did not answer ({exc!r}); "
                "is the rabbitmq_management plugin enabled?"
            ) from exc


def _segment(name: str) -> str:
    # The default vhost "/" must travel as %2F.
    return quote(name, safe="")


async def provision(
    admin_url: str,
    vhost: str,
    municipalities: Iterable[Participant],
    passwords: PasswordStore,
    *,
    user_prefix: str = "",
) -> list[Provisioned]:
    """One user per municipality, allowed its own inbox in ``vhost`` and nothing else."""
    done: list[Provisioned] = []
    async with aiohttp.ClientSession() as session:
        api = ManagementApi(admin_url, session)
        if not await api.vhost_exists(vhost):
            raise BrokerAdminError(f"vhost {vhost!r} does not exist on the broker")
        for municipality in municipalities:
            grant = Grant.own_inbox(municipality, vhost, user_prefix=user_prefix)
            password, created = passwords.get_or_create(grant.user)
            await api.put_user(grant.user, password)
            await api.set_permissions(grant)
            done.append(Provisioned(grant, municipality.queue, passwords.path(grant.user), created))
    return done

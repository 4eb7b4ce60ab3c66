"""``gateway amqp provision``: one RabbitMQ user per municipality, limited to its own inbox."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from gateway import config
from gateway.amqp_admin import DEFAULT_ADMIN_URL, PasswordStore, provision, vhost_of
from gateway.participants import Registry


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "amqp",
        help="RabbitMQ users and permissions for the municipalities",
        description="Manage the broker users municipal backends consume their inbox with.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    provision_parser = actions.add_parser(
        "provision",
        help="create or update one user per municipality, allowed only its own inbox",
        description=(
            "For every municipality in the registry, create (or update) the RabbitMQ user "
            "gemeente-<code> with configure, write and read permissions matching only its queue "
            "inbox.gemeente.<code>, through the management HTTP API. Passwords are made once and "
            "kept in <credentials-dir>/gemeente-<code>.password (mode 0600). Safe to run again."
        ),
    )
    provision_parser.add_argument(
        "--amqp-admin-url",
        help="management API with an administrator's credentials (GATEWAY_AMQP_ADMIN_URL; "
        f"default {DEFAULT_ADMIN_URL})",
    )
    provision_parser.add_argument(
        "--vhost", help="vhost to grant in (default: the vhost of GATEWAY_AMQP_URL)"
    )
    provision_parser.add_argument(
        "--registry", type=Path, help="participant registry (TOML; default: GATEWAY_REGISTRY)"
    )
    provision_parser.add_argument(
        "--credentials-dir",
        type=Path,
        default=Path("certs/amqp"),
        help="where the users' passwords are kept (default: certs/amqp)",
    )
    provision_parser.add_argument(
        "--user-prefix",
        default="",
        help="put this before every user name, to keep environments sharing a broker apart",
    )
    provision_parser.add_argument(
        "--json", action="store_true", help="print what was provisioned as JSON"
    )
    provision_parser.set_defaults(func=run_provision)


def run_provision(args: argparse.Namespace) -> int:
    settings = config.load()
    admin_url = (
        args.amqp_admin_url or settings.extra.get("GATEWAY_AMQP_ADMIN_URL") or DEFAULT_ADMIN_URL
    )
    vhost = args.vhost or vhost_of(settings.amqp_url)
    registry = Registry.load(args.registry or settings.registry)
    done = asyncio.run(
        provision(
            admin_url,
            vhost,
            registry.municipalities(),
            PasswordStore(args.credentials_dir),
            user_prefix=args.user_prefix,
        )
    )
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "user": item.grant.user,
                        "vhost": item.grant.vhost,
                        "queue": item.queue,
                        "configure": item.grant.configure,
                        "write": item.grant.write,
                        "read": item.grant.read,
                        "passwordFile": str(item.password_file),
                        "newPassword": item.created_password,
                    }
                    for item in done
                ],
                indent=2,
            )
        )
        return 0
    for item in done:
        note = "new password" if item.created_password else "password kept"
        print(
            f"{item.grant.user}: may read {item.queue} in vhost {item.grant.vhost!r} "
            f"({note}: {item.password_file})"
        )
    return 0

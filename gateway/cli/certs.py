"""``gateway certs``: make the development CA and its certificates, and revoke them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway import pki
from gateway.participants import Participant, Registry


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "certs",
        help="development certificates (CA, server, one per participant)",
        description="Development certificates for mutual TLS.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="write a CA, the server certificate and a client certificate per participant",
        description=(
            "Write ca.crt/ca.key, server.crt/server.key and <role>-<code>.crt/.key for every "
            "participant in the registry. Private keys are readable by their owner only."
        ),
    )
    init.add_argument(
        "--dir",
        type=Path,
        default=Path("certs/dev"),
        help="where to write the files (default: certs/dev)",
    )
    init.add_argument(
        "--registry",
        type=Path,
        default=None,
        help="participant registry (TOML; default: the packaged one)",
    )
    init.add_argument(
        "--days",
        type=int,
        default=pki.DEFAULT_DAYS,
        help=f"validity of every certificate in days (default: {pki.DEFAULT_DAYS})",
    )
    init.add_argument(
        "--server-name",
        action="append",
        dest="server_names",
        metavar="NAME",
        help=(
            "a host name or IP address for the server certificate; repeat for more "
            f"(default: {', '.join(pki.SERVER_NAMES)})"
        ),
    )
    replace = init.add_mutually_exclusive_group()
    replace.add_argument(
        "--force",
        action="store_true",
        help="replace an existing CA, and with it every certificate",
    )
    replace.add_argument(
        "--keep-existing",
        action="store_true",
        help="reuse an existing CA and write only the missing certificates",
    )
    init.set_defaults(func=run_init)

    revoke = actions.add_parser(
        "revoke",
        help="add participants' certificates to the CA's revocation list",
        description=(
            "Add the current certificate of each PARTICIPANT to the revocation list (earlier "
            "entries stay). Start the gateway with GATEWAY_CRL pointing at the list."
        ),
    )
    revoke.add_argument(
        "participants",
        nargs="+",
        metavar="PARTICIPANT",
        help="like gemeente-0637 or aanbieder-12345678",
    )
    revoke.add_argument(
        "--dir",
        type=Path,
        default=Path("certs/dev"),
        help="the directory of ca.crt/ca.key and the certificates (default: certs/dev)",
    )
    revoke.add_argument(
        "--crl", type=Path, default=None, help="the revocation list (default: DIR/crl.pem)"
    )
    revoke.add_argument(
        "--days",
        type=int,
        default=pki.CRL_DAYS,
        help=f"days until the list must be reissued (default: {pki.CRL_DAYS})",
    )
    revoke.set_defaults(func=run_revoke)


def run_init(args: argparse.Namespace) -> int:
    registry = Registry.load(args.registry)
    result = pki.init(
        args.dir,
        registry,
        days=args.days,
        server_names=args.server_names or pki.SERVER_NAMES,
        force=args.force,
        keep_existing=args.keep_existing,
    )
    for path in result.written:
        print(f"wrote {path}")
    if result.kept:
        print(f"kept {len(result.kept)} existing files in {args.dir}")
    print(f"{len(registry)} participants from {registry.source}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    participants = [Participant.parse(text) for text in args.participants]
    path, serials = pki.revoke(args.dir, participants, crl=args.crl, days=args.days)
    for participant in participants:
        print(f"revoked {participant} ({args.dir / f'{participant.key}.crt'})")
    print(f"{path} lists {len(serials)} certificates; valid for {args.days} days")
    print(f"start the gateway with GATEWAY_CRL={path}")
    return 0

"""``gridmap keys`` and ``gridmap users``: API keys for Open311 clients and staff accounts."""

from __future__ import annotations

import argparse
import getpass
import os

from gridmap import accounts
from gridmap.errors import GridMapError
from gridmap.model import ROLES
from gridmap.stores import open_store

__all__ = ["add_parser"]


def _keys_create(args: argparse.Namespace) -> None:
    key = accounts.create_key(open_store(args.store), args.role, days=args.days)
    print(key)


def _users_create(args: argparse.Namespace) -> None:
    password = os.environ.get("GRIDMAP_PASSWORD") or getpass.getpass(f"password for {args.name}: ")
    who = accounts.create_user(open_store(args.store), args.name, args.role, password)
    print(f"user {who.name} ({who.role}) created")


def _revoke(args: argparse.Namespace) -> None:
    store = open_store(args.store)
    if not store.delete_records("accounts", {"name": args.name}):
        raise GridMapError(f"no user or key named {args.name!r}")
    store.delete_records("sessions", {"account": args.name})
    print(f"{args.name} revoked")


def _list(args: argparse.Namespace) -> None:
    for row in open_store(args.store).records("accounts"):
        expires = row["expires_at"].isoformat() if row["expires_at"] is not None else "never"
        print(f"{row['name']:<24} {row['kind']:<5} {row['role']:<11} expires {expires}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``keys`` and ``users`` to the ``gridmap`` command."""
    keys = sub.add_parser("keys", help="API keys (Open311 clients, integrations)")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("create", help="create a key and print it (only its hash is kept)")
    p.add_argument("--role", choices=ROLES, default="citizen")
    p.add_argument("--days", type=float, help="the key expires after this many days")
    p.set_defaults(run=_keys_create)
    p = actions.add_parser("revoke", help="revoke a key by its gm_... name")
    p.add_argument("name")
    p.set_defaults(run=_revoke)
    p = actions.add_parser("list", help="list users and keys")
    p.set_defaults(run=_list)

    users = sub.add_parser("users", help="staff accounts of the web service")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser(
        "create", help="create a user (password from $GRIDMAP_PASSWORD or a prompt)"
    )
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True)
    p.set_defaults(run=_users_create)
    p = actions.add_parser("delete", help="delete a user and end their sessions")
    p.add_argument("name")
    p.set_defaults(run=_revoke)

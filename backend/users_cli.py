"""``python -m backend users ...``: manage accounts from the server's own machine.

    users add NAME [--admin] [--password-stdin]   the first admin switches accounts on
    users list
    users disable NAME | enable NAME | delete NAME
    users role NAME admin|member
    users passwd NAME [--password-stdin]

The password is read from standard input with ``--password-stdin`` (one line), else
asked for twice on the terminal; it never appears in the arguments, the output or the log.
Changes reach a running server at once (it reads the same database on every request).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import TextIO

from backend.config import SettingsError, load_settings
from backend.services.accounts import AccountError, Accounts
from backend.storage.account_store import ACCOUNTS_FILE, AccountStore, AccountsUnreadable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend users", description="Manage Atelier's accounts.")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a user (the first admin turns accounts on)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an admin (default: a member)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sub.add_parser("list", help="list the users")
    for name, text in (("disable", "disable a user"), ("enable", "enable a user"), ("delete", "delete a user")):
        sub.add_parser(name, help=text).add_argument("name")
    role = sub.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=("admin", "member"))
    passwd = sub.add_parser("passwd", help="set a user's password (ends their sessions)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    return parser


def _password(from_stdin: bool, stdin: TextIO) -> str:
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    if not stdin.isatty():
        raise AccountError(2, "usage", "give --password-stdin to read the password from standard input")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError(2, "usage", "the passwords differ")
    return first


def run(argv: Sequence[str], stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(list(argv))
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"atelier: {exc}", file=sys.stderr)
        return 2
    try:
        store = AccountStore(settings.data_dir / ACCOUNTS_FILE)
    except AccountsUnreadable as exc:
        print(f"atelier: {exc}", file=sys.stderr)
        return 1
    accounts = Accounts(store)
    try:
        if args.command == "add":
            role = "admin" if args.admin else "member"
            if not store.has_users() and role != "admin":
                raise AccountError(2, "usage", "the first user must be an admin: add --admin")
            user = accounts.create_user(args.name, _password(args.password_stdin, stdin), role)
            print(f"added {user.name} ({user.role})", file=out)
        elif args.command == "list":
            for user in accounts.users():
                state = "disabled" if user.disabled else "enabled"
                print(f"{user.name}\t{user.role}\t{state}\t{user.created_at}", file=out)
        elif args.command in ("disable", "enable"):
            user = accounts.user_named(args.name)
            accounts.update_user(user.id, disabled=args.command == "disable")
            print(f"{args.command}d {user.name}", file=out)
        elif args.command == "delete":
            user = accounts.user_named(args.name)
            accounts.delete_user(user.id)
            print(f"deleted {user.name}", file=out)
        elif args.command == "role":
            user = accounts.user_named(args.name)
            accounts.update_user(user.id, role=args.role)
            print(f"{user.name} is now {args.role}", file=out)
        elif args.command == "passwd":
            user = accounts.user_named(args.name)
            accounts.update_user(user.id, password=_password(args.password_stdin, stdin))
            print(f"password of {user.name} changed", file=out)
    except AccountError as exc:
        print(f"atelier: {exc.message}", file=sys.stderr)
        return 2 if exc.status == 2 else 1
    finally:
        store.close()
    return 0

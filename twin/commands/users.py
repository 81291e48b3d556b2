"""``cnetwin users …``: the dashboard's users file (:mod:`twin.users`).

``cnetwin users add NAME --role operator --file users.toml`` asks for the password twice
(or reads one line from standard input with ``--password-stdin``) and stores its Argon2 hash;
``--no-password`` adds a user who can only come through a trusted reverse proxy.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from twin.errors import CnetwinError

FILE_HELP = "users file (default: the users_file setting)"


def add_commands(commands: Any) -> None:
    """Add ``users`` and its subcommands to the ``cnetwin`` subparsers ``commands``."""
    from twin.users import MIN_PASSWORD_LENGTH, ROLES

    users = commands.add_parser(
        "users",
        help="manage who may sign in to the dashboard",
        description=(
            "The dashboard asks for a user name and password once users_file is set "
            "(CNETWIN_USERS_FILE). Roles: viewer (every page, read only), operator (also "
            "silences and what-if runs), admin."
        ),
    )
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a user or replace one's role and password",
        description=(
            f"Add NAME with ROLE; the password (at least {MIN_PASSWORD_LENGTH} characters) "
            "is asked for twice and only its Argon2 hash is written. The file is created with "
            "mode 0600 if it does not exist."
        ),
    )
    add.add_argument("name", help="user name: letters, digits and ._@-")
    add.add_argument("--role", choices=ROLES, default="viewer", help="viewer (default)")
    how = add.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    how.add_argument(
        "--no-password",
        action="store_true",
        help="no password: the user signs in through the trusted proxy header only",
    )
    remove = actions.add_parser("remove", help="remove a user (ends their sessions)")
    remove.add_argument("name")
    listing = actions.add_parser("list", help="list users and roles (never the hashes)")
    for parser in (add, remove, listing):
        parser.add_argument("--file", type=Path, help=FILE_HELP)
        parser.add_argument("--config", type=Path, help="TOML settings file")
    add.set_defaults(run=run_add)
    remove.set_defaults(run=run_remove)
    listing.set_defaults(run=run_list)


def users_file(args: argparse.Namespace) -> Path:
    """``--file``, else the users_file setting; CnetwinError if neither is given."""
    from twin.config import load_settings

    path = args.file or load_settings(args.config).users_file
    if path is None:
        raise CnetwinError("name the users file: --file users.toml (or set users_file)")
    return Path(path)


def run_add(args: argparse.Namespace) -> int:
    """``cnetwin users add``."""
    from twin.users import add_user

    path = users_file(args)
    password: str | None = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not args.no_password:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise CnetwinError("the two passwords differ; nothing was written")
    user = add_user(path, args.name, args.role, password)
    print(f"{user.name} ({user.role}) written to {path}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """``cnetwin users remove``."""
    from twin.users import remove_user

    path = users_file(args)
    remove_user(path, args.name)
    print(f"{args.name} removed from {path}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """``cnetwin users list``."""
    from twin.users import read_users

    for user in read_users(users_file(args)).values():
        way = "password" if user.password_hash else "proxy only"
        print(f"{user.name:24} {user.role:9} {way}")
    return 0

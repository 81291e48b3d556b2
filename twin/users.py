"""The users file: who may sign in to the dashboard, with which role.

A TOML file written by ``cnetwin users add`` (never edited by hand for passwords)::

    [users.alice]
    role = "operator"
    password = "$argon2id$v=19$m=65536,t=3,p=4$…"

Passwords are kept only as Argon2id hashes (argon2-cffi, its default parameters). A user
without ``password`` cannot sign in with a password: such a user exists for a trusted reverse
proxy that authenticates people itself and names them in a header.

Roles, each including the ones before it: ``viewer`` (every page, read only), ``operator``
(also silences and what-if runs), ``admin`` (everything).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from twin.errors import ConfigError

ROLES = ("viewer", "operator", "admin")
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD_LENGTH = 12
"""Shortest password ``cnetwin users add`` accepts [characters]."""

_HASHER = PasswordHasher()


@dataclass(frozen=True)
class User:
    """One user of the dashboard: a name, a role (ROLES) and an Argon2 hash (or "")."""

    name: str
    role: str
    password_hash: str = ""

    def allows(self, role: str) -> bool:
        """Whether this user holds ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def verify(self, password: str) -> bool:
        """Whether ``password`` is this user's password (always False without a hash)."""
        if not self.password_hash:
            return False
        try:
            return _HASHER.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``; ConfigError if it is shorter than the minimum."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def read_users(path: Path) -> dict[str, User]:
    """The users in ``path`` by name; ConfigError naming the problem if it is malformed."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"users file {path} does not exist: create it with `cnetwin users add`"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"users file {path} cannot be read: {exc}") from None
    users: dict[str, User] = {}
    for name, entry in (data.get("users") or {}).items():
        if not isinstance(entry, dict) or entry.get("role") not in ROLES:
            raise ConfigError(f"users file {path}: user {name!r} needs role = one of {ROLES}")
        users[name] = User(name, entry["role"], str(entry.get("password") or ""))
    return users


def write_users(path: Path, users: dict[str, User]) -> None:
    """Write ``users`` to ``path`` (mode 0600), replacing the file atomically."""
    lines = []
    for user in sorted(users.values(), key=lambda u: u.name):
        lines += [f'[users."{user.name}"]', f'role = "{user.role}"']
        if user.password_hash:
            lines.append(f'password = "{user.password_hash}"')
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines))
    partial.replace(path)


def add_user(path: Path, name: str, role: str, password: str | None) -> User:
    """Add or replace user ``name`` in the users file at ``path`` (created if missing);
    ``password`` None makes a user who can only come through a trusted proxy."""
    if not USER_NAME.fullmatch(name):
        raise ConfigError(f"user name {name!r}: letters, digits and ._@- only, at most 64")
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: one of {', '.join(ROLES)}")
    users = read_users(path) if path.exists() else {}
    users[name] = User(name, role, hash_password(password) if password is not None else "")
    write_users(path, users)
    return users[name]


def remove_user(path: Path, name: str) -> None:
    """Remove user ``name`` from the users file; ConfigError if there is no such user."""
    users = read_users(path)
    if users.pop(name, None) is None:
        raise ConfigError(f"no user {name!r} in {path}")
    write_users(path, users)

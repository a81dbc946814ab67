"""Rater accounts for the app (Gradio auth) and the rule that a non-loopback bind needs them.

Accounts live in `$IDIOLECT_HOME/raters.json` as salted scrypt hashes, never as passwords:
`{"raters": {"ann": {"salt": "...", "hash": "..."}}}`. `idiolect arena rater add NAME`
writes it. A server that has no account yet (a container's first start) gets an "owner"
account whose generated password is printed once (`idiolect arena rater init`); nothing
serves beyond loopback without a login.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import ConfigError

RATERS_FILE = "raters.json"
AuthFn = Callable[[str, str], bool]


def _hash(password: str, salt: bytes) -> str:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1).hex()


def raters_path(home: Path) -> Path:
    return Path(home) / RATERS_FILE


def load_raters(home: Path) -> dict[str, dict[str, str]]:
    """Read the rater table from the home folder ({} when there is none).

    Raises:
        ConfigError: the file exists but is not the expected JSON.

    """
    p = raters_path(home)
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text("utf-8"))
        raters = data["raters"]
        if not isinstance(raters, dict) or not all({"salt", "hash"} <= set(v) for v in raters.values()):
            raise ValueError("each rater needs salt and hash")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{p}: not a raters file ({e}); expected {{\"raters\": {{name: {{salt, hash}}}}}}") from e
    return raters


def add_rater(home: Path, name: str, password: str) -> None:
    """Create or replace a rater account (the file is owner-readable only)."""
    name = name.strip()
    if not name or any(c.isspace() for c in name):
        raise ConfigError(f"rater name {name!r} must be one word")
    if len(password) < 8:
        raise ConfigError("a rater password needs at least 8 characters")
    raters = load_raters(home)
    salt = secrets.token_bytes(16)
    raters[name] = {"salt": salt.hex(), "hash": _hash(password, salt)}
    p = raters_path(home)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"raters": raters}, indent=2), "utf-8")
    p.chmod(0o600)


def remove_rater(home: Path, name: str) -> bool:
    """Delete a rater account; False when there was none of that name."""
    raters = load_raters(home)
    if raters.pop(name, None) is None:
        return False
    raters_path(home).write_text(json.dumps({"raters": raters}, indent=2), "utf-8")
    return True


def make_auth(raters: dict[str, dict[str, str]]) -> AuthFn | None:
    """Build a Gradio `auth` callable checking name and password, or None when there are no raters."""
    if not raters:
        return None
    table = dict(raters)

    def check(username: str, password: str) -> bool:
        rec = table.get(username)
        if rec is None:
            return False
        return hmac.compare_digest(_hash(password, bytes.fromhex(rec["salt"])), rec["hash"])

    return check


def auth_from_home(home: Path) -> AuthFn | None:
    """Build the Gradio auth for the raters configured under `home` (None when there are none)."""
    return make_auth(load_raters(home))


OWNER = "owner"


def ensure_owner_account(home: Path, *, say: Callable[[str], None] = print) -> str | None:
    """Create the "owner" account with a generated password when there is no account at all.

    The password is shown once, through `say` (the container's log); only its hash is kept.
    Returns it, or None when accounts already existed (nothing is changed then).
    """
    if load_raters(home):
        return None
    password = secrets.token_urlsafe(15)
    add_rater(home, OWNER, password)
    say(f"idiolect: no rater account existed, so one was created. Log in as '{OWNER}' with the password "
        f"{password} (shown only this once; replace it with `idiolect arena rater add {OWNER}`).")
    return password


def require_auth(home: Path, host: str, auth: Any = None) -> Any:
    """Return the login the app must use on `host`: `auth`, else the accounts under `home`.

    Raises:
        ConfigError: `host` reaches beyond this machine and there is no account (see check_bind).

    """
    auth = auth or auth_from_home(home)
    check_bind(host, auth)
    return auth


def is_loopback(host: str) -> bool:
    """Tell whether `host` is an address only this machine can reach."""
    h = (host or "").strip().strip("[]")
    if h in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: Any) -> None:
    """Refuse to serve the app beyond this machine without rater accounts.

    Raises:
        ConfigError: `host` is not a loopback address and `auth` is empty.

    """
    if is_loopback(host) or auth:
        return
    raise ConfigError(
        f"refusing to serve the app on {host!r} without rater accounts: anyone who can reach it "
        "could read your data and vote. Add one with `idiolect arena rater add NAME`, or bind 127.0.0.1"
    )

"""Editing the owner's `$IDIOLECT_HOME/idiolect.toml` without clobbering it.

tomlkit keeps every other key, table and comment as the owner wrote them; only the tables
named are replaced. The new file is written next to the old one and moved over it, so a
failure leaves the old file whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import ConfigError


def settings_path(home: Path) -> Path:
    return Path(home) / "idiolect.toml"


def replace_tables(path: Path, tables: dict[str, dict[str, Any]]) -> Path:
    """Set each named top-level table of the TOML file at `path` to the given mapping; returns the path.

    Raises:
        ConfigError: the existing file is not valid TOML (it is left untouched).

    """
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); nothing was changed",
                          hint="fix or move the file, then try again") from None
    for name, values in tables.items():
        table = tomlkit.table()
        for k, v in values.items():
            table[k] = v
        doc[name] = table
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)
    return path


def apply_domains(settings: Any, suggestions: list[dict[str, Any]]) -> Path:
    """Write suggested domains (name, share, keywords) as `[domains]` and `[domain_keywords]`.

    The running `settings` take the new values too, so the app uses them without a restart.

    Raises:
        ConfigError: no domains, a nameless domain, a negative share, or all shares zero.

    """
    domains: dict[str, float] = {}
    keywords: dict[str, list[str]] = {}
    for s in suggestions:
        name = str(s.get("name") or "").strip()
        if not name:
            raise ConfigError("every domain needs a name")
        try:
            share = float(s.get("share") or 0)
        except (TypeError, ValueError):
            raise ConfigError(f"domain {name!r}: share {s.get('share')!r} is not a number") from None
        if share < 0:
            raise ConfigError(f"domain {name!r}: share must not be negative")
        kws = s.get("keywords") or []
        if isinstance(kws, str):
            kws = kws.replace(";", ",").split(",")
        domains[name] = int(share) if share == int(share) else share
        keywords[name] = [str(k).strip().lower() for k in kws if str(k).strip()]
    if not domains or not sum(domains.values()):
        raise ConfigError("no domains to apply: at least one needs a positive share")
    path = replace_tables(settings_path(settings.home), {"domains": domains, "domain_keywords": keywords})
    settings.domains = {k: float(v) for k, v in domains.items()}
    settings.domain_keywords = keywords
    return path


def env_overrides(names: tuple[str, ...] = ("IDIOLECT_DOMAINS", "IDIOLECT_DOMAIN_KEYWORDS")) -> list[str]:
    """Environment variables that outrank idiolect.toml for these settings (worth a warning)."""
    return [n for n in names if os.environ.get(n)]

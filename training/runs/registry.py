"""The model registry: base models, versioned adapters (voice-v1, voice-v2 …), lineage, champion.

Torch-free on purpose: the CLI, the app and the arena read and write the registry without
loading any training library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, NotFound
from core.schemas import ModelKind, ModelRecord

if TYPE_CHECKING:
    from core.store import Store

CHAMPION_KEY = "champion"
RESULT_FILE = "training_result.json"  # written by training/sft.py and dpo.py next to the adapter
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


def _versions_in_use(store: Store, prefix: str) -> list[int]:
    pat = re.compile(rf"^{re.escape(prefix)}-v(\d+)$")
    return [int(m.group(1)) for r in store.registry.list_models() if (m := pat.match(r.name))]


def next_adapter_name(store: Store, prefix: str = "voice") -> str:
    """Reserve and return the next adapter name, `<prefix>-v<N>`.

    The name is reserved when issued: it is never handed out again, even if the adapter is
    never registered or is later deleted, because vLLM can serve stale cached blocks for a
    re-used adapter name.

    Args:
        store: the open Store.
        prefix: lower-case name stem ("voice").

    Returns:
        A fresh name such as "voice-v3".

    """
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(f"adapter prefix {prefix!r} must be lower-case letters, digits, '-' or '_'")
    n = store.registry.reserve_version(prefix, _versions_in_use(store, prefix))
    return f"{prefix}-v{n}"


def read_training_result(path: str | Path) -> dict[str, Any]:
    """Return the `training_result.json` a training script left in an adapter dir ({} if absent)."""
    f = Path(path) / RESULT_FILE
    if not f.exists():
        return {}
    try:
        return json.loads(f.read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{f}: not valid JSON ({e})") from e


def register_base(store: Store, name: str, base_model: str, *, path: str | None = None,
                  endpoint: str | None = None, served_name: str | None = None,
                  config: dict[str, Any] | None = None) -> ModelRecord:
    """Record (or update) a base model, e.g. "qwen3-8b" -> Qwen/Qwen3-8B.

    Args:
        store: the open Store.
        name: registry name used by the arena and the CLI.
        base_model: Hugging Face id or local path of the weights.
        path: local weights path when different from `base_model`.
        endpoint: OpenAI-compatible base URL serving it, once served.
        served_name: the `model` field that endpoint expects.
        config: free-form extras (family, preset name …).

    """
    rec = ModelRecord(name=name, kind=ModelKind.base, base_model=base_model, path=path,
                      endpoint=endpoint, served_name=served_name, config=dict(config or {}))
    return store.registry.upsert_model(rec)


def register_adapter(
    store: Store,
    *,
    path: str | Path,
    base_model: str | None = None,
    name: str | None = None,
    prefix: str = "voice",
    parent: str | None = None,
    snapshot_id: str | None = None,
    preference_ids: Iterable[str] | None = None,
    method: str | None = None,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    status: str = "ready",
) -> ModelRecord:
    """Register a trained adapter under a new versioned name, with its lineage.

    Anything not passed is read from the `training_result.json` that the training script
    wrote into `path` (base model, method, parent, snapshot, preference ids, metrics, config).

    Args:
        store: the open Store.
        path: the adapter directory (adapter_config.json + weights).
        base_model: the base model the adapter was trained on.
        name: a name from `next_adapter_name`; one is reserved when omitted.
        prefix: name stem when `name` is omitted.
        parent: the adapter this one was trained from (DPO policy and reference), if any.
        snapshot_id: the dataset snapshot used.
        preference_ids: ids of the preference pairs used (DPO).
        method: "sft" or "dpo".
        metrics: final train/eval metrics.
        config: the resolved training config.
        status: "ready" once servable.

    Returns:
        The stored ModelRecord.

    """
    p = Path(path)
    if not p.is_dir() or not (p / "adapter_config.json").exists():
        raise ConfigError(f"{p}: not an adapter directory (no adapter_config.json)")
    result = read_training_result(p)
    base = base_model or result.get("base_model")
    if not base:
        raise ConfigError(f"{p}: base model unknown; pass base_model=")
    parent = parent if parent is not None else result.get("parent_name")
    if parent is not None and store.registry.get_model(parent) is None:
        raise NotFound(f"parent adapter {parent!r} is not in the registry")
    rec = ModelRecord(
        name=name or next_adapter_name(store, prefix),
        kind=ModelKind.adapter,
        base_model=base,
        path=str(p.resolve()),
        parent=parent,
        snapshot_id=snapshot_id or result.get("snapshot_id"),
        preference_ids=list(preference_ids if preference_ids is not None
                            else result.get("preference_ids", [])),
        method=method or result.get("method"),
        status=status,
        metrics=dict(metrics if metrics is not None else result.get("metrics", {})),
        config=dict(config if config is not None else result.get("config", {})),
    )
    return store.registry.add_model(rec)


def lineage(store: Store, name: str) -> list[ModelRecord]:
    """Return the adapter and its ancestors, newest first (voice-v3, voice-v2, voice-v1)."""
    out: list[ModelRecord] = []
    seen: set[str] = set()
    current: str | None = name
    while current is not None and current not in seen:
        seen.add(current)
        rec = store.registry.get_model(current)
        if rec is None:
            if not out:
                raise NotFound(f"no model named {current!r} in the registry")
            break  # an ancestor was deleted: the chain ends there
        out.append(rec)
        current = rec.parent
    return out


def adapters(store: Store, *, base_model: str | None = None, status: str | None = "ready") -> list[ModelRecord]:
    """Return registered adapters, oldest first, optionally for one base model."""
    rows = store.registry.list_models(kind=ModelKind.adapter, status=status)
    return [r for r in rows if base_model is None or r.base_model == base_model]


def set_endpoint(store: Store, name: str, endpoint: str | None, served_name: str | None) -> ModelRecord:
    """Record where a model is served (None, None once it is no longer served)."""
    return store.registry.update_model(name, endpoint=endpoint, served_name=served_name)


def clear_endpoints(store: Store, endpoint: str) -> list[str]:
    """Mark every model served at `endpoint` as no longer served (its server stopped); returns their names.

    The arena pairs only models with an endpoint, so a stopped server's models leave it at once.
    """
    def root(url: str) -> str:
        return url.rstrip("/").removesuffix("/v1")

    gone = [r.name for r in store.registry.list_models() if r.endpoint and root(r.endpoint) == root(endpoint)]
    for name in gone:
        set_endpoint(store, name, None, None)
    return gone


def set_status(store: Store, name: str, status: str) -> ModelRecord:
    """Change a model's status ("ready", "serving", "retired" …)."""
    return store.registry.update_model(name, status=status)


def champion(store: Store) -> ModelRecord | None:
    """Return the current champion (the adapter new ones must beat), or None."""
    value = store.kv.get(CHAMPION_KEY)
    if not value or not value.get("name"):
        return None
    return store.registry.get_model(value["name"])


def set_champion(store: Store, name: str) -> ModelRecord:
    """Make `name` the champion; it must be in the registry."""
    rec = store.registry.require_model(name)
    previous = (store.kv.get(CHAMPION_KEY) or {}).get("name")
    store.kv.put(CHAMPION_KEY, {"name": name, "previous": previous})
    return rec


def delete_adapter(store: Store, name: str) -> None:
    """Remove an adapter from the registry (its name is never issued again)."""
    rec = store.registry.require_model(name)
    if rec.kind != ModelKind.adapter:
        raise ConfigError(f"{name!r} is a {rec.kind.value}, not an adapter")
    if (store.kv.get(CHAMPION_KEY) or {}).get("name") == name:
        store.kv.put(CHAMPION_KEY, {"name": None, "previous": name})
    store.registry.delete_model(name)

"""Reviewing examples, shared by `idiolect examples …` and the Dataset tab (no Gradio here).

Ids can be given whole or as a unique prefix (the 8 characters the tables show). Bulk actions
work on a filter (status, domain, origin, search text); callers show the matching count and
ask before applying it. Every change goes through `ExampleStore.update`, so it lands in the
example's edit log with who made it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import ConfigError, NotFound
from core.schemas import Example, ExampleOrigin, ExampleStatus

FIELDS = ("prompt", "reasoning", "response", "system", "domain", "tags")
MIN_PREFIX = 4
ANY = ("", "any", None)


@dataclass(frozen=True)
class Filter:
    """Which examples a listing or a bulk action covers; empty fields match everything."""

    status: str | None = None
    domain: str | None = None
    origin: str | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        for name, enum in (("status", ExampleStatus), ("origin", ExampleOrigin)):
            value = getattr(self, name)
            if value not in ANY and value not in {m.value for m in enum}:
                raise ConfigError(f"unknown {name} {value!r}; choose from {', '.join(m.value for m in enum)}")

    def is_empty(self) -> bool:
        return all(v in ANY or not str(v).strip() for v in asdict(self).values())

    def describe(self) -> str:
        parts = [f"{k} {v!r}" if k == "search" else f"{k}={v}" for k, v in asdict(self).items()
                 if v not in ANY and str(v).strip()]
        return ", ".join(parts) or "every example"

    def query(self) -> dict[str, Any]:
        """Keyword arguments for `ExampleStore.list`."""
        clean = {k: (None if v in ANY or not str(v).strip() else str(v).strip()) for k, v in asdict(self).items()}
        return {"status": clean["status"], "domain": clean["domain"], "origin": clean["origin"],
                "query": clean["search"]}


def matching(store: Any, f: Filter, *, limit: int | None = None) -> list[Example]:
    """Examples matching `f`, newest first."""
    return store.examples.list(**f.query(), limit=limit)


def _ids_with_prefix(store: Any, prefix: str, cap: int = 6) -> list[str]:
    # One indexed primary-key range scan; the store has no prefix lookup of its own.
    from sqlalchemy import select

    from core.db import ExampleRow

    with store.session() as s:
        return list(s.scalars(select(ExampleRow.id).where(ExampleRow.id.startswith(prefix, autoescape=True))
                              .order_by(ExampleRow.id).limit(cap)))


def resolve_id(store: Any, ref: str) -> str:
    """Return the full example id for a full id or a unique prefix.

    Raises:
        NotFound: nothing has that id or prefix.
        ConfigError: the prefix is too short or matches several examples.

    """
    ref = (ref or "").strip()
    if not ref:
        raise ConfigError("empty example id")
    try:
        return store.examples.get(ref).id
    except NotFound:
        pass
    if len(ref) < MIN_PREFIX:
        raise ConfigError(f"example id {ref!r} is too short: give at least {MIN_PREFIX} characters",
                          hint="`idiolect examples list` shows the ids")
    found = _ids_with_prefix(store, ref)
    if not found:
        raise NotFound(f"no example with id or prefix {ref!r}", hint="`idiolect examples list` shows the ids")
    if len(found) > 1:
        shown = ", ".join(i[:12] for i in found[:5])
        raise ConfigError(f"example prefix {ref!r} matches several examples ({shown}…)",
                          hint="give more characters of the id")
    return found[0]


def resolve_ids(store: Any, refs: Iterable[str]) -> list[str]:
    """Full ids for every reference, in order, without duplicates (all resolved before any change)."""
    out: list[str] = []
    for r in refs:
        for part in str(r).replace(",", " ").split():
            full = resolve_id(store, part)
            if full not in out:
                out.append(full)
    return out


def set_status(store: Any, ids: Iterable[str], status: str, *, editor: str = "owner") -> int:
    """Approve or reject examples by full id; returns how many changed status."""
    st = ExampleStatus(status)
    changed = 0
    for i in ids:
        before = store.examples.get(i).status
        store.examples.update(i, editor=editor, status=st)
        changed += before != st
    return changed


def edit(store: Any, example_id: str, field: str, text: str, *, editor: str = "owner") -> Example:
    """Replace one field of an example (logged in its edit log).

    Raises:
        ConfigError: unknown field, or an empty prompt, response or domain.

    """
    if field not in FIELDS:
        raise ConfigError(f"cannot edit {field!r}; editable fields: {', '.join(FIELDS)}")
    value: Any = text
    if field == "tags":
        value = [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]
    elif field in ("prompt", "response", "domain") and not text.strip():
        raise ConfigError(f"the {field} cannot be empty")
    elif field == "domain":
        value = text.strip()
    return store.examples.update(example_id, editor=editor, **{field: value})


def progress(store: Any) -> dict[str, int]:
    """Reviewed (approved + rejected) out of all examples, with the counts per status."""
    counts = store.examples.counts().get("status", {})
    approved, rejected, pending = (counts.get(k, 0) for k in ("approved", "rejected", "pending"))
    return {"reviewed": approved + rejected, "total": approved + rejected + pending, "approved": approved,
            "rejected": rejected, "pending": pending}


def progress_line(p: dict[str, int]) -> str:
    return (f"{p['reviewed']} of {p['total']} reviewed ({p['approved']} approved, {p['rejected']} rejected, "
            f"{p['pending']} pending)")


def _when(dt: Any) -> str:
    return dt.strftime("%Y-%m-%d") if dt is not None else "undated"


def sources(store: Any, ex: Example, *, chars: int = 1200) -> list[dict[str, Any]]:
    """Return the example's source messages in readable form: conversation title, date, the text and what it answered.

    A source that is gone (re-imported or deleted since) is listed as missing, not dropped.
    """
    titles: dict[str, str] = {}
    out = []
    for mid in ex.source_message_ids:
        try:
            m = store.conversations.message(mid)
        except NotFound:
            out.append({"message_id": mid, "missing": True})
            continue
        if m.conversation_id not in titles:
            try:
                titles[m.conversation_id] = store.conversations.conversation(m.conversation_id).get("title") or ""
            except NotFound:
                titles[m.conversation_id] = ""
        before = None
        if m.parent_id:
            try:
                parent = store.conversations.message(m.parent_id)
                before = {"role": parent.role.value, "text": parent.text[-chars:]}
            except NotFound:
                before = None
        out.append({"message_id": mid, "conversation_id": m.conversation_id,
                    "conversation_title": titles[m.conversation_id] or "(untitled conversation)",
                    "date": _when(m.created_at), "role": m.role.value, "position": m.position,
                    "text": (m.own_text or m.text)[:chars], "answered": before})
    return out


def origin_line(ex: Example) -> str:
    """One line on how the example was made: origin, model, prompt version, bulk run."""
    bits = [f"origin {ex.origin.value}"]
    if ex.model:
        bits.append(f"model {ex.model}")
    if ex.prompt_version:
        bits.append(f"prompt v{ex.prompt_version}")
    if ex.run_id:
        bits.append(f"run {ex.run_id}")
    bits.append(f"created {_when(ex.created_at)}")
    return " · ".join(bits)


def edit_lines(ex: Example) -> list[str]:
    """Return the edit log as readable lines (who, when, which fields; status changes spelled out)."""
    lines = []
    for e in ex.edits:
        changes = e.get("changes") or {}
        what = []
        for k, v in changes.items():
            if k == "status":
                what.append(f"{v.get('before')} → {v.get('after')}")
            else:
                what.append(f"edited {k}")
        lines.append(f"{str(e.get('at', ''))[:16].replace('T', ' ')} {e.get('by', '?')}: {', '.join(what)}")
    return lines

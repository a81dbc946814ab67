"""Examples, preference pairs and bulk-run bookkeeping."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from core.db import BulkRunRow, ExampleRow, PreferenceRow
from core.errors import NotFound
from core.schemas import (
    Example,
    ExampleOrigin,
    ExampleStatus,
    PreferencePair,
    Scores,
    content_hash,
    utcnow,
)
from core.store.sql import insert_ignore

if TYPE_CHECKING:
    from core.store import Store

EDITABLE = ("prompt", "reasoning", "response", "system", "domain", "tags")


def _to_example(r: ExampleRow) -> Example:
    return Example(
        id=r.id, prompt=r.prompt, reasoning=r.reasoning, response=r.response, system=r.system,
        domain=r.domain, tags=list(r.tags or []), status=ExampleStatus(r.status),
        origin=ExampleOrigin(r.origin), source_message_ids=list(r.source_message_ids or []),
        conversation_id=r.conversation_id, model=r.model, prompt_version=r.prompt_version,
        scores=Scores(**(r.scores or {})), edits=list(r.edits or []), run_id=r.run_id, key=r.key,
        created_at=r.created_at, updated_at=r.updated_at,
    )


def _to_row(e: Example) -> ExampleRow:
    return ExampleRow(
        id=e.id or str(uuid.uuid4()), prompt=e.prompt, reasoning=e.reasoning, response=e.response,
        system=e.system, domain=e.domain, tags=list(e.tags), status=e.status.value,
        origin=e.origin.value, source_message_ids=list(e.source_message_ids),
        conversation_id=e.conversation_id, model=e.model, prompt_version=e.prompt_version,
        scores=e.scores.model_dump(), edits=list(e.edits), run_id=e.run_id, key=e.key,
        fingerprint=e.fingerprint(), created_at=e.created_at, updated_at=e.updated_at,
    )


def _to_pair(r: PreferenceRow) -> PreferencePair:
    return PreferencePair(
        id=r.id, prompt=r.prompt, system=r.system, chosen=r.chosen, rejected=r.rejected,
        chosen_reasoning=r.chosen_reasoning, rejected_reasoning=r.rejected_reasoning,
        origin=r.origin, battle_id=r.battle_id, conversation_id=r.conversation_id,  # type: ignore[arg-type]
        meta=dict(r.meta or {}), created_at=r.created_at,
    )


class ExampleStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    # ---- examples
    def add(self, example: Example) -> Example:
        """Store one example; returns it with its id."""
        row = _to_row(example)
        with self._store.session() as s:
            s.add(row)
        return _to_example(row)

    def add_keyed(self, example: Example) -> tuple[Example, bool]:
        """Store an example whose `key` is an idempotency key; (stored, created).

        A second call with the same key returns the first example untouched, which is what
        makes bulk runs resumable without duplicates.
        """
        if not example.key:
            raise ValueError("add_keyed needs example.key")
        existing = self.by_key(example.key)
        if existing is not None:
            return existing, False
        try:
            return self.add(example), True
        except IntegrityError:  # a concurrent writer won the race for this key
            found = self.by_key(example.key)
            assert found is not None
            return found, False

    def by_key(self, key: str) -> Example | None:
        with self._store.session() as s:
            row = s.scalar(select(ExampleRow).where(ExampleRow.key == key))
            return _to_example(row) if row else None

    def keys_for_run(self, run_id: str) -> set[str]:
        with self._store.session() as s:
            return {k for k in s.scalars(select(ExampleRow.key).where(ExampleRow.run_id == run_id)) if k}

    def get(self, example_id: str) -> Example:
        with self._store.session() as s:
            row = s.get(ExampleRow, example_id)
            if row is None:
                raise NotFound(f"no example with id {example_id!r}")
            return _to_example(row)

    def list(
        self,
        *,
        status: ExampleStatus | str | None = None,
        domain: str | None = None,
        origin: ExampleOrigin | str | None = None,
        query: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Example]:
        """Examples, newest first, filtered."""
        stmt = select(ExampleRow).order_by(ExampleRow.created_at.desc(), ExampleRow.id)
        if status:
            stmt = stmt.where(ExampleRow.status == ExampleStatus(status).value)
        if domain:
            stmt = stmt.where(ExampleRow.domain == domain)
        if origin:
            stmt = stmt.where(ExampleRow.origin == ExampleOrigin(origin).value)
        if run_id:
            stmt = stmt.where(ExampleRow.run_id == run_id)
        if query:
            like = f"%{query}%"
            stmt = stmt.where(or_(ExampleRow.prompt.ilike(like), ExampleRow.response.ilike(like),
                                  ExampleRow.reasoning.ilike(like)))
        stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._store.session() as s:
            return [_to_example(r) for r in s.scalars(stmt)]

    def iter_all(self, batch: int = 1000) -> Iterator[Example]:
        offset = 0
        while True:
            page = self.list(limit=batch, offset=offset)
            if not page:
                return
            yield from page
            offset += batch

    def update(self, example_id: str, *, editor: str = "owner", **changes: Any) -> Example:
        """Edit fields; every change is appended to the example's edit log (before → after)."""
        bad = set(changes) - set(EDITABLE) - {"scores", "status"}
        if bad:
            raise ValueError(f"cannot edit {sorted(bad)}; editable fields are {list(EDITABLE)}")
        with self._store.session() as s:
            row = s.get(ExampleRow, example_id)
            if row is None:
                raise NotFound(f"no example with id {example_id!r}")
            diff = {}
            for k, v in changes.items():
                if k == "scores":
                    row.scores = v.model_dump() if isinstance(v, Scores) else dict(v)
                    continue
                if k == "status":
                    v = ExampleStatus(v).value
                old = getattr(row, k)
                if old != v:
                    diff[k] = {"before": old, "after": v}
                    setattr(row, k, v)
            if diff:
                row.edits = [*(row.edits or []), {"by": editor, "at": utcnow().isoformat(), "changes": diff}]
                row.fingerprint = content_hash(row.prompt, row.reasoning, row.response)
            row.updated_at = utcnow()
            s.flush()
            return _to_example(row)

    def set_status(self, ids: Iterable[str], status: ExampleStatus | str, editor: str = "owner") -> int:
        n = 0
        for i in ids:
            self.update(i, editor=editor, status=ExampleStatus(status))
            n += 1
        return n

    def delete(self, example_id: str) -> None:
        with self._store.session() as s:
            row = s.get(ExampleRow, example_id)
            if row is not None:
                s.delete(row)

    def counts(self) -> dict[str, dict[str, int]]:
        """Count examples by status, domain and origin."""
        out: dict[str, dict[str, int]] = {}
        with self._store.session() as s:
            for col in ("status", "domain", "origin"):
                c = getattr(ExampleRow, col)
                out[col] = {k: n for k, n in s.execute(select(c, func.count()).group_by(c))}
        return out

    # ---- preference pairs
    def add_pair(self, pair: PreferencePair) -> tuple[PreferencePair, bool]:
        """Store a DPO pair unless an identical one exists; (pair, created)."""
        fp = content_hash(pair.system or "", pair.prompt, pair.chosen, pair.rejected)
        new_id = pair.id or str(uuid.uuid4())
        with self._store.session() as s:
            if (row := s.scalar(select(PreferenceRow).where(PreferenceRow.fingerprint == fp))) is not None:
                return _to_pair(row), False
            # Two processes converting the same vote at once: the database keeps one row, both see it.
            insert_ignore(s, PreferenceRow, [dict(
                id=new_id, prompt=pair.prompt, system=pair.system, chosen=pair.chosen, rejected=pair.rejected,
                chosen_reasoning=pair.chosen_reasoning, rejected_reasoning=pair.rejected_reasoning,
                origin=pair.origin, battle_id=pair.battle_id, conversation_id=pair.conversation_id,
                fingerprint=fp, meta=pair.meta, created_at=pair.created_at,
            )], keys=["fingerprint"])
            row = s.scalar(select(PreferenceRow).where(PreferenceRow.fingerprint == fp))
            assert row is not None
            return _to_pair(row), row.id == new_id

    def pairs(self, *, origin: str | None = None, since_id: str | None = None) -> list[PreferencePair]:
        stmt = select(PreferenceRow).order_by(PreferenceRow.created_at, PreferenceRow.id)
        if origin:
            stmt = stmt.where(PreferenceRow.origin == origin)
        with self._store.session() as s:
            return [_to_pair(r) for r in s.scalars(stmt)]

    # ---- bulk runs
    def bulk_run(self, run_id: str) -> dict[str, Any] | None:
        with self._store.session() as s:
            row = s.get(BulkRunRow, run_id)
            if row is None:
                return None
            return {"id": row.id, "spec": row.spec, "status": row.status, "counts": row.counts,
                    "created_at": row.created_at, "updated_at": row.updated_at}

    def put_bulk_run(self, run_id: str, *, spec: dict[str, Any] | None = None,
                     status: str | None = None, counts: dict[str, Any] | None = None) -> None:
        with self._store.session() as s:
            row = s.get(BulkRunRow, run_id)
            if row is None:
                row = BulkRunRow(id=run_id, spec=spec or {}, status=status or "running", counts=counts or {})
                s.add(row)
            else:
                if spec is not None:
                    row.spec = spec
                if status is not None:
                    row.status = status
                if counts is not None:
                    row.counts = counts
                row.updated_at = utcnow()

"""Dataset snapshots: immutable, versioned records of what was exported (the files live on disk)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from core.db import SnapshotRow
from core.errors import NotFound
from core.schemas import Snapshot

if TYPE_CHECKING:
    from core.store import Store


def _to_snapshot(r: SnapshotRow) -> Snapshot:
    return Snapshot(
        id=r.id, version=r.version, created_at=r.created_at, seed=r.seed, path=r.path,
        n_train=r.n_train, n_validation=r.n_validation, n_preferences=r.n_preferences,
        qc_report=dict(r.qc_report or {}), note=r.note,
    )


class SnapshotStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def next_version(self) -> int:
        """One more than the highest version so far (1 for the first)."""
        with self._store.session() as s:
            return int(s.scalar(select(func.max(SnapshotRow.version))) or 0) + 1

    def add(self, snap: Snapshot) -> Snapshot:
        """Record a snapshot. Snapshots are immutable: an existing id is returned unchanged."""
        with self._store.session() as s:
            row = s.get(SnapshotRow, snap.id)
            if row is not None:
                return _to_snapshot(row)
            row = SnapshotRow(
                id=snap.id, version=snap.version, created_at=snap.created_at, seed=snap.seed,
                path=snap.path, n_train=snap.n_train, n_validation=snap.n_validation,
                n_preferences=snap.n_preferences, qc_report=snap.qc_report, note=snap.note,
            )
            s.add(row)
            s.flush()
            return _to_snapshot(row)

    def get(self, ref: str | int) -> Snapshot:
        """Find a snapshot by id, id prefix (>= 6 characters) or version number.

        Raises:
            NotFound: when nothing (or more than one snapshot, for a prefix) matches.

        """
        with self._store.session() as s:
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 6):
                row = s.scalar(select(SnapshotRow).where(SnapshotRow.version == int(ref)))
                if row is None:
                    raise NotFound(f"no snapshot with version {ref}")
                return _to_snapshot(row)
            row = s.get(SnapshotRow, ref)
            if row is not None:
                return _to_snapshot(row)
            if len(ref) >= 6:
                rows = list(s.scalars(select(SnapshotRow).where(SnapshotRow.id.startswith(ref))))
                if len(rows) == 1:
                    return _to_snapshot(rows[0])
                if len(rows) > 1:
                    raise NotFound(f"snapshot prefix {ref!r} is ambiguous ({len(rows)} match)")
            raise NotFound(f"no snapshot with id {ref!r}")

    def list(self) -> list[Snapshot]:
        """Every snapshot, newest version first."""
        with self._store.session() as s:
            return [_to_snapshot(r) for r in s.scalars(select(SnapshotRow).order_by(SnapshotRow.version.desc()))]

    def latest(self) -> Snapshot | None:
        """Return the highest version, or None when there is none."""
        with self._store.session() as s:
            row = s.scalar(select(SnapshotRow).order_by(SnapshotRow.version.desc()).limit(1))
            return _to_snapshot(row) if row else None

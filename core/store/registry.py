"""Models (base models, adapters, baselines) and training/serving jobs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.db import JobRow, KVRow, ModelRow
from core.errors import ConfigError, NotFound
from core.schemas import Job, JobStatus, ModelKind, ModelRecord, utcnow
from core.store.sql import insert_ignore

if TYPE_CHECKING:
    from core.store import Store

# Highest version ever issued per adapter-name prefix. Kept apart from the models table so a
# deleted adapter's name is still never handed out again (vLLM caches blocks by name).
VERSIONS_KEY = "adapter_versions"

MODEL_FIELDS = ("kind", "base_model", "path", "parent", "snapshot_id", "preference_ids", "method",
                "status", "endpoint", "served_name", "metrics", "config")
JOB_FIELDS = ("status", "config", "pid", "step", "total_steps", "loss", "eval_loss", "log_path",
              "output", "error", "started_at", "finished_at")
TERMINAL = {JobStatus.succeeded.value, JobStatus.failed.value, JobStatus.cancelled.value}


def _to_record(r: ModelRow) -> ModelRecord:
    return ModelRecord(
        name=r.name, kind=ModelKind(r.kind), base_model=r.base_model, path=r.path, parent=r.parent,
        snapshot_id=r.snapshot_id, preference_ids=list(r.preference_ids or []), method=r.method,
        status=r.status, endpoint=r.endpoint, served_name=r.served_name,
        metrics=dict(r.metrics or {}), config=dict(r.config or {}), created_at=r.created_at,
    )


def _to_job(r: JobRow) -> Job:
    return Job(
        id=r.id, kind=r.kind, status=JobStatus(r.status), config=dict(r.config or {}), pid=r.pid,
        step=r.step or 0, total_steps=r.total_steps,
        loss=[tuple(p) for p in r.loss or []], eval_loss=[tuple(p) for p in r.eval_loss or []],
        log_path=r.log_path, output=r.output, error=r.error, created_at=r.created_at,
        started_at=r.started_at, finished_at=r.finished_at,
    )


def _encode(value: Any) -> Any:
    """Enums to their values so JSON and string columns take them."""
    if isinstance(value, (ModelKind, JobStatus)):
        return value.value
    return value


class RegistryStore:
    """Rows of the `models` and `jobs` tables, as `ModelRecord` and `Job`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------------ models
    def add_model(self, record: ModelRecord) -> ModelRecord:
        """Insert a model; a name already in the registry is an error (names are never reused)."""
        with self._store.session() as s:
            if s.get(ModelRow, record.name) is not None:
                raise ConfigError(f"model {record.name!r} is already registered; names are never reused")
            row = ModelRow(name=record.name, created_at=record.created_at,
                           **{f: _encode(getattr(record, f)) for f in MODEL_FIELDS})
            s.add(row)
        return _to_record(row)

    def upsert_model(self, record: ModelRecord) -> ModelRecord:
        """Insert or replace a model row (for base models and baselines, whose names are chosen)."""
        with self._store.session() as s:
            row = s.get(ModelRow, record.name)
            if row is None:
                row = ModelRow(name=record.name, created_at=record.created_at)
                s.add(row)
            for f in MODEL_FIELDS:
                setattr(row, f, _encode(getattr(record, f)))
        return _to_record(row)

    def get_model(self, name: str) -> ModelRecord | None:
        """Return the model called `name`, or None."""
        with self._store.session() as s:
            row = s.get(ModelRow, name)
            return _to_record(row) if row else None

    def require_model(self, name: str) -> ModelRecord:
        """Return the model called `name`; raises NotFound naming the known models otherwise."""
        rec = self.get_model(name)
        if rec is None:
            known = ", ".join(m.name for m in self.list_models()) or "none"
            raise NotFound(f"no model named {name!r} in the registry (known: {known})")
        return rec

    def list_models(self, *, kind: ModelKind | str | None = None,
                    status: str | None = None) -> list[ModelRecord]:
        """All models, oldest first, optionally filtered by kind and status."""
        q = select(ModelRow).order_by(ModelRow.created_at, ModelRow.name)
        if kind is not None:
            q = q.where(ModelRow.kind == _encode(kind))
        if status is not None:
            q = q.where(ModelRow.status == status)
        with self._store.session() as s:
            return [_to_record(r) for r in s.scalars(q)]

    def update_model(self, name: str, **fields: Any) -> ModelRecord:
        """Change some fields of a model; unknown field names are an error."""
        bad = set(fields) - set(MODEL_FIELDS)
        if bad:
            raise ValueError(f"unknown model fields {sorted(bad)}; valid: {list(MODEL_FIELDS)}")
        with self._store.session() as s:
            row = s.get(ModelRow, name)
            if row is None:
                raise NotFound(f"no model named {name!r} in the registry")
            for k, v in fields.items():
                setattr(row, k, _encode(v))
        return _to_record(row)

    def delete_model(self, name: str) -> None:
        """Remove a model row. Its name stays burnt: `reserve_version` never issues it again."""
        with self._store.session() as s:
            row = s.get(ModelRow, name)
            if row is None:
                raise NotFound(f"no model named {name!r} in the registry")
            s.delete(row)

    def reserve_version(self, prefix: str, existing: Iterable[int] = ()) -> int:
        """Issue the next version number for `prefix`, atomically; never the same one twice.

        Args:
            prefix: the adapter-name prefix ("voice").
            existing: versions already present in model names, so a registry populated by hand
                (or restored from a backup without the counter) still moves forward.

        """
        with self._store.session() as s:
            # The counter row exists first, then is read under a row lock (PostgreSQL; SQLite holds
            # its write lock from the insert on): two processes never read the same counter.
            insert_ignore(s, KVRow, [{"key": VERSIONS_KEY, "value": {}, "updated_at": utcnow()}])
            row = s.scalar(select(KVRow).where(KVRow.key == VERSIONS_KEY).with_for_update())
            assert row is not None
            issued = dict(row.value or {})
            n = max([int(issued.get(prefix, 0)), *existing]) + 1
            issued[prefix] = n
            row.value = issued
            row.updated_at = utcnow()
        return n

    # ------------------------------------------------------------------ jobs
    def add_job(self, job: Job) -> Job:
        """Insert a job row."""
        row = JobRow(id=job.id, kind=job.kind, created_at=job.created_at,
                     **{f: _encode(getattr(job, f)) for f in JOB_FIELDS if f not in ("loss", "eval_loss")},
                     loss=[list(p) for p in job.loss], eval_loss=[list(p) for p in job.eval_loss])
        with self._store.session() as s:
            s.add(row)
        return _to_job(row)

    def get_job(self, job_id: str) -> Job | None:
        """Return the job with this id, or None."""
        with self._store.session() as s:
            row = s.get(JobRow, job_id)
            return _to_job(row) if row else None

    def require_job(self, job_id: str) -> Job:
        """Return the job with this id; raises NotFound otherwise."""
        job = self.get_job(job_id)
        if job is None:
            raise NotFound(f"no job with id {job_id!r}")
        return job

    def update_job(self, job_id: str, **fields: Any) -> Job:
        """Change some fields of a job; unknown field names are an error."""
        bad = set(fields) - set(JOB_FIELDS)
        if bad:
            raise ValueError(f"unknown job fields {sorted(bad)}; valid: {list(JOB_FIELDS)}")
        with self._store.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise NotFound(f"no job with id {job_id!r}")
            for k, v in fields.items():
                if k in ("loss", "eval_loss"):
                    v = [list(p) for p in v]
                setattr(row, k, _encode(v))
        return _to_job(row)

    def list_jobs(self, *, kind: str | None = None, status: str | Iterable[str] | None = None,
                  limit: int = 100) -> list[Job]:
        """Jobs, newest first."""
        q = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
        if kind is not None:
            q = q.where(JobRow.kind == kind)
        if isinstance(status, str):
            q = q.where(JobRow.status == status)
        elif status is not None:
            q = q.where(JobRow.status.in_([_encode(x) for x in status]))
        with self._store.session() as s:
            return [_to_job(r) for r in s.scalars(q)]

    def active_jobs(self) -> list[Job]:
        """Jobs queued or running, newest first."""
        return self.list_jobs(status=[JobStatus.queued.value, JobStatus.running.value], limit=1000)


def is_terminal(status: JobStatus | str) -> bool:
    """Return True once a job can no longer change (succeeded, failed, cancelled)."""
    return _encode(status) in TERMINAL


def started_seconds_ago(job: Job, now: datetime | None = None) -> float | None:
    """Seconds since the job started, or None before it starts."""
    if job.started_at is None:
        return None
    start = job.started_at
    now = now or utcnow()
    if start.tzinfo is None:  # SQLite hands back naive datetimes that were written as UTC
        now = now.replace(tzinfo=None)
    return max(0.0, (now - start).total_seconds())

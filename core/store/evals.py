"""Evaluation runs (metrics + report location) and the owner's golden prompt set."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from core.db import EvalRunRow, GoldenPromptRow
from core.errors import ConfigError, NotFound
from core.schemas import EvalRun, GoldenPrompt

if TYPE_CHECKING:
    from core.store import Store

GOLDEN_SOURCES = ("default", "owner", "validation", "drafted")


def _to_run(r: EvalRunRow) -> EvalRun:
    return EvalRun(id=r.id, models=list(r.models or []), metrics=dict(r.metrics or {}),
                   report_path=r.report_path, created_at=r.created_at)


def _to_golden(r: GoldenPromptRow) -> GoldenPrompt:
    return GoldenPrompt(id=r.id, prompt=r.prompt, domain=r.domain, source=r.source)  # type: ignore[arg-type]


def _clean_prompt(prompt: str, domain: str, source: str) -> tuple[str, str]:
    text = (prompt or "").strip()
    if not text:
        raise ConfigError("a golden prompt needs text")
    if not (domain or "").strip():
        raise ConfigError("a golden prompt needs a domain")
    if source not in GOLDEN_SOURCES:
        raise ConfigError(f"golden prompt source {source!r} is not one of {', '.join(GOLDEN_SOURCES)}")
    return text, domain.strip()


class EvalStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    # ---- runs
    def add_run(self, run: EvalRun) -> EvalRun:
        """Store one evaluation run (its id is kept if given, else a new uuid)."""
        row = EvalRunRow(id=run.id or str(uuid.uuid4()), models=list(run.models), metrics=run.metrics,
                         report_path=run.report_path, created_at=run.created_at)
        with self._store.session() as s:
            s.add(row)
        return _to_run(row)

    def get_run(self, run_id: str) -> EvalRun:
        with self._store.session() as s:
            row = s.get(EvalRunRow, run_id)
            if row is None:
                raise NotFound(f"no evaluation run {run_id!r}")
            return _to_run(row)

    def list_runs(self, *, limit: int = 50) -> list[EvalRun]:
        """Newest first."""
        with self._store.session() as s:
            rows = s.scalars(select(EvalRunRow).order_by(EvalRunRow.created_at.desc()).limit(limit))
            return [_to_run(r) for r in rows]

    def latest_run(self, model: str | None = None) -> EvalRun | None:
        """Return the newest run, or the newest one that evaluated `model`."""
        for run in self.list_runs(limit=200):
            if model is None or model in run.models:
                return run
        return None

    # ---- golden prompts
    def golden_prompts(self, *, source: str | None = None) -> list[GoldenPrompt]:
        with self._store.session() as s:
            stmt = select(GoldenPromptRow)
            if source:
                stmt = stmt.where(GoldenPromptRow.source == source)
            return [_to_golden(r) for r in s.scalars(stmt.order_by(GoldenPromptRow.domain, GoldenPromptRow.id))]

    def count_golden(self) -> int:
        with self._store.session() as s:
            return int(s.scalar(select(func.count()).select_from(GoldenPromptRow)) or 0)

    def add_golden(self, prompt: GoldenPrompt) -> GoldenPrompt:
        text, domain = _clean_prompt(prompt.prompt, prompt.domain, prompt.source)
        row = GoldenPromptRow(id=prompt.id or str(uuid.uuid4()), prompt=text, domain=domain, source=prompt.source)
        with self._store.session() as s:
            s.add(row)
        return _to_golden(row)

    def add_golden_many(self, prompts: Iterable[GoldenPrompt]) -> list[GoldenPrompt]:
        """Add several prompts in one transaction (all or none)."""
        rows = []
        for p in prompts:
            text, domain = _clean_prompt(p.prompt, p.domain, p.source)
            rows.append(GoldenPromptRow(id=p.id or str(uuid.uuid4()), prompt=text, domain=domain, source=p.source))
        with self._store.session() as s:
            s.add_all(rows)
        return [_to_golden(r) for r in rows]

    def update_golden(self, prompt_id: str, *, prompt: str | None = None, domain: str | None = None) -> GoldenPrompt:
        """Edit a prompt's text or domain; an edited default becomes the owner's."""
        with self._store.session() as s:
            row = s.get(GoldenPromptRow, prompt_id)
            if row is None:
                raise NotFound(f"no golden prompt {prompt_id!r}")
            text, dom = _clean_prompt(row.prompt if prompt is None else prompt,
                                      row.domain if domain is None else domain, row.source)
            if (text, dom) != (row.prompt, row.domain):
                row.prompt, row.domain, row.source = text, dom, "owner"
            return _to_golden(row)

    def delete_golden(self, prompt_id: str) -> None:
        with self._store.session() as s:
            row = s.get(GoldenPromptRow, prompt_id)
            if row is None:
                raise NotFound(f"no golden prompt {prompt_id!r}")
            s.delete(row)

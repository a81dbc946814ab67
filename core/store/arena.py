"""Arena battles and votes. Votes are append-only facts: this store can add and read them, never change them.

On SQLite, writes from one process go through one lock: twenty raters voting at once would
otherwise meet in SQLite's busy handler, whose sleeps back off to tens of milliseconds; a
Python lock hands the write over the moment the previous one commits. Other processes still
rely on the busy timeout (core/db.py). PostgreSQL takes concurrent writers as they come.
One vote per rater and battle is the database's rule (a unique index), so two app processes
cannot both append it.
"""

from __future__ import annotations

import threading
import uuid
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.db import BattleRow, VoteRow
from core.errors import IdiolectError, NotFound
from core.schemas import Battle, Vote, VoteChoice, utcnow

if TYPE_CHECKING:
    from core.store import Store


class AlreadyVoted(IdiolectError):
    """A rater tried to vote twice on one battle (after the first vote the names are revealed)."""


def _to_battle(r: BattleRow) -> Battle:
    return Battle(
        id=r.id, prompt=r.prompt, prompt_source=r.prompt_source,  # type: ignore[arg-type]
        left_model=r.left_model, right_model=r.right_model, left_answer=r.left_answer,
        right_answer=r.right_answer, rater=r.rater, flags=list(r.flags or []), created_at=r.created_at,
    )


def _to_vote(r: VoteRow) -> Vote:
    return Vote(
        id=r.id, battle_id=r.battle_id, rater=r.rater, choice=VoteChoice(r.choice),
        left_model=r.left_model, right_model=r.right_model, prompt=r.prompt,
        written_answer=r.written_answer, latency_ms=r.latency_ms, created_at=r.created_at,
    )


class ArenaStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._write: AbstractContextManager[object] = (
            threading.Lock() if store.dialect == "sqlite" else nullcontext())

    # ---- battles
    def create_battle(self, battle: Battle) -> Battle:
        """Record a battle: its prompt and which model sits on which side (the side is logged)."""
        if battle.left_model == battle.right_model:
            raise ValueError(f"a battle needs two different models, got {battle.left_model!r} twice")
        row = BattleRow(
            id=battle.id or str(uuid.uuid4()), prompt=battle.prompt, prompt_source=battle.prompt_source,
            left_model=battle.left_model, right_model=battle.right_model, left_answer=battle.left_answer,
            right_answer=battle.right_answer, rater=battle.rater, flags=list(battle.flags),
            created_at=battle.created_at,
        )
        with self._write, self._store.session() as s:
            s.add(row)
        return _to_battle(row)

    def set_answers(self, battle_id: str, left: str, right: str, flags: list[str] | None = None) -> Battle:
        """Store both finished answers (and any flags) once generation ends."""
        with self._write, self._store.session() as s:
            row = s.get(BattleRow, battle_id)
            if row is None:
                raise NotFound(f"no battle with id {battle_id!r}")
            row.left_answer, row.right_answer = left, right
            if flags is not None:
                row.flags = sorted(set(row.flags or []) | set(flags))
            s.flush()
            return _to_battle(row)

    def battle(self, battle_id: str) -> Battle:
        with self._store.session() as s:
            row = s.get(BattleRow, battle_id)
            if row is None:
                raise NotFound(f"no battle with id {battle_id!r}")
            return _to_battle(row)

    def battles(self, *, limit: int | None = None) -> list[Battle]:
        """Battles, newest first."""
        stmt = select(BattleRow).order_by(BattleRow.created_at.desc(), BattleRow.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._store.session() as s:
            return [_to_battle(r) for r in s.scalars(stmt)]

    # ---- votes (append-only)
    def add_vote(self, vote: Vote) -> Vote:
        """Append one vote. The models are copied from the battle, so a vote cannot misname them.

        Raises:
            NotFound: the battle does not exist.
            AlreadyVoted: this rater already voted on this battle.

        """
        return self.cast_vote(vote.battle_id, vote.choice, rater=vote.rater, written_answer=vote.written_answer,
                              latency_ms=vote.latency_ms, vote_id=vote.id, created_at=vote.created_at)[0]

    def cast_vote(self, battle_id: str, choice: VoteChoice | str, *, rater: str = "owner",
                  written_answer: str | None = None, latency_ms: int | None = None, vote_id: str | None = None,
                  created_at: datetime | None = None) -> tuple[Vote, Battle]:
        """Append one vote in one transaction and return it with its battle (for the reveal).

        Raises:
            NotFound: the battle does not exist.
            AlreadyVoted: this rater already voted on this battle.

        """
        try:
            with self._write, self._store.session() as s:
                battle = s.get(BattleRow, battle_id)
                if battle is None:
                    raise NotFound(f"no battle with id {battle_id!r}")
                dup = s.scalar(select(VoteRow.id).where(VoteRow.battle_id == battle_id, VoteRow.rater == rater))
                if dup is not None:
                    raise AlreadyVoted(f"rater {rater!r} already voted on battle {battle_id}")
                row = VoteRow(
                    id=vote_id or str(uuid.uuid4()), battle_id=battle.id, rater=rater,
                    choice=VoteChoice(choice).value, left_model=battle.left_model,
                    right_model=battle.right_model, prompt=battle.prompt, written_answer=written_answer,
                    latency_ms=latency_ms, created_at=created_at or utcnow(),
                )
                s.add(row)
                s.flush()
                return _to_vote(row), _to_battle(battle)
        except IntegrityError as e:  # the same vote arrived through another process a moment earlier
            if self.votes_for(battle_id) and any(v.rater == rater for v in self.votes_for(battle_id)):
                raise AlreadyVoted(f"rater {rater!r} already voted on battle {battle_id}") from e
            raise

    def votes(self, *, model: str | None = None, since: datetime | None = None,
              rater: str | None = None) -> list[Vote]:
        """Votes in the order they were cast, optionally for one model, rater or time onward."""
        stmt = select(VoteRow).order_by(VoteRow.created_at, VoteRow.id)
        if model:
            stmt = stmt.where((VoteRow.left_model == model) | (VoteRow.right_model == model))
        if since is not None:
            stmt = stmt.where(VoteRow.created_at > since)
        if rater:
            stmt = stmt.where(VoteRow.rater == rater)
        with self._store.session() as s:
            return [_to_vote(r) for r in s.scalars(stmt)]

    def votes_for(self, battle_id: str) -> list[Vote]:
        with self._store.session() as s:
            rows = s.scalars(select(VoteRow).where(VoteRow.battle_id == battle_id).order_by(VoteRow.created_at))
            return [_to_vote(r) for r in rows]

    def count_votes(self) -> int:
        with self._store.session() as s:
            return int(s.scalar(select(func.count()).select_from(VoteRow)) or 0)

    def pair_counts(self) -> dict[tuple[str, str], int]:
        """Votes per unordered model pair, keyed by the sorted pair of names."""
        out: dict[tuple[str, str], int] = {}
        with self._store.session() as s:
            q = select(VoteRow.left_model, VoteRow.right_model, func.count()).group_by(
                VoteRow.left_model, VoteRow.right_model)
            for a, b, n in s.execute(q):
                key = (min(a, b), max(a, b))
                out[key] = out.get(key, 0) + int(n)
        return out

"""Full-text queries over the chunks, per dialect: SQLite FTS5 (BM25) and PostgreSQL (tsvector, ts_rank).

Any query word may match (OR): a paraphrase rarely repeats all of a message's words. A
word found in a large share of all chunks says almost nothing about relevance (BM25's IDF
for it is near zero) yet makes the engine score most of the corpus, so such words are
dropped when the query has rarer ones. That keeps a heavy user's searches fast, and it
gives PostgreSQL's ts_rank, which has no IDF of its own, the same preference for rare words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

COMMON_SHARE = 0.25  # a word in more than this share of the chunks is "common"


def _match(dialect: str, terms: Sequence[str], op: str = "OR") -> str:
    if dialect == "postgresql":
        return (" | " if op == "OR" else " & ").join(terms)
    return f" {op} ".join(f'"{t}"' for t in terms)


def doc_freqs(s: Session, dialect: str, terms: Sequence[str]) -> dict[str, int]:
    """Return how many live chunks contain each term (as the index stems it; approximately on SQLite).

    PostgreSQL counts through the GIN index. SQLite reads FTS5's own term statistics
    (an fts5vocab table, temporary to the connection): the index holds Porter stems, which
    are nearly always a prefix of the word, so the longest indexed prefix stands in for it.
    """
    if dialect == "postgresql":
        sql = text("SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('english', :q)")
        return {t: int(s.execute(sql, {"q": t}).scalar() or 0) for t in terms}
    s.execute(text("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, 'chunks_fts', 'row')"))
    out: dict[str, int] = {}
    for t in terms:
        prefixes = [t[:i] for i in range(len(t), min(3, len(t)) - 1, -1)]
        found = dict(s.execute(text("SELECT term, doc FROM temp.chunks_vocab WHERE term IN :p")
                               .bindparams(bindparam("p", expanding=True)), {"p": prefixes}).all())
        out[t] = next((int(found[p]) for p in prefixes if p in found), 0)
    return out


def informative_terms(terms: Sequence[str], df: dict[str, int], total: int) -> tuple[list[str], bool]:
    """Return the terms worth scoring, and whether all of them are common.

    Those that occur, without the common ones if rarer ones exist.
    """
    present = [t for t in terms if df.get(t, 0) > 0]
    rare = [t for t in present if df[t] <= COMMON_SHARE * total]
    return (rare, False) if rare else (present, True)


def search(s: Session, dialect: str, terms: Sequence[str], limit: int, *, shown_only: bool = False,
           conversation_ids: Sequence[str] | None = None, vendor: str | None = None) -> list[tuple[str, float]]:
    """Return (chunk id, relevance) best first, higher is better on both backends.

    A query made only of common words first asks for chunks holding all of them (BM25
    ranks those first anyway), and falls back to any of them if too few do.
    """
    common = False
    if len(terms) > 1:
        total = int(s.execute(text("SELECT count(*) FROM chunks")).scalar() or 0)  # tombstones are few
        terms, common = informative_terms(terms, doc_freqs(s, dialect, terms), total)
    if not terms:
        return []
    if common and len(terms) > 1:
        found = _run(s, dialect, _match(dialect, terms, "AND"), limit, shown_only, conversation_ids, vendor)
        if len(found) >= limit:
            return found
    return _run(s, dialect, _match(dialect, terms), limit, shown_only, conversation_ids, vendor)


def _run(s: Session, dialect: str, match: str, limit: int, shown_only: bool,
         conversation_ids: Sequence[str] | None, vendor: str | None) -> list[tuple[str, float]]:
    where: list[str] = []
    params: dict[str, Any] = {"n": int(limit), "q": match}
    if shown_only:
        where.append("c.shown")
    if vendor:
        where.append("c.conversation_id LIKE :vendor")
        params["vendor"] = f"{vendor}:%"
    if conversation_ids is not None:
        where.append("c.conversation_id IN :cids")
        params["cids"] = list(conversation_ids)
    cond = "".join(f" AND {w}" for w in where)
    if dialect == "postgresql":
        sql = ("SELECT c.id, ts_rank(c.tsv, q, 1) AS score FROM chunks c, to_tsquery('english', :q) q "
               f"WHERE c.tsv @@ q AND NOT c.removed{cond} ORDER BY score DESC, c.id LIMIT :n")
    elif not where:
        # The FTS table alone ranks and cuts (a tombstone's text is empty, so it never matches).
        sql = ("SELECT c.id, -f.score FROM (SELECT rowid, rank AS score FROM chunks_fts WHERE chunks_fts MATCH :q "
               "ORDER BY rank LIMIT :n) f JOIN chunks c ON c.fts_id = f.rowid ORDER BY f.score, c.id")
    else:
        # bm25() is lower-is-better; negated so every backend answers higher-is-better.
        sql = ("SELECT c.id, -bm25(chunks_fts) AS score FROM chunks_fts JOIN chunks c ON c.fts_id = chunks_fts.rowid "
               f"WHERE chunks_fts MATCH :q AND NOT c.removed{cond} ORDER BY score DESC, c.id LIMIT :n")
    stmt = text(sql)
    if conversation_ids is not None:
        stmt = stmt.bindparams(bindparam("cids", expanding=True))
    return [(i, float(sc)) for i, sc in s.execute(stmt, params)]

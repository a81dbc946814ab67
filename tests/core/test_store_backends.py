"""The store on both backends: upserts, named locks and writes racing in separate processes."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from core.schemas import Battle, PreferencePair
from core.store import Store
from core.store.arena import AlreadyVoted

pytestmark = pytest.mark.both_backends
CTX = mp.get_context("spawn")


def _race(url: str, what: str, n: int, start, out) -> None:  # noqa: ANN001  (multiprocessing primitives)
    """Child process: wait for the start signal, then do `what` n times; send back what happened."""
    store = Store.open(url)
    start.wait(60)
    got: list = []
    for i in range(n):
        if what == "vote":
            try:
                store.arena.cast_vote(f"b{i}", "left", rater="ann")
                got.append("stored")
            except AlreadyVoted:
                got.append("already")
        elif what == "version":
            got.append(store.registry.reserve_version("voice"))
        elif what == "pair":
            got.append(store.examples.add_pair(PreferencePair(prompt=f"p{i}", chosen="a", rejected="b",
                                                              origin="vote"))[1])
        elif what == "kv":
            store.kv.put("shared", {"i": i})
            got.append(True)
    store.close()
    out.put(got)


def _run_race(url: str, what: str, n: int, procs: int = 2) -> list[list]:
    start, out = CTX.Event(), CTX.Queue()
    ps = [CTX.Process(target=_race, args=(url, what, n, start, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    time.sleep(3.0)  # both opened the store (and ran the migrations) before the race starts
    start.set()
    results = [out.get(timeout=240) for _ in ps]
    for p in ps:
        p.join(30)
        assert p.exitcode == 0
    return results


def test_one_vote_per_rater_and_battle_even_when_two_processes_race(settings) -> None:
    store = Store.open(settings.db_url)
    for i in range(30):
        store.arena.create_battle(Battle(id=f"b{i}", prompt=f"q{i}", prompt_source="typed", left_model="a",
                                         right_model="b"))
    a, b = _run_race(settings.db_url, "vote", 30)
    assert [x == "stored" for x in a].count(True) + [x == "stored" for x in b].count(True) == 30
    assert all({x, y} == {"stored", "already"} for x, y in zip(a, b, strict=True))
    assert store.arena.count_votes() == 30
    with pytest.raises(AlreadyVoted):
        store.arena.cast_vote("b0", "right", rater="ann")
    store.close()


def test_versions_pairs_and_settings_survive_concurrent_writers(settings) -> None:
    store = Store.open(settings.db_url)
    a, b = _run_race(settings.db_url, "version", 15)
    assert sorted(a + b) == list(range(1, 31))  # never the same version twice
    a, b = _run_race(settings.db_url, "pair", 20)
    assert all(x != y for x, y in zip(a, b, strict=True))  # each pair created by exactly one of them
    assert len(store.examples.pairs()) == 20
    a, b = _run_race(settings.db_url, "kv", 20)
    assert store.kv.get("shared") == {"i": 19}
    store.close()


def test_named_locks_exclude_other_processes_and_die_with_them(settings) -> None:
    store = Store.open(settings.db_url)
    lock = store.lock("job")
    assert lock.acquire(blocking=False)
    assert store.lock("job").held_elsewhere() and not store.lock("other").held_elsewhere()
    probe = CTX.Process(target=_probe_lock, args=(settings.db_url, "job"))
    probe.start()
    probe.join(120)
    assert probe.exitcode == 1  # another process could not take it
    lock.release()
    assert not store.lock("job").held_elsewhere()
    holder = CTX.Process(target=_hold_lock, args=(settings.db_url, "job"))
    holder.start()
    deadline = time.monotonic() + 120
    while not store.lock("job").held_elsewhere():
        assert time.monotonic() < deadline and holder.is_alive()
        time.sleep(0.1)
    holder.kill()
    holder.join(30)
    deadline = time.monotonic() + 30
    while store.lock("job").held_elsewhere():  # the server (or kernel) drops a dead holder's lock
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with store.lock("job"):
        pass
    store.close()


def _probe_lock(url: str, name: str) -> None:
    store = Store.open(url)
    got = store.lock(name).acquire(blocking=False)
    raise SystemExit(0 if got else 1)


def _hold_lock(url: str, name: str) -> None:
    store = Store.open(url)
    held = store.lock(name)
    held.acquire()
    time.sleep(600)
    held.release()


def test_upserts_keep_one_row_per_key(store) -> None:
    from core.db import KVRow
    from core.schemas import utcnow
    from core.store.sql import insert_ignore, upsert

    with store.session() as s:
        insert_ignore(s, KVRow, [{"key": "k", "value": {"v": 1}, "updated_at": utcnow()}])
        insert_ignore(s, KVRow, [{"key": "k", "value": {"v": 2}, "updated_at": utcnow()}])
    assert store.kv.get("k") == {"v": 1}
    with store.session() as s:
        upsert(s, KVRow, [{"key": "k", "value": {"v": 3}, "updated_at": utcnow()},
                          {"key": "j", "value": {"v": 4}, "updated_at": utcnow()}], update=["value"])
    assert store.kv.get("k") == {"v": 3} and store.kv.get("j") == {"v": 4}

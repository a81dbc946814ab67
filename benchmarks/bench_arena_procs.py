"""Arena stress case through real `idiolect app` processes: 1 and 2 processes on PostgreSQL, 1 on SQLite.

    .venv/bin/python benchmarks/bench_arena.py --processes --pg postgresql+psycopg://USER@HOST:PORT/postgres

Results go to benchmarks/results/scale.md (issue 15).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.bench_arena import _serve_model, pct, run_raters


def bench_app_processes(n_apps: int, raters: int, per_rater: int, db_url: str, *, think_s: float = 0.0,
                        rater_procs: int = 4) -> dict:
    """Vote latency through real `idiolect app` processes sharing one database (each with its own home).

    The model server and the raters run in processes of their own, as in bench_api_votes;
    rater r talks to app process r mod n_apps.
    """
    import multiprocessing as mp

    from core.store import Store
    from tests.fakes.app_procs import app_processes
    from tests.fakes.arena_app import register_models
    from training.runs.retrain import set_policy

    ctx = mp.get_context("spawn")
    store = Store.open(db_url)
    model_conn, model_child = ctx.Pipe()
    model = ctx.Process(target=_serve_model, args=(model_child,), daemon=True)
    model.start()
    register_models(store, model_conn.recv())
    set_policy(store, 10**9)  # the vote hook converts votes in the background, as in use
    root = Path(tempfile.mkdtemp(prefix=f"bench-arena-{n_apps}apps-"))
    with app_processes(n_apps, database_url=db_url, root=root) as urls:
        lat, wall, load_before = run_raters(ctx, urls, raters, rater_procs, per_rater, think_s)
        time.sleep(2.0)  # the vote hooks finish converting
        stored, pairs = store.arena.count_votes(), len(store.examples.pairs())
    model_conn.send("stop")
    model.join(30)
    store.close()
    return {"apps": n_apps, "raters": raters, "think_s": think_s, "votes": len(lat), "stored": stored,
            "pairs": pairs, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "max_ms": max(lat), "wall_s": wall,
            "load": load_before}


def _fresh_pg(server: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    eng = create_engine(server, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def main_processes(pg: str, per_rater: int) -> None:
    """The 20-rater stress case through 1 and 2 real app processes on PostgreSQL (and 1 on SQLite)."""
    from benchmarks.bench_scale import _machine, write_section

    runs = []
    home = Path(tempfile.mkdtemp(prefix="bench-arena-sqlite-"))
    for label, n, url in (("SQLite", 1, f"sqlite:///{home / 'idiolect.db'}"),
                          ("PostgreSQL", 1, _fresh_pg(pg, "bench_arena_1")),
                          ("PostgreSQL", 2, _fresh_pg(pg, "bench_arena_2"))):
        r = bench_app_processes(n, 20, per_rater, url)
        r["backend"] = label
        print(r, flush=True)
        runs.append(r)
    lines = [_machine() + f". Command: `python benchmarks/bench_arena.py --processes --pg URL "
             f"--per-rater {per_rater}`.", "",
             "20 raters voting with no reading pause (each creates a battle, the one-sentence answers stream from "
             "a fake model server in its own process, then votes at once), in 4 rater processes; real "
             "`idiolect app` processes, each with its own data home, sharing the database; the retrain policy "
             "is on, so every process converts votes to pairs in the background. Only the vote call is timed.", "",
             "| store | app processes | votes cast / stored | pairs | vote p50 | **vote p95** | max | wall | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['backend']} | {r['apps']} | {r['votes']} / {r['stored']} | {r['pairs']} | "
                     f"{r['p50_ms']:.0f} ms | **{r['p95_ms']:.0f} ms** | {r['max_ms']:.0f} ms | "
                     f"{r['wall_s']:.0f} s | {r['load'][0]:.1f} |")
    write_section("Arena: one and two app processes (20 raters, no reading pause)", lines)

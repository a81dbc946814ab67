"""Arena benchmarks: vote latency without generation (store and Gradio API), BT + 1,000-round bootstrap on 10k votes.

    .venv/bin/python benchmarks/bench_arena.py [--quick]
    .venv/bin/python benchmarks/bench_arena.py --processes --pg postgresql+psycopg://USER@HOST:PORT/postgres

Targets (issue 6): p95 vote latency <= 200 ms; Bradley–Terry with 1,000 bootstrap rounds on
10,000 votes <= 2 s. Everything runs on 127.0.0.1 against a temporary data home.

The API runs: the app, the fake model server and the raters each in their own processes;
20 raters x 25 votes, once reading 0-2 s before each vote and once not at all (a stress
run: twenty battles streaming at every moment on the same 2 cores as the app). The
retrain policy is on, so votes are also converted to pairs in the background.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def simulated_votes(n: int, seed: int = 0) -> list:
    from eval.ratings import RatedVote, elo_to_win_prob

    rng = np.random.default_rng(seed)
    true = {"base": 1000, "prompting-baseline": 1040, "voice-v1": 1120, "voice-v2": 1160, "voice-v3": 1150}
    names = list(true)
    out = []
    for k in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        p = elo_to_win_prob(true[names[a]] - true[names[b]])
        u = rng.random()
        c = "tie" if u < 0.1 else ("left" if rng.random() < p else "right")
        out.append(RatedVote(names[a], names[b], c, f"prompt-{k % 2500}"))
    return out


def bench_bt(n_votes: int, rounds: int) -> dict:
    from sklearn.linear_model import LogisticRegression

    from eval.ratings import bootstrap_ratings, bradley_terry

    votes = simulated_votes(n_votes)
    bradley_terry(votes)  # warm-up (imports, first allocation)
    t = time.perf_counter()
    bradley_terry(votes)
    point_s = time.perf_counter() - t
    times = []
    for seed in range(3):
        t = time.perf_counter()
        lb = bootstrap_ratings(votes, rounds=rounds, seed=seed)
        times.append(time.perf_counter() - t)
    # Reference: Chatbot Arena's approach, one sklearn LogisticRegression per bootstrap round on
    # duplicated per-vote rows; timed on a few rounds and scaled to `rounds`.
    names = sorted({v.left_model for v in votes} | {v.right_model for v in votes})
    idx = {m: i for i, m in enumerate(names)}
    x = np.zeros((2 * len(votes), len(names)))
    y = np.zeros(2 * len(votes))
    for k, v in enumerate(votes):
        for j in (k, k + len(votes)):
            x[j, idx[v.left_model]] = math.log(10)
            x[j, idx[v.right_model]] = -math.log(10)
        y[k] = y[k + len(votes)] = v.choice == "left"
        if v.choice == "tie":
            y[k] = 1.0
    ref_rounds = 10
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(ref_rounds):
        sel = rng.integers(0, len(votes), len(votes))
        rows = np.concatenate([sel, sel + len(votes)])
        LogisticRegression(fit_intercept=False, C=1e6, tol=1e-6).fit(x[rows], y[rows])
    ref_per_round = (time.perf_counter() - t) / ref_rounds
    return {"votes": n_votes, "rounds": rounds, "point_fit_s": point_s, "bootstrap_s": min(times),
            "bootstrap_s_max": max(times), "sklearn_loop_s_est": ref_per_round * rounds,
            "models": [(r.model, round(r.rating), round(r.lower), round(r.upper)) for r in lb.ratings]}


def bench_store_votes(n_existing: int, n_measured: int) -> dict:
    from core.config import Settings
    from core.store import Store
    from eval.arena import Arena, Contestant

    s = Settings(home=Path(tempfile.mkdtemp(prefix="bench-arena-store-")))
    s.ensure_dirs()
    store = Store.open(s.db_url)
    cs = [Contestant(name="base", kind="base", base_model="m"),
          Contestant(name="voice-v1", kind="adapter", base_model="m")]
    arena = Arena(store, lambda c, m: iter(()), contestants=lambda: cs, seed=0)
    for i in range(n_existing):
        arena.vote(arena.new_battle(source="typed", prompt=f"warm {i}").id, ("left", "right", "tie")[i % 3])
    ids = [arena.new_battle(source="typed", prompt=f"p{i}").id for i in range(n_measured)]
    lat = []
    for i, b in enumerate(ids):
        t = time.perf_counter()
        arena.vote(b, ("left", "right", "tie", "both_bad")[i % 4], written_answer="mine" if i % 10 == 0 else None)
        lat.append((time.perf_counter() - t) * 1000)
    store.close()
    return {"existing_votes": n_existing, "votes": n_measured, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95),
            "max_ms": max(lat)}


def _serve_model(conn) -> None:  # noqa: ANN001  (a multiprocessing Connection)
    """Child process: the fake OpenAI-compatible model server (vLLM runs in its own process too)."""
    import core  # noqa: F401
    from tests.fakes.arena_app import MODEL_NAMES
    from tests.fakes.openai_chat import fake_openai

    # Distinct answers, so decisive votes become pairs and the retrain hook has real work.
    with fake_openai({n: f"Short answer number {k}." for k, n in enumerate(MODEL_NAMES)}) as srv:
        conn.send(srv.url)
        conn.recv()  # stop signal


def _serve_app(home: str, model_url: str, conn) -> None:  # noqa: ANN001  (a multiprocessing Connection)
    """Child process: the arena app as the app builds it; sends its URL, serves until told to stop.

    The retrain policy is on (every 10**9 pairs), so the vote hook's background worker
    converts every vote into pairs while the benchmark runs, as it would in use.
    """
    os.environ["IDIOLECT_HOME"] = home
    import core  # noqa: F401
    from core.config import Settings
    from core.store import Store
    from eval.arena import Arena, OpenAIStreams
    from tests.fakes.arena_app import arena_app, register_models
    from training.runs.retrain import set_policy
    from ui.ops.retrain_trigger import RetrainTrigger
    from ui.services import Services

    s = Settings(home=Path(home))
    s.ensure_dirs()
    store = Store.open(s.db_url)
    register_models(store, model_url)
    set_policy(store, 10**9)
    services = Services(s, store=store)
    trigger = RetrainTrigger(store, s, lambda text: services.scrubber.scrub(text))
    server_ms: list[float] = []

    class TimedArena(Arena):
        def vote(self, *a, **k):  # noqa: ANN002, ANN003, ANN202
            t = time.perf_counter()
            try:
                return super().vote(*a, **k)
            finally:
                server_ms.append((time.perf_counter() - t) * 1000)

    services.arena = TimedArena(store, OpenAIStreams(), champion=lambda: "voice-v1", on_vote=trigger)
    with arena_app(services) as demo:
        conn.send(demo.local_url)
        conn.recv()  # stop signal
        time.sleep(1.0)  # let the trigger's worker finish converting the last votes
        pairs = len(store.examples.pairs())
        conn.send({"stored": store.arena.count_votes(), "server_ms": server_ms, "pairs": pairs})
    store.close()


def run_raters(ctx: Any, url: object, raters: int, processes: int, per_rater: int,
               think_s: float) -> tuple[list[float], float, tuple[float, float, float]]:
    """Run `raters` raters spread over `processes` processes; (latencies, wall seconds, load before)."""
    groups = [list(range(raters))[i::processes] for i in range(processes)]
    pipes = [ctx.Pipe() for _ in groups]
    procs = [ctx.Process(target=_rater_process, args=(url, g, per_rater, think_s, child), daemon=True)
             for g, (_, child) in zip(groups, pipes, strict=True)]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    lat = [x for parent, _ in pipes for x in parent.recv()]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(30)
    return lat, wall, load_before


def _rater_process(url: str | list[str], raters: list[int], per_rater: int, think_s: float,
                   out) -> None:  # noqa: ANN001
    """Child process: a few raters, each a gradio_client Client in its own thread; sends vote latencies.

    Between the answers arriving and the vote a rater pauses uniform(0, 2 * think_s) seconds
    (reading); think_s = 0 votes the instant the answers are in.
    """
    os.environ.setdefault("IDIOLECT_HOME", tempfile.mkdtemp(prefix="bench-arena-client-"))
    import core  # noqa: F401, I001  (telemetry off before gradio_client loads)
    from gradio_client import Client

    lat: list[float] = []
    lock = threading.Lock()

    urls = [url] if isinstance(url, str) else list(url)

    def play(r: int) -> None:
        # ssl_verify=False: the app is plain HTTP on 127.0.0.1, so no certificate is ever
        # checked; with the default, gradio_client loads the CA bundle twice per call
        # (about 37 ms of CPU), which here would be charged to the server's latency.
        # With several app processes, rater r uses process r mod n (a load balancer's spread).
        c = Client(urls[r % len(urls)], verbose=False, ssl_verify=False)
        rng = random.Random(r)
        for k in range(per_rater):
            c.predict("Type my own", f"r{r} p{k}", f"rater{r}", api_name="/new_battle")
            if think_s:
                time.sleep(rng.uniform(0, 2 * think_s))
            t = time.perf_counter()
            c.predict("", f"rater{r}", api_name="/vote_left")
            with lock:
                lat.append((time.perf_counter() - t) * 1000)
        c.close()

    with ThreadPoolExecutor(len(raters)) as pool:
        list(pool.map(play, raters))
    out.send(lat)


def bench_api_votes(raters: int, per_rater: int, *, processes: int = 4, think_s: float = 0.0) -> dict:
    """Vote latency through the Gradio API: app, model server and raters in their own processes.

    Raters are people on their own machines; here they share 2 cores with the app, so they
    run in `processes` processes (threads within each) to keep their own interpreter lock
    out of the measurement. Each rater creates a battle (a one-sentence answer streamed
    from the fake model server), reads for a while (`think_s` on average; 0 = not at all),
    and votes; only the vote call is timed.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    home = tempfile.mkdtemp(prefix="bench-arena-api-")
    model_conn, model_child = ctx.Pipe()
    model = ctx.Process(target=_serve_model, args=(model_child,), daemon=True)
    model.start()
    app_conn, app_child = ctx.Pipe()
    app = ctx.Process(target=_serve_app, args=(home, model_conn.recv(), app_child), daemon=True)
    app.start()
    url = app_conn.recv()
    lat, wall, load_before = run_raters(ctx, url, raters, max(1, min(processes, raters)), per_rater, think_s)
    app_conn.send("stop")
    res = app_conn.recv()
    app.join(30)
    model_conn.send("stop")
    model.join(30)
    return {"raters": raters, "think_s": think_s, "votes": len(lat), "stored": res["stored"], "pairs": res["pairs"],
            "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "max_ms": max(lat), "wall_s": wall,
            "server_p50_ms": pct(res["server_ms"], 50), "server_p95_ms": pct(res["server_ms"], 95),
            "load": load_before}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    ap.add_argument("--processes", action="store_true",
                    help="only the stress case through 1 and 2 real app processes (needs --pg)")
    ap.add_argument("--pg", help="PostgreSQL server URL (postgresql+psycopg://user@host:port/db)")
    ap.add_argument("--per-rater", type=int, default=25)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="bench-arena-")
    os.environ["IDIOLECT_HOME"] = home
    import core  # noqa: F401  (telemetry off before gradio loads)

    if args.processes:
        if not args.pg:
            raise SystemExit("--processes needs --pg URL (a PostgreSQL server)")
        from benchmarks.bench_arena_procs import main_processes

        main_processes(args.pg, args.per_rater)
        return

    print(f"load average at start: {os.getloadavg()}")
    bt = bench_bt(2000 if args.quick else 10_000, 200 if args.quick else 1000)
    st = bench_store_votes(500 if args.quick else 5000, 100 if args.quick else 500)
    per = 5 if args.quick else 25
    api1 = bench_api_votes(1, 10 if args.quick else 30, processes=1)
    api20 = bench_api_votes(20, per, think_s=1.0)  # reading 0-2 s: still far faster than people read
    api20_stress = bench_api_votes(20, per)  # no reading at all: 20 battles streaming at every moment

    print(f"BT point fit on {bt['votes']:,} votes: {bt['point_fit_s'] * 1000:.1f} ms")
    print(f"BT + {bt['rounds']} prompt-bootstrap rounds: {bt['bootstrap_s']:.2f} s (max {bt['bootstrap_s_max']:.2f} s)"
          f"  target <= 2 s: {'PASS' if bt['bootstrap_s_max'] <= 2 else 'FAIL'}")
    print(f"  vs one sklearn LogisticRegression per round (Arena style, estimated): {bt['sklearn_loop_s_est']:.1f} s"
          f"  -> {bt['sklearn_loop_s_est'] / bt['bootstrap_s']:.0f}x faster")
    print(f"  ratings: {bt['models']}")
    print(f"vote append (store, {st['existing_votes']:,} votes already): p50 {st['p50_ms']:.1f} ms, "
          f"p95 {st['p95_ms']:.1f} ms, max {st['max_ms']:.1f} ms")
    for a in (api1, api20, api20_stress):
        pause = f"reading 0-{2 * a['think_s']:.0f} s" if a["think_s"] else "no reading pause"
        print(f"vote via Gradio API, {a['raters']} concurrent rater(s), {pause}, {a['votes']} votes: "
              f"p50 {a['p50_ms']:.0f} ms, "
              f"p95 {a['p95_ms']:.0f} ms, max {a['max_ms']:.0f} ms  target <= 200 ms: "
              f"{'PASS' if a['p95_ms'] <= 200 else 'FAIL'}  (stored {a['stored']}, pairs {a['pairs']}, "
              f"wall {a['wall_s']:.1f} s, load {a['load'][0]:.2f})")
        print(f"  server side (Arena.vote in the app): p50 {a['server_p50_ms']:.1f} ms, "
              f"p95 {a['server_p95_ms']:.1f} ms")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

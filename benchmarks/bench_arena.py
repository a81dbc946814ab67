"""Arena benchmarks: vote latency without generation (store and Gradio API), BT + 1,000-round bootstrap on 10k votes.

    .venv/bin/python benchmarks/bench_arena.py [--quick]

Targets (issue 6): p95 vote latency <= 200 ms; Bradley–Terry with 1,000 bootstrap rounds on
10,000 votes <= 2 s. Everything runs on 127.0.0.1 against a temporary data home.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def _serve_app(home: str, conn) -> None:  # noqa: ANN001  (a multiprocessing Connection)
    """Child process: fake model server + the arena app; sends the app URL, serves until told to stop."""
    os.environ["IDIOLECT_HOME"] = home
    import core  # noqa: F401
    from core.config import Settings
    from core.store import Store
    from eval.arena import Arena, OpenAIStreams
    from tests.fakes.arena_app import MODEL_NAMES, arena_app, register_models
    from tests.fakes.openai_chat import fake_openai
    from ui.services import Services

    s = Settings(home=Path(home))
    s.ensure_dirs()
    store = Store.open(s.db_url)
    with fake_openai({n: "Short answer." for n in MODEL_NAMES}) as srv:
        register_models(store, srv.url)
        services = Services(s, store=store, arena=Arena(store, OpenAIStreams(), champion=lambda: "voice-v1"))
        with arena_app(services) as demo:
            conn.send(demo.local_url)
            conn.recv()  # stop signal
            conn.send(store.arena.count_votes())
    store.close()


def bench_api_votes(raters: int, per_rater: int) -> dict:
    """Vote latency through the Gradio API: the app in its own process, `raters` clients at once.

    The server runs in a child process so the measured clients do not share its interpreter
    lock; each rater creates a battle (one-sentence answers) and then votes; only the vote
    call is timed.
    """
    import multiprocessing as mp

    from gradio_client import Client

    home = tempfile.mkdtemp(prefix="bench-arena-api-")
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_serve_app, args=(home, child), daemon=True)
    proc.start()
    url = parent.recv()
    lat: list[float] = []
    lock = threading.Lock()

    def play(r: int) -> None:
        c = Client(url, verbose=False)
        for k in range(per_rater):
            c.predict("Type my own", f"r{r} p{k}", f"rater{r}", api_name="/new_battle")
            t = time.perf_counter()
            c.predict("", f"rater{r}", api_name="/vote_left")
            with lock:
                lat.append((time.perf_counter() - t) * 1000)
        c.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(raters) as pool:
        list(pool.map(play, range(raters)))
    wall = time.perf_counter() - t0
    parent.send("stop")
    n = parent.recv()
    proc.join(30)
    return {"raters": raters, "votes": len(lat), "stored": n, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95),
            "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="bench-arena-")
    os.environ["IDIOLECT_HOME"] = home
    import core  # noqa: F401  (telemetry off before gradio loads)

    bt = bench_bt(2000 if args.quick else 10_000, 200 if args.quick else 1000)
    st = bench_store_votes(500 if args.quick else 5000, 100 if args.quick else 500)
    api1 = bench_api_votes(1, 10 if args.quick else 30)
    api20 = bench_api_votes(20, 3 if args.quick else 10)

    print(f"BT point fit on {bt['votes']:,} votes: {bt['point_fit_s'] * 1000:.1f} ms")
    print(f"BT + {bt['rounds']} prompt-bootstrap rounds: {bt['bootstrap_s']:.2f} s (max {bt['bootstrap_s_max']:.2f} s)"
          f"  target <= 2 s: {'PASS' if bt['bootstrap_s_max'] <= 2 else 'FAIL'}")
    print(f"  vs one sklearn LogisticRegression per round (Arena style, estimated): {bt['sklearn_loop_s_est']:.1f} s"
          f"  -> {bt['sklearn_loop_s_est'] / bt['bootstrap_s']:.0f}x faster")
    print(f"  ratings: {bt['models']}")
    print(f"vote append (store, {st['existing_votes']:,} votes already): p50 {st['p50_ms']:.1f} ms, "
          f"p95 {st['p95_ms']:.1f} ms, max {st['max_ms']:.1f} ms")
    for a in (api1, api20):
        print(f"vote via Gradio API, {a['raters']} concurrent rater(s), {a['votes']} votes: p50 {a['p50_ms']:.0f} ms, "
              f"p95 {a['p95_ms']:.0f} ms  target <= 200 ms: {'PASS' if a['p95_ms'] <= 200 else 'FAIL'}"
              f"  (stored {a['stored']}, wall {a['wall_s']:.1f} s)")


if __name__ == "__main__":
    main()

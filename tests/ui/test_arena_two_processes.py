"""Two `idiolect app` processes on one PostgreSQL store: the stress case (20 raters, no reading pause), reduced.

Each process has its own data home, as on two machines; they share only the database. Votes
land exactly once, every decisive vote becomes exactly one pair, and the retrain policy's
threshold, crossed by votes arriving through both processes, starts exactly one job.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("gradio_client")

from tests.fakes.app_procs import app_processes, play  # noqa: E402
from tests.fakes.arena_app import MODEL_NAMES, register_models  # noqa: E402
from tests.fakes.openai_chat import fake_openai  # noqa: E402
from training.runs.jobs import JobRunner  # noqa: E402
from training.runs.retrain import set_policy, trigger_state  # noqa: E402


@pytest.mark.slow  # two app processes start (about 15 s each) and 80 battles run through them
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_two_app_processes_hold_twenty_raters(settings, store, tmp_path) -> None:
    raters, per_rater = 20, 4
    # Votes cycle left, right, tie, left: 3 decisive per rater, so 60 pairs; a threshold of 31
    # can be crossed exactly once, whichever process sees the 31st pair.
    every = 31
    # Every side answers differently (the prompting baseline shares the base model's name, but
    # gets a system prompt), so every decisive vote makes one pair.
    answers = {n: (lambda _m, msgs, k=k: f"Answer number {k}{'' if len(msgs) == 1 else ', styled'}.")
               for k, n in enumerate(MODEL_NAMES)}
    with fake_openai(answers) as srv:
        register_models(store, srv.url)
        set_policy(store, every, {"preset": "tiny-cpu", "dpo": False})
        with app_processes(2, database_url=settings.database_url, root=tmp_path) as urls:
            with ThreadPoolExecutor(raters) as pool:
                cast = sum(pool.map(lambda r: play(urls[r % 2], r, per_rater), range(raters)))
            # The vote hooks convert in the background: wait for both processes to catch up.
            deadline = time.monotonic() + 120
            while len(store.examples.pairs()) < 60 and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2.0)  # a late second start would show up here
            jobs = store.registry.list_jobs(kind="retrain")
    for job in jobs:  # the job really started (and would train); stop it, the test is about the trigger
        JobRunner(store, settings).cancel(job.id, grace=5)
    votes = store.arena.votes()
    assert cast == len(votes) == raters * per_rater
    assert len({v.battle_id for v in votes}) == len(votes)
    assert sorted({v.rater for v in votes}) == sorted(f"rater{r}" for r in range(raters))
    battles = {b.id: b for b in store.arena.battles()}
    assert len(battles) == raters * per_rater
    decisive = sorted(v.battle_id for v in votes if v.choice.value in ("left", "right"))
    assert len(decisive) == 60
    assert all(battles[b].left_answer != battles[b].right_answer for b in decisive)
    assert sorted(p.battle_id for p in store.examples.pairs()) == decisive  # each once, from either process
    assert len(jobs) == 1, jobs  # one crossing, one job, though both processes saw it
    state = trigger_state(store)
    assert state["job_id"] == jobs[0].id and every <= state["pairs"] <= 60

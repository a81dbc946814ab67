"""Load: 20 raters voting at once through the Gradio API lose no vote and double none (loopback only, bounded).

No timing is asserted (benchmarks/bench_arena.py measures it). On a loaded box gradio_client
can raise CancelledError when its event stream drops; a rater then does what the app tells
them to: vote again. The vote is idempotent (tests/ui/test_vote_retry.py), so retries can
neither lose nor double one.
"""

from __future__ import annotations

from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import Any

import pytest

pytest.importorskip("gradio_client")

from gradio_client import Client  # noqa: E402

from eval.arena import Arena, OpenAIStreams  # noqa: E402
from tests.fakes.arena_app import MODEL_NAMES, arena_app, register_models  # noqa: E402
from tests.fakes.openai_chat import fake_openai  # noqa: E402
from training.runs.retrain import set_policy  # noqa: E402
from ui.ops.retrain_trigger import RetrainTrigger  # noqa: E402
from ui.services import Services  # noqa: E402

# The store, arena and load tests run on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

RETRIES = 5


def call(client: Client, *args: Any, api_name: str) -> Any:
    """Call the app as a rater would: when the answer is lost mid-flight, try again."""
    for attempt in range(RETRIES):
        try:
            return client.predict(*args, api_name=api_name)
        except CancelledError:
            if attempt == RETRIES - 1:
                raise
    return None


@pytest.mark.slow  # 1,000 Gradio API calls: about 30-60 s on a shared 2-core box
def test_concurrent_raters_lose_no_vote(settings, store, no_network) -> None:
    """Load: 20 raters x 25 battles each, voting through the API at the same time."""
    raters, per_rater = 20, 25
    # One-word answers: the load under test is the vote path, not token streaming.
    with fake_openai({n: f"Answer{k}." for k, n in enumerate(MODEL_NAMES)}) as srv:
        register_models(store, srv.url)
        # The retrain policy is on, so the vote hook's worker converts votes while they pour in.
        set_policy(store, 10**9)
        trigger = RetrainTrigger(store, settings, lambda t: (t, []))
        services = Services(settings, store=store, arena=Arena(store, OpenAIStreams(), champion=lambda: "voice-v1",
                                                               on_vote=trigger))
        with arena_app(services) as demo:

            def play(r: int) -> int:
                # Plain HTTP on 127.0.0.1: skip loading the CA bundle twice per call (~37 ms CPU).
                client = Client(demo.local_url, verbose=False, ssl_verify=False)
                cast = 0
                for k in range(per_rater):
                    call(client, "Type my own", f"rater {r} prompt {k}", f"rater{r}", api_name="/new_battle")
                    call(client, "", f"rater{r}", api_name=("/vote_left", "/vote_right", "/vote_tie")[k % 3])
                    cast += 1
                client.close()
                return cast

            with ThreadPoolExecutor(raters) as pool:
                cast = sum(pool.map(play, range(raters)))
    votes = store.arena.votes()
    assert cast == len(votes) == raters * per_rater  # none lost
    assert len({v.battle_id for v in votes}) == raters * per_rater  # none doubled
    assert all(v.choice.value == ("left", "right", "tie")[int(v.prompt.rsplit(" ", 1)[1]) % 3] for v in votes)
    per = {f"rater{r}": 0 for r in range(raters)}
    for v in votes:
        per[v.rater] += 1
    assert set(per.values()) == {per_rater}
    # Every decisive vote between two different answers became a pair, none twice.
    assert trigger.wait_idle(60)
    battles = {b.id: b for b in store.arena.battles()}
    decisive = {v.battle_id for v in votes if v.choice.value in ("left", "right")
                and battles[v.battle_id].left_answer != battles[v.battle_id].right_answer}
    pairs = [p.battle_id for p in store.examples.pairs()]
    assert decisive and sorted(pairs) == sorted(decisive)

"""A vote cut off mid-flight (issue 14, finding 9): the rater retries and the vote is stored exactly once.

gradio_client raises concurrent.futures.CancelledError when the event's stream goes away
before the result arrives (it did on a loaded CI box). The vote may already be stored. The
rater's answer is to vote again: the same vote on the same battle (its key: the battle the
session holds, and the rater) returns the same reveal and writes nothing; a different choice
is refused with a clear message.
"""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

pytest.importorskip("gradio_client")

from gradio_client import Client  # noqa: E402

from eval.arena import Arena, OpenAIStreams  # noqa: E402
from tests.fakes.arena_app import MODEL_NAMES, RecordingProxy, arena_app, register_models  # noqa: E402
from tests.fakes.openai_chat import fake_openai  # noqa: E402
from ui.services import Services  # noqa: E402


def test_a_vote_cancelled_in_flight_is_retried_and_stored_once(settings, store, no_network) -> None:  # type: ignore[no-untyped-def]
    stored = threading.Event()
    release = threading.Event()

    def slow_hook(vote: object) -> None:  # runs after the vote is appended, on the voting thread
        stored.set()
        release.wait(30)

    with fake_openai({n: f"Answer{k}." for k, n in enumerate(MODEL_NAMES)}) as srv:
        register_models(store, srv.url)
        arena = Arena(store, OpenAIStreams(), champion=lambda: "voice-v1", on_vote=slow_hook)
        with arena_app(Services(settings, store=store, arena=arena)) as demo:
            proxy = RecordingProxy(int(demo.local_url.rstrip("/").rsplit(":", 1)[1]))
            client = Client(proxy.url, verbose=False, ssl_verify=False)
            client.predict("Type my own", "why label breakers?", "ann", api_name="/new_battle")
            mark = proxy.sent_mark()
            job = client.submit("", "ann", api_name="/vote_left")
            assert stored.wait(30), "the vote never reached the store"
            # The client opens the job's event stream only after the join returns; on a loaded
            # box the vote can be stored first. Cut once the stream is under way, or the cut
            # misses it and the job just waits for the held-back result.
            proxy.wait_sent(b"queue/data?session_hash", since=mark)
            proxy.cut()  # the event stream drops mid-vote: gradio_client gives up on the job
            with pytest.raises(concurrent.futures.CancelledError):
                job.result(timeout=30)
            release.set()
            [battle] = store.arena.battles()
            assert len(store.arena.votes_for(battle.id)) == 1  # stored, though the rater saw an error

            reveal = client.predict("", "ann", api_name="/vote_left")  # the rater votes again
            assert "Left was **" in str(reveal)
            assert len(store.arena.votes_for(battle.id)) == 1  # not doubled
            with pytest.raises(Exception, match="already voted on this battle"):
                client.predict("", "ann", api_name="/vote_right")  # a different vote is not a retry
            client.close()
            proxy.close()
    assert [v.choice.value for v in store.arena.votes()] == ["left"]

"""Whole battles through the Gradio API: nothing that identifies a model reaches the client before the vote."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

pytest.importorskip("gradio_client")

from gradio_client import Client  # noqa: E402

from eval.arena import Arena, OpenAIStreams  # noqa: E402
from tests.fakes.arena_app import BASE_PATH, MODEL_NAMES, RecordingProxy, arena_app, register_models  # noqa: E402
from tests.fakes.openai_chat import fake_openai  # noqa: E402
from ui.services import Services  # noqa: E402

ANSWERS = {
    "tiny-base": "Certainly! Here is a comprehensive, balanced overview of the considerations involved.",
    "voice-v1": "Think of it like a river: everything downstream drinks from it. Measure twice.",
    # This one names itself (and its base) mid-answer: the arena must mask it and flag the battle.
    "voice-v2": "Honestly? I'm voice-v2, running on tiny-llama-7f3a, and I'd pull the wire once.",
}
REVEAL = re.compile(r"Left was \*\*(?P<left>[^*]+)\*\*, right was \*\*(?P<right>[^*]+)\*\*")


def identifying_strings(endpoint: str) -> list[str]:
    host = urlparse(endpoint).netloc
    return [*MODEL_NAMES, "prompting-baseline", endpoint, host, BASE_PATH, "tiny-llama-7f3a", "/srv/adapters"]


def test_battles_are_blind_until_the_vote_and_the_reveal_is_right(settings, store, no_network) -> None:
    with fake_openai(ANSWERS, chunk_delay=0.002) as srv:
        register_models(store, srv.url)
        arena = Arena(store, OpenAIStreams(), champion=lambda: "voice-v1", seed=5)
        services = Services(settings, store=store, arena=arena)
        with arena_app(services) as demo:
            proxy = RecordingProxy(urlparse(demo.local_url).port)
            try:
                client = Client(proxy.url, verbose=False)
                secrets = identifying_strings(srv.url)
                mark = 0
                choices = ["/vote_left", "/vote_right", "/vote_tie", "/vote_both_bad", "/vote_left", "/vote_right"]
                for i, api in enumerate(choices):
                    out = client.predict("Type my own", f"Question {i}: why fuses?", "ann", api_name="/new_battle")
                    received = proxy.text_since(mark)
                    leaked = [s for s in secrets if s.lower() in received.lower()]
                    assert not leaked, f"battle {i}: {leaked} reached the client before the vote"
                    left, right = out[1], out[2]
                    # The capture is plain text: the answers themselves are in it.
                    assert left and right and left[:20] in received
                    vote_out = client.predict("", "ann", api_name=api)
                    battle = store.arena.battles(limit=1)[0]
                    # One visible output (the reveal) comes back bare, several as a tuple.
                    shown_after = vote_out if isinstance(vote_out, str) else " ".join(map(str, vote_out))
                    reveal = REVEAL.search(shown_after)
                    assert reveal, vote_out
                    assert (reveal["left"], reveal["right"]) == (battle.left_model, battle.right_model)
                    shown = {battle.left_model: left, battle.right_model: right}
                    for name, text in shown.items():
                        if name == "voice-v2":
                            assert "[model]" in text and "voice-v2" not in text
                        else:  # the prompting baseline is the base model underneath
                            assert text == ANSWERS.get(name, ANSWERS["tiny-base"])
                    mark = proxy.mark()
                votes = store.arena.votes()
                assert [v.choice.value for v in votes] == ["left", "right", "tie", "both_bad", "left", "right"]
                assert all(v.rater == "ann" for v in votes)
                flagged = [b for b in store.arena.battles() if b.flags]
                assert flagged and all("voice-v2" in (b.left_model, b.right_model) for b in flagged)
            finally:
                proxy.close()

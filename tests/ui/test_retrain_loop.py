"""The preference loop on the tiny model: votes -> pairs -> retrain -> voice-v2 served and in the next battle.

Real pieces only: the tiny Llama trained by TRL in job subprocesses, served by the CPU
OpenAI-compatible server (training.serving.cpu_server) with runtime adapter loading, battles
streamed from it, votes in the store, promotion by the sequential test.
"""

from __future__ import annotations

import socket

import pytest

from core.schemas import JobStatus
from eval.arena import Arena, OpenAIStreams
from training.runs.jobs import JobRunner
from training.runs.registry import champion, lineage
from training.runs.retrain import RetrainConfig, retrain
from training.serving.serve import served_models
from ui.ops.arena import promote

SMALL = {"max_steps": 3, "max_length": 64, "logging_steps": 1, "eval_steps": 0, "save_steps": 100}
VOICE = ["Think of it like a river: everything downstream drinks from it.",
         "Measure twice, pull wire once. That's the whole job, honestly.",
         "Self-hosting is owning your tools instead of renting them."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def play(arena: Arena, n: int, *, winner: str | None = None, written: bool = False, prompt: str = "q") -> None:
    for i in range(n):
        b = arena.new_battle(source="typed", prompt=f"{prompt} {i}: why does it matter?")
        for _ in arena.stream_answers(b.id):
            pass
        choice = "left" if winner is None or b.left_model == winner else "right"
        arena.vote(b.id, choice, written_answer=VOICE[i % len(VOICE)] if written else None)


@pytest.mark.slow  # three TRL runs and a CPU server, each a subprocess importing torch
def test_votes_to_voice_v2_served_and_in_the_next_battle(store, settings, tiny_model) -> None:
    runner = JobRunner(store, settings)
    server = runner.start("serve", {"base_model": str(tiny_model), "backend": "cpu", "port": free_port(),
                                    "health_timeout": 180})
    try:
        up = runner.wait(server.id, timeout=240)
        assert up.status == JobStatus.running and up.output, up.error
        url = up.output
        streams = OpenAIStreams(max_tokens=16)
        champ = lambda: (c.name if (c := champion(store)) else None)  # noqa: E731

        # Round 1: base vs the prompting baseline, with written answers -> voice-v1 (SFT only).
        arena = Arena(store, streams, champion=champ, seed=1)
        play(arena, 3, written=True, prompt="round1")
        v1 = retrain(store, settings, lambda t: (t, []), RetrainConfig(preset="tiny-cpu", dpo=False, overrides=SMALL),
                     runner=runner)
        assert v1.name == "voice-v1" and v1.gold == 3 and v1.endpoint == url

        # voice-v1 wins every vote against the base until the sequential test promotes it.
        base = next(m.name for m in store.registry.list_models(kind="base"))
        duel = Arena(store, streams, champion=champ, seed=2,
                     contestants=lambda: [c for c in arena.contestants() if c.name in (base, "voice-v1")])
        play(duel, 12, winner="voice-v1", prompt="duel")
        decision = promote(store, settings, challenger="voice-v1")
        assert decision["promote"], decision
        assert champion(store).name == "voice-v1"

        # Round 2: more votes with written answers -> SFT + DPO -> voice-v2, child of the champion.
        play(duel, 3, winner="voice-v1", written=True, prompt="round2")
        v2 = retrain(store, settings, lambda t: (t, []), RetrainConfig(preset="tiny-cpu", overrides=SMALL),
                     runner=runner)
        assert v2.name == "voice-v2" and v2.parent == "voice-v1" and len(v2.jobs) == 2 and v2.pairs > 0
        rec = store.registry.require_model("voice-v2")
        assert rec.method == "sft+dpo" and rec.endpoint == url and rec.preference_ids
        assert [m.name for m in lineage(store, "voice-v2")] == ["voice-v2", "voice-v1"]
        # It continued the champion rather than starting over from the base: SFT started from
        # voice-v1's weights, and DPO from that SFT adapter, its frozen reference.
        sft_job, dpo_job = (store.registry.require_job(j) for j in v2.jobs)
        assert sft_job.config["parent_adapter"] == store.registry.require_model("voice-v1").path
        assert dpo_job.config["parent_adapter"] == sft_job.output
        assert "voice-v2" in served_models(url.removesuffix("/v1"))

        # The next battle puts the new adapter against the champion, streamed from the server.
        nxt = Arena(store, streams, champion=champ, seed=3, champion_share=1.0)
        b = nxt.new_battle(source="typed", prompt="what's next?")
        assert {b.left_model, b.right_model} == {"voice-v1", "voice-v2"}
        frames = list(nxt.stream_answers(b.id))
        assert frames, "no streamed output"
        stored = store.arena.battle(b.id)
        assert stored.left_answer or stored.right_answer
        assert champion(store).name == "voice-v1"  # a finished run never promotes itself
    finally:
        runner.cancel(server.id, grace=10)

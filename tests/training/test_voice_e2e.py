"""End to end on CPU: train the tiny model on the person's messages, serve base + adapter over
HTTP, generate from both, and show the adapter writes closer to the person than the base."""

from __future__ import annotations

import re
import socket

import pytest

from core.generate import GenerationClient
from core.schemas import JobStatus
from training.jobs import JobRunner
from training.recipe import resolve_config
from training.registry import register_adapter

WORD = re.compile(r"[a-z']+")


def vocabulary_share(texts: list[str], vocabulary: set[str]) -> float:
    """Persona-vocabulary measure: share of generated tokens (whitespace-separated) that are
    words of the person's vocabulary. Gibberish and foreign fragments count against it."""
    tokens = [t for text in texts for t in text.lower().split()]
    hits = sum(1 for t in tokens if (w := "".join(WORD.findall(t))) and w in vocabulary)
    return hits / max(1, len(tokens))


@pytest.mark.slow  # trains 30 steps in-process and starts a CPU server subprocess
def test_adapter_speaks_closer_to_the_person_than_the_base(tiny_model, snapshot_dir, pairs, tmp_path,
                                                           store, settings, no_network):
    from training import sft

    sft.main(resolve_config("tiny-cpu", dict(base_model=str(tiny_model), snapshot=str(snapshot_dir),
                                             output_dir=str(tmp_path / "run"), max_steps=30,
                                             max_length=192, eval_steps=0, save_steps=100)))
    voice = register_adapter(store, path=tmp_path / "run" / "adapter")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = JobRunner(store, settings)
    job = runner.start("serve", {"base_model": str(tiny_model), "base_name": "tiny", "served_name": "tiny",
                                 "adapters": {voice.name: voice.path}, "backend": "cpu", "port": port,
                                 "health_timeout": 120})
    try:
        ready = runner.wait(job.id, timeout=150)
        assert ready.output, ready.error
        client = GenerationClient(ready.output, timeout=60)
        base = store.registry.require_model("tiny")
        served = store.registry.require_model(voice.name)
        prompts = [p for p, _ in pairs[:10]]

        def answers(model: str) -> list[str]:
            return [client.chat(model, [{"role": "system", "content": "You are Dale."},
                                        {"role": "user", "content": p}],
                                max_tokens=40, temperature=1.0, seed=i).text for i, p in enumerate(prompts)]

        base_out, voice_out = answers(base.served_name), answers(served.served_name)
    finally:
        runner.cancel(job.id, grace=10)

    vocabulary = {w for _, answer in pairs for w in WORD.findall(answer.lower())}
    base_share = vocabulary_share(base_out, vocabulary)
    voice_share = vocabulary_share(voice_out, vocabulary)
    assert any(t.strip() for t in voice_out) and any(t.strip() for t in base_out)
    # Random weights emit byte-level fragments; the adapter emits the person's words.
    assert voice_share > base_share + 0.1, (base_share, voice_share, voice_out[:3])
    assert runner.poll(job.id).status == JobStatus.cancelled

"""Voice-eval fixtures: the shared export fixtures imported once, split by conversation."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXPORTS


@dataclass(frozen=True)
class VoiceFixture:
    """Fixture text in four disjoint conversation groups, person and assistant turns apart.

    The person's words are `own_text` (pasted logs and code removed by the importer), as the
    CLI uses them. Groups come from a stable hash of the conversation id.
    """

    person: dict[int, list[str]]
    assistant: dict[int, list[str]]


def load_voice_fixture(home: Path) -> VoiceFixture:
    """Import the shared exports into a fresh store under `home` and group their turns."""
    from agent.ingest import import_exports
    from agent.scrub import Scrubber
    from core.config import Settings
    from core.store import Store

    settings = Settings(home=home)
    settings.ensure_dirs()
    store = Store.open(settings.db_url)
    try:
        import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=store, scrubber=Scrubber())
        person: dict[int, list[str]] = {g: [] for g in range(4)}
        assistant: dict[int, list[str]] = {g: [] for g in range(4)}
        for role, out in (("person", person), ("assistant", assistant)):
            for m in store.conversations.messages(role=role):
                text = (m.own_text or m.text).strip()
                if text:
                    out[zlib.crc32(m.conversation_id.encode()) % 4].append(text)
    finally:
        store.close()
    return VoiceFixture(person=person, assistant=assistant)


@pytest.fixture(scope="session")
def voice_fixture(tmp_path_factory: pytest.TempPathFactory) -> VoiceFixture:
    return load_voice_fixture(tmp_path_factory.mktemp("voice-home"))

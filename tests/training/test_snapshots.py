"""Snapshots: content-hashed, versioned, immutable, written atomically, byte-identical for a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError, NotFound
from core.schemas import Example, ExampleStatus, PreferencePair, Scores
from training.dataset.snapshots import DATA_FILES, build_files, create_snapshot, load_snapshot, write_atomically

TOPICS = ["breakers", "busbars", "self-hosting", "event buses", "free will", "pricing", "CUDA drivers",
          "grounding", "queues", "licensing", "load calcs", "retries"]


def seed_examples(store, n: int = 24) -> list[Example]:
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        out.append(store.examples.add(Example(
            prompt=f"Question {i}: what do you actually think about {topic}, round {i // len(TOPICS)}?",
            reasoning=f"He answers {topic} from experience first; example {i} leans on a concrete case.",
            response=(f"Answer {i} on {topic}: " + " ".join(f"w{i}x{j}" for j in range(12))
                      + " and that's the whole story."),
            domain=["architecture", "reasoning", "electrical", "coding", "philosophy"][i % 5],
            conversation_id=f"conv-{i // 2}", status=ExampleStatus.approved, scores=Scores(overall=8),
        )))
    store.examples.add(Example(prompt="A pending one, not in any snapshot yet?", reasoning="r" * 30,
                               response="pending " * 10))
    store.examples.add_pair(PreferencePair(prompt="Rent or own the GPU?", chosen="Own it, like a truck.",
                                           rejected="As an AI I cannot say.", chosen_reasoning="cost math"))
    store.examples.add_pair(PreferencePair(prompt="Who to email?", chosen="dale@groundfaultlabs.example",
                                           rejected="nobody"))
    return out


def test_snapshot_is_versioned_content_addressed_and_immutable(store, settings) -> None:
    seed_examples(store)
    snap, created = create_snapshot(store, settings, seed=7, validation_fraction=0.25)
    assert created and snap.version == 1
    folder = Path(snap.path)
    assert folder.name == f"1-{snap.id[:12]}" and folder.parent == settings.snapshots_dir
    for name in (*DATA_FILES, "qc_report.json", "manifest.json"):
        assert (folder / name).exists()
        assert not (folder / name).stat().st_mode & 0o222  # read-only
    assert snap.n_train + snap.n_validation == 24 and snap.n_validation > 0
    assert snap.n_preferences == 1 and snap.qc_report["preferences_dropped_secret"] == 1
    assert not [p for p in settings.snapshots_dir.iterdir() if p.name.startswith(".")]  # no temp left

    again, created_again = create_snapshot(store, settings, seed=7, validation_fraction=0.25)
    assert not created_again and again.id == snap.id and again.version == 1

    other, created_other = create_snapshot(store, settings, seed=8, validation_fraction=0.25)
    assert created_other and other.version == 2 and other.id != snap.id
    assert store.snapshots.latest().id == other.id
    assert [s.version for s in store.snapshots.list()] == [2, 1]
    assert store.snapshots.get(1).id == snap.id
    assert store.snapshots.get(snap.id[:8]).version == 1
    with pytest.raises(NotFound):
        store.snapshots.get(99)

    loaded = load_snapshot(folder)
    assert {e.id for e in loaded["train"]}.isdisjoint({e.id for e in loaded["validation"]})
    assert loaded["manifest"]["id"] == snap.id
    train_convs = {e.conversation_id for e in loaded["train"]}
    assert train_convs.isdisjoint({e.conversation_id for e in loaded["validation"]})


def test_same_seed_gives_byte_identical_files(store) -> None:
    exs = seed_examples(store)
    a, _, id_a = build_files(exs, store.examples.pairs(), seed=3, validation_fraction=0.25)
    b, _, id_b = build_files(list(reversed(exs)), store.examples.pairs(), seed=3, validation_fraction=0.25)
    assert id_a == id_b
    for name in (*DATA_FILES, "qc_report.json"):
        assert a[name] == b[name], name
    c, _, id_c = build_files(exs, store.examples.pairs(), seed=4, validation_fraction=0.25)
    assert id_c != id_a and c["validation.jsonl"] != a["validation.jsonl"]
    row = json.loads(a["train.jsonl"].splitlines()[0])
    assert {"prompt", "reasoning", "response", "domain", "conversation_id", "score"} <= set(row)


def test_nothing_to_snapshot_is_a_clear_error(store, settings) -> None:
    with pytest.raises(ConfigError, match="no approved examples"):
        create_snapshot(store, settings)


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    files = {"a.txt": b"ok", "b.txt": None}  # writing None fails half way through
    with pytest.raises(TypeError):
        write_atomically(tmp_path, "snap", files)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    write_atomically(tmp_path, "snap", {"a.txt": b"ok"})
    with pytest.raises(ConfigError, match="already exists"):
        write_atomically(tmp_path, "snap", {"a.txt": b"other"})
    assert (tmp_path / "snap" / "a.txt").read_bytes() == b"ok"

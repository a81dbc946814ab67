"""The retrain run's data: the newest snapshot plus the arena's gold answers and preference pairs, rendered.

Torch-free, like training/runs/retrain.py, which chains the jobs that train on this folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from core.schemas import ExampleOrigin, ExampleStatus, utcnow
from training.dataset.export import preference_row, sft_row
from training.dataset.preferences import arena_pairs
from training.reasoning import Family, family_for

if TYPE_CHECKING:
    from core.store import Store


def _latest_snapshot_dir(store: Store) -> Path | None:
    snap = store.snapshots.latest()
    return Path(snap.path) if snap is not None else None


def render_family(family: str, base_model: str) -> Family:
    """Pick the reasoning format to render examples in.

    Presets and the renderer share one set of family names (`training.reasoning.FAMILIES`);
    a family that names nothing known falls back to the base model's name, then to "none"
    (reasoning dropped, answer only), which is right for models without a reasoning format.
    """
    for key in (family, base_model):
        try:
            return family_for(key)
        except ValueError:
            continue
    return family_for("none")


def build_retrain_data(store: Store, out_dir: Path, *, snapshot_dir: Path | None, family: Family) -> dict[str, Any]:
    """Write train/validation/preferences JSONL for the retrain run; returns counts and lineage."""
    from training.dataset.snapshots import load_snapshot

    fam = family
    snap: dict[str, Any] = {"train": [], "validation": [], "preferences": [], "manifest": {}}
    if snapshot_dir is not None:
        snap = load_snapshot(snapshot_dir)
    seen = {e.fingerprint() for e in snap["train"]}
    gold = [g for g in store.examples.list(origin=ExampleOrigin.gold, status=ExampleStatus.approved)
            if g.fingerprint() not in seen]
    train = [sft_row(e, fam) for e in [*snap["train"], *gold]]
    if not train:
        raise ConfigError("nothing to train on: no snapshot examples and no gold answers written in the arena "
                          "(create a snapshot with `idiolect dataset snapshot`, or write better answers while voting)")
    pairs = arena_pairs(store)
    ids = {p.id for p in pairs}
    all_pairs = [*pairs, *(p for p in snap["preferences"] if p.id not in ids)]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("validation.jsonl", [sft_row(e, fam) for e in snap["validation"]]),
                       ("preferences.jsonl", [preference_row(p, fam) for p in all_pairs])):
        (out_dir / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    snapshot_id = snap["manifest"].get("id")
    manifest = {"id": snapshot_id, "kind": "retrain", "created_at": utcnow().isoformat(),
                "snapshot_dir": str(snapshot_dir) if snapshot_dir else None, "gold": len(gold),
                "pairs": len(all_pairs), "arena_pairs": len(pairs)}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), "utf-8")
    return {"train": len(train), "gold": len(gold), "pairs": len(all_pairs), "arena_pair_ids": [p.id for p in pairs],
            "snapshot_id": snapshot_id}

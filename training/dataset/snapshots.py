"""Immutable, versioned dataset snapshots: QC, split, files written atomically, recorded in the store.

A snapshot folder `<snapshots_dir>/<version>-<hash12>/` holds, family-agnostic:
train.jsonl, validation.jsonl (one example per line, reasoning and response apart),
preferences.jsonl (DPO pairs), qc_report.json and manifest.json. The id is a sha256 of the
three data files and the seed, so the same data and seed give the same id: taking a
snapshot of unchanged data returns the existing one instead of a new version.
Export (training/dataset/export.py) renders a snapshot for a target model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, NotFound
from core.schemas import Example, ExampleStatus, PreferencePair, Snapshot, utcnow
from training.dataset.qc import Embed, QCConfig, QCReport, Scrub, find_secrets, qc_config, run_qc
from training.dataset.split import split_examples

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

DATA_FILES = ("train.jsonl", "validation.jsonl", "preferences.jsonl")

# The fields an example keeps in a snapshot: what training and provenance need, nothing volatile.
EXAMPLE_FIELDS = ("id", "prompt", "system", "reasoning", "response", "domain", "tags", "origin",
                  "conversation_id", "source_message_ids", "model", "prompt_version", "created_at")


def example_row(ex: Example) -> dict[str, Any]:
    """Serialise one example as a snapshot line."""
    d = ex.model_dump(mode="json", include=set(EXAMPLE_FIELDS))
    d["score"] = ex.scores.overall
    return d


def pair_row(p: PreferencePair) -> dict[str, Any]:
    """Serialise one preference pair as a snapshot line."""
    return p.model_dump(mode="json", include={"id", "prompt", "system", "chosen", "rejected",
                                              "chosen_reasoning", "rejected_reasoning", "origin",
                                              "battle_id", "conversation_id", "created_at"})


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode("utf-8")


def clean_pairs(pairs: list[PreferencePair], scrub: Scrub | None) -> tuple[list[PreferencePair], int]:
    """Pairs with no secret left in them, and how many were dropped."""
    kept, dropped = [], 0
    for p in pairs:
        text = "\n".join([p.system or "", p.prompt, p.chosen, p.rejected, p.chosen_reasoning,
                          p.rejected_reasoning])
        bad = bool(find_secrets(text)) or (scrub is not None and bool(scrub(text)[1]))
        if bad:
            dropped += 1
        else:
            kept.append(p)
    return sorted(kept, key=lambda p: (p.id or "", p.prompt)), dropped


def build_files(
    examples: list[Example],
    pairs: list[PreferencePair],
    *,
    seed: int = 0,
    validation_fraction: float = 0.1,
    qc: QCConfig | None = None,
    embed: Embed | None = None,
    scrub: Scrub | None = None,
) -> tuple[dict[str, bytes], QCReport, str]:
    """QC + split + serialise: ({file name: bytes}, QC report, content id). Pure: writes nothing."""
    kept, report = run_qc(examples, qc, embed=embed, scrub=scrub)
    train, validation = split_examples(kept, validation_fraction=validation_fraction, seed=seed)
    good_pairs, dropped_pairs = clean_pairs(pairs, scrub)
    files = {
        "train.jsonl": _jsonl([example_row(e) for e in train]),
        "validation.jsonl": _jsonl([example_row(e) for e in validation]),
        "preferences.jsonl": _jsonl([pair_row(p) for p in good_pairs]),
    }
    h = hashlib.sha256(f"seed={seed}\n".encode())
    for name in DATA_FILES:
        h.update(name.encode() + b"\x00" + files[name] + b"\x00")
    qc_dict = report.to_dict()
    qc_dict.update(n_train=len(train), n_validation=len(validation), n_preferences=len(good_pairs),
                   preferences_dropped_secret=dropped_pairs, seed=seed,
                   validation_fraction=validation_fraction)
    files["qc_report.json"] = json.dumps(qc_dict, indent=2, sort_keys=True, default=str).encode("utf-8")
    return files, report, h.hexdigest()


def write_atomically(root: Path, name: str, files: dict[str, bytes]) -> Path:
    """Write `files` into `root/name` via a temporary sibling folder renamed into place.

    A reader never sees a half-written snapshot; files are made read-only because a
    snapshot is immutable.
    """
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if final.exists():
        raise ConfigError(f"{final}: snapshot folder already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        for fname, data in files.items():
            with open(tmp / fname, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            (tmp / fname).chmod(0o444)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def create_snapshot(
    store: Store,
    settings: Settings,
    *,
    seed: int = 0,
    validation_fraction: float = 0.1,
    qc: QCConfig | None = None,
    embed: Embed | None = None,
    scrub: Scrub | None = None,
    note: str = "",
    include_pending: bool = False,
) -> tuple[Snapshot, bool]:
    """Snapshot the approved examples and all preference pairs; returns (snapshot, created).

    Raises:
        ConfigError: when there is nothing to snapshot.

    """
    status = None if include_pending else ExampleStatus.approved
    examples = [e for e in store.examples.iter_all()
                if (status is None and e.status != ExampleStatus.rejected) or e.status == status]
    if not examples:
        raise ConfigError("no approved examples to snapshot; approve some in the Dataset tab first")
    files, report, digest = build_files(examples, store.examples.pairs(), seed=seed,
                                        validation_fraction=validation_fraction, qc=qc or qc_config(settings),
                                        embed=embed, scrub=scrub)
    try:
        existing = store.snapshots.get(digest)
    except NotFound:
        existing = None
    if existing is not None and Path(existing.path).exists():
        return existing, False
    qc_dict = json.loads(files["qc_report.json"])
    if report.kept == 0:
        raise ConfigError(f"QC dropped all {report.total} examples ({report.dropped}); nothing to snapshot")
    version = existing.version if existing else store.snapshots.next_version()
    snap_path = settings.snapshots_dir / f"{version}-{digest[:12]}"
    created_at = utcnow()
    files["manifest.json"] = json.dumps({
        "id": digest, "version": version, "created_at": created_at.isoformat(), "seed": seed,
        "files": list(DATA_FILES), "note": note, "format": "idiolect-snapshot/1",
    }, indent=2).encode("utf-8")
    write_atomically(settings.snapshots_dir, snap_path.name, files)
    snap = Snapshot(id=digest, version=version, created_at=created_at, seed=seed, path=str(snap_path),
                    n_train=qc_dict["n_train"], n_validation=qc_dict["n_validation"],
                    n_preferences=qc_dict["n_preferences"], qc_report=qc_dict, note=note)
    return store.snapshots.add(snap), True


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a snapshot JSONL file."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_snapshot(path: str | Path) -> dict[str, Any]:
    """{"train": [Example], "validation": [Example], "preferences": [PreferencePair], "manifest": {...}}.

    Raises:
        NotFound: when the folder is not a snapshot.

    """
    root = Path(path)
    if not (root / "train.jsonl").exists():
        raise NotFound(f"{root}: not a snapshot folder (no train.jsonl)")

    def as_example(r: dict[str, Any]) -> Example:
        r = dict(r)
        score = r.pop("score", None)
        return Example(**r, scores={"overall": score}, status=ExampleStatus.approved)

    manifest_path = root / "manifest.json"
    return {
        "train": [as_example(r) for r in read_rows(root / "train.jsonl")],
        "validation": [as_example(r) for r in read_rows(root / "validation.jsonl")],
        "preferences": [PreferencePair(**r) for r in read_rows(root / "preferences.jsonl")],
        "manifest": json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {},
    }

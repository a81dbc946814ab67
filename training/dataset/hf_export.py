"""Export a snapshot as a Hugging Face `datasets` folder, and push it to the Hub only when asked.

Imports `datasets`, so the app runs it as a subprocess (the UI process never loads it):

    python -m training.dataset.hf_export SNAPSHOT_DIR OUT_DIR --target-model qwen3 [--push-to-hub USER/REPO]

Prints one JSON object (the export manifest) on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import ConfigError, IdiolectError
from training.dataset.export import preference_row, prepare_out, sft_row, write_manifest
from training.dataset.snapshots import load_snapshot
from training.reasoning import Family, family_for


def save_hf_dataset(snap: dict[str, Any], out: Path, fam: Family) -> list[Path]:
    """`DatasetDict(train, validation)` saved to `out/sft`, pairs to `out/preferences` when there are any."""
    from datasets import Dataset, DatasetDict

    splits = {"train": Dataset.from_list([sft_row(e, fam) for e in snap["train"]])}
    if snap["validation"]:
        splits["validation"] = Dataset.from_list([sft_row(e, fam) for e in snap["validation"]])
    DatasetDict(splits).save_to_disk(str(out / "sft"))
    files = [out / "sft"]
    if snap["preferences"]:
        Dataset.from_list([preference_row(p, fam) for p in snap["preferences"]]).save_to_disk(
            str(out / "preferences"))
        files.append(out / "preferences")
    return files


def export_hf(snapshot_dir: str | Path, out_dir: str | Path, *, target: str = "qwen3") -> dict[str, Any]:
    """Write the `hf` export of a snapshot; returns the manifest (with `path`).

    Raises:
        ConfigError: for an unknown target or a non-empty out_dir.

    """
    try:
        fam = family_for(target)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    snap = load_snapshot(snapshot_dir)
    out = prepare_out(out_dir)
    return write_manifest(out, snap, snapshot_dir, "hf", fam, save_hf_dataset(snap, out, fam))


def hub_is_offline() -> bool:
    """Whether huggingface_hub runs offline (HF_HUB_OFFLINE, which idiolect sets by default)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def push_to_hub(export_dir: str | Path, repo_id: str, *, token: str | None, local_only: bool,
                offline: bool, private: bool = True) -> str:
    """Push an `hf` export to the Hugging Face Hub (private by default); returns the dataset URL.

    Guarded: refused when the owner set `local_only`, when the hub is offline (HF_HUB_OFFLINE,
    idiolect's default), or without a token. Only ever called on an explicit request.

    Raises:
        ConfigError: when a guard refuses.

    """
    if local_only:
        raise ConfigError("push to the Hub refused: local_only is set")
    if offline:
        raise ConfigError("push to the Hub refused: the Hugging Face Hub is offline (HF_HUB_OFFLINE)")
    if not token:
        raise ConfigError("push to the Hub needs a Hugging Face token (--hf-token)")
    sft = Path(export_dir) / "sft"
    if not sft.exists():
        raise ConfigError(f"{export_dir}: not an hf export (no sft/ folder)")
    from datasets import load_from_disk

    load_from_disk(str(sft)).push_to_hub(repo_id, token=token, private=private)
    return f"https://huggingface.co/datasets/{repo_id}"


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshot_dir")
    p.add_argument("out_dir")
    p.add_argument("--target-model", default="qwen3")
    p.add_argument("--push-to-hub", default=None, metavar="REPO")
    p.add_argument("--hf-token-stdin", action="store_true",
                   help="read the Hub token from stdin (keeps it out of the process list)")
    p.add_argument("--local-only", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    token = sys.stdin.readline().strip() or None if args.hf_token_stdin else None
    try:
        summary = export_hf(args.snapshot_dir, args.out_dir, target=args.target_model)
        if args.push_to_hub:
            summary["pushed"] = push_to_hub(summary["path"], args.push_to_hub, token=token,
                                            local_only=args.local_only, offline=hub_is_offline())
    except IdiolectError as e:
        print(json.dumps({"error": str(e)}))
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

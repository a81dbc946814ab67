"""Dataset operations: QC inputs, the report card's data and exports for a trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def qc_callables(sv: Any, semantic: bool) -> dict[str, Any]:
    """Return the embed and scrub callables QC takes (embedding through the store's cache).

    Embedding is optional because it is the slow step; with the cache every text is embedded
    once (usually already when the agent stored it), so repeat reports cost no embedding.
    """
    return {"embed": sv.embed_cache if semantic else None, "scrub": sv.scrubber.scrub}


def run_hf_export(snapshot_path: str, dest: Path, family: str, *, push_repo: str | None = None,
                  hf_token: str | None = None, local_only: bool = False) -> dict[str, Any]:
    """Run `python -m training.dataset.hf_export` in a subprocess (the app never imports `datasets`).

    Raises:
        ConfigError: with the subprocess's own message when it fails.

    """
    import json
    import subprocess
    import sys

    from core.errors import ConfigError

    cmd = [sys.executable, "-m", "training.dataset.hf_export", str(snapshot_path), str(dest), "--target-model", family]
    if push_repo:
        cmd += ["--push-to-hub", push_repo, "--hf-token-stdin"] + (["--local-only"] if local_only else [])
    proc = subprocess.run(cmd, input=(hf_token or "") + "\n", capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or "error" in result or not result:
        raise ConfigError(result.get("error") or f"hf export failed: {proc.stderr.strip()[-500:]}")
    return result


def export_dataset(sv: Any, *, fmt: str, target_model: str, snapshot_ref: str | None = None,
                   out_dir: Path | None = None, push_repo: str | None = None,
                   hf_token: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Export a snapshot (the latest by default) for a trainer; (snapshot, summary). The CLI and the tab use this.

    `out_dir` defaults to `<home>/exports/v<version>-<id>-<format>-<family>`; a relative one is
    taken from the caller's working directory.

    Raises:
        NotFound: no snapshot (or not the one named).
        ConfigError: unknown format or family, or --push-to-hub without --format hf.

    """
    from core.errors import ConfigError, NotFound
    from training.dataset.export import ALL_FORMATS
    from training.reasoning import family_for

    snap = sv.store.snapshots.get(snapshot_ref) if snapshot_ref else sv.store.snapshots.latest()
    if snap is None:
        raise NotFound(f"no snapshot {snapshot_ref!r}" if snapshot_ref else "no dataset snapshot yet",
                       hint="make one with `idiolect dataset snapshot`")
    if fmt not in ALL_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose from {', '.join(ALL_FORMATS)}")
    try:
        fam = family_for(target_model).name
    except ValueError as e:
        raise ConfigError(str(e)) from e
    if push_repo and fmt != "hf":
        raise ConfigError("--push-to-hub needs --format hf")
    dest = (Path(out_dir).expanduser().resolve() if out_dir else
            sv.settings.home / "exports" / f"v{snap.version}-{snap.id[:8]}-{fmt}-{fam}")
    if fmt == "hf":
        summary = run_hf_export(snap.path, dest, fam, push_repo=push_repo, hf_token=hf_token,
                                local_only=sv.settings.local_only)
    else:
        from training.dataset.export import export_snapshot

        summary = export_snapshot(snap.path, dest, fmt=fmt, target=fam)
    return snap, summary


def approved_examples(sv: Any) -> list[Any]:
    from core.schemas import ExampleStatus

    return sv.store.examples.list(status=ExampleStatus.approved)


def run_report(sv: Any, *, semantic: bool = True) -> dict[str, Any]:
    """QC the approved examples and grade them against the owner's targets."""
    from training.dataset.report_card import assess

    kept, qc, card = assess(approved_examples(sv), sv.settings, **qc_callables(sv, semantic))
    return {"card": card, "qc": qc, "kept": kept}

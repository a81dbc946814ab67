"""Import operation: exports in, scrubbed and stored, words searchable, voice profile refreshed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def import_exports(sv: Any, paths: list[str], *,
                   progress: Callable[[str, int, int, str], None] | None = None) -> dict[str, Any]:
    """Import the exports and refresh the voice profile; returns the import summary.

    The words are searchable on return; filling the dense (meaning) index is the caller's next
    step (a background worker, or a followed fill on the command line).
    """
    from agent.ingest import import_exports as ingest
    from agent.profile import refresh_profile

    summary = ingest(paths, store=sv.store, scrubber=sv.scrubber, progress=progress,
                     chunk_chars=sv.settings.chunk_chars).model_dump()
    refresh_profile(sv.store, name=sv.settings.person_name)
    return summary

"""Profile operations: the stored voice profile and the domains suggested from its topics."""

from __future__ import annotations

from typing import Any


def current_profile(sv: Any, *, refresh: bool = False) -> dict[str, Any]:
    """Return the stored profile, recomputed when asked, missing, or made before topics were clustered."""
    from agent.profile import refresh_profile

    prof = sv.store.kv.get("voice_profile")
    if refresh or prof is None or (prof.get("messages") and "topic_clusters" not in prof):
        prof = refresh_profile(sv.store, name=sv.settings.person_name)
    return prof


def domain_suggestions(sv: Any, *, refresh: bool = False) -> list[dict[str, Any]]:
    """Suggested domains (name, share in percent, keywords) from the clustered topics.

    Raises:
        NotFound: there is not enough history to cluster yet.

    """
    from agent.topics import Topic, suggest_domains
    from core.errors import NotFound

    prof = current_profile(sv, refresh=refresh)
    topics = [Topic(**t) for t in prof.get("topic_clusters") or []]
    if not topics:
        raise NotFound("not enough history to find topics: they need person messages in at least 6 conversations",
                       hint="import your exports first (`idiolect import PATH`)")
    return suggest_domains(topics)

"""The agent's run context, gathered from the services (the chat tab, the CLI and the starter use it)."""

from __future__ import annotations

from typing import Any

from core.errors import LLMError


def make_context(sv: Any, *, need_llm: bool = True) -> Any:
    """Build the agent's run context from the services (the one place its clients are gathered)."""
    from agent.context import Context
    from training.model_ref import is_bundled

    llm = sv.llm
    if llm is None and need_llm:
        raise LLMError("no LLM is configured: set IDIOLECT_LLM_PROVIDER to local (the bundled model), "
                       "anthropic (with IDIOLECT_ANTHROPIC_API_KEY) or openai (with IDIOLECT_LLM_BASE_URL)")
    s = sv.settings
    indexed = sv.store.conversations.totals().get("chunks_indexed", 0) > 0
    compact = s.draft_mode == "compact" or (s.draft_mode == "auto" and s.llm_provider == "local"
                                            and is_bundled(s.base_model))
    judge = sv.judge
    # A small model judging its own drafts gives noise, not scores: compact mode keeps only a
    # judge the owner configured apart from the drafting model.
    if compact and judge is llm:
        judge = None
    served = getattr(llm, "model", None) if s.llm_provider == "local" else s.llm_model
    return Context(llm=llm, judge=judge, store=sv.store, index=sv.message_index if indexed else None,
                   domains=list(s.domains), person_name=s.person_name, model_name=str(served or s.llm_model),
                   on_saved=sv.embed_cache.warm, compact=compact, domain_keywords=dict(s.domain_keywords))

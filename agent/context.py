"""Run dependencies for the drafting graph: clients are built outside and injected here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import DEFAULT_DOMAINS

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from agent.index import MessageIndex
    from core.schemas import Example
    from core.store import Store

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Context:
    """What every node may use. Nodes never build clients; they take them from here."""

    llm: BaseChatModel = field(metadata={"description": "The drafting chat model."})
    store: Store = field(metadata={"description": "The store (examples are written only on approval)."})
    index: MessageIndex | None = field(default=None, metadata={"description": "Search over the owner's messages."})
    judge: BaseChatModel | None = field(default=None,
                                        metadata={"description": "Rubric judge; the drafting model if None."})
    domains: list[str] = field(default_factory=lambda: list(DEFAULT_DOMAINS),
                               metadata={"description": "The domain taxonomy."})
    person_name: str | None = field(default=None, metadata={"description": "The owner's name for prompts."})
    model_name: str = field(default="", metadata={"description": "Drafting model id, for provenance."})
    style_card: str | None = field(default=None, metadata={"description": "Style card; read from the store if None."})
    k: int = field(default=8, metadata={"description": "Source messages retrieved per request."})
    max_drafts: int = field(default=10, metadata={"description": "Most drafts per request."})
    retries: int = field(default=1, metadata={"description": "Retries of a reply that fails validation."})
    compact: bool = field(default=False, metadata={"description": (
        "A small local model drafts: rule-read requests, one short call per example, no model rubric "
        "(agent/compact.py).")})
    domain_keywords: dict[str, list[str]] = field(default_factory=dict, metadata={
        "description": "The owner's keywords per domain, for labelling drafts without a model."})
    on_saved: Callable[[Sequence[Example]], object] | None = field(
        default=None, metadata={"description": "Called with examples just stored (the app embeds them for QC)."})

    def notify_saved(self, examples: Sequence[Example]) -> None:
        """Tell `on_saved` about stored examples (see `notify_saved` below)."""
        notify_saved(self.on_saved, examples)

    def card(self) -> str:
        """Return the style card text (the owner's edited card wins over the generated one)."""
        if self.style_card is not None:
            return self.style_card
        doc: dict[str, Any] = self.store.kv.get("style_card") or {}
        return str(doc.get("text") or "")


def notify_saved(hook: Callable[[Sequence[Example]], object] | None, examples: Sequence[Example]) -> None:
    """Call `hook` with examples just stored; its failure is logged, never raised.

    The save has already happened: the examples are stored, and QC embeds whatever was missed later.
    """
    if hook is None or not examples:
        return
    try:
        hook(examples)
    except Exception as e:  # noqa: BLE001  (an optional side job; the save itself succeeded)
        log.warning("on_saved hook failed for %d example(s): %s", len(examples), e)

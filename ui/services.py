"""The one place real clients are built. Everything else receives them."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.store import Store

if TYPE_CHECKING:
    from agent.index import MessageIndex
    from agent.scrub import Scrubber
    from core.embed import Embedder
    from core.embedcache import CachedEmbed
    from core.vectors import VectorIndex
    from training.serving.local_server import LocalServer


class Services:
    """Lazily built clients for one settings object.

    Heavy clients (the embedder loads torch; Chroma opens files) are built on first use so
    `idiolect status` stays fast. Tests pass ready-made fakes for anything out of reach.
    """

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.settings = settings
        settings.ensure_dirs()
        for name, value in overrides.items():
            if value is not None:
                self.__dict__[name] = value  # pre-fills the cached_property of that name

    @cached_property
    def store(self) -> Store:
        return Store.open(self.settings.db_url)

    @cached_property
    def embedder(self) -> Embedder:
        from core.embed import Embedder

        return Embedder.load(self.settings.embedding_model, batch_size=self.settings.embedding_batch_size,
                             device=self.settings.embedding_device)

    @cached_property
    def embed_cache(self) -> CachedEmbed:
        """The embedder behind the store's vector cache (QC, and warming it when examples are stored).

        The embedder itself loads only on the first miss, so a fully cached QC never loads torch.
        """
        from core.embedcache import CachedEmbed

        return CachedEmbed(lambda texts: self.embedder.encode(texts), self.store, self.settings.embedding_model)

    @cached_property
    def index(self) -> VectorIndex:
        from core.vectors import VectorIndex

        return VectorIndex.open(self.settings, self.embedder)

    @cached_property
    def scrubber(self) -> Scrubber:
        from agent.scrub import Scrubber

        return Scrubber(allow=self.settings.scrub_allow, deny=self.settings.scrub_deny)

    @cached_property
    def message_index(self) -> MessageIndex:
        from agent.index import MessageIndex

        return MessageIndex(self.store, self.index, self.embedder, chunk_chars=self.settings.chunk_chars)

    @cached_property
    def local_server(self) -> LocalServer:
        """The local model server (found or started on first use; see training/serving/local_server.py)."""
        from training.serving.local_server import LocalServer

        return LocalServer(self.store, self.settings)

    def chat_model(self, role: str) -> Any:
        """Build the chat model for `role` ("draft" or "judge"); None when its provider is "none"."""
        from core.llm import make_chat_model

        provider = self.settings.llm_provider if role == "draft" else (
            self.settings.judge_provider or self.settings.llm_provider)
        local = None
        if provider == "local":
            rec = self.local_server.ensure()
            local = (str(rec.endpoint), rec.served_name or self.local_server.served_name)
        return make_chat_model(self.settings, role=role, local=local)  # type: ignore[arg-type]

    @cached_property
    def llm(self) -> Any:
        """The drafting chat model (a LangChain chat model), or None when none is configured."""
        return self.chat_model("draft")

    @cached_property
    def judge(self) -> Any:
        """The judging chat model, or None when none is configured (the drafting model when the same)."""
        s = self.settings
        if s.judge_provider in (None, s.llm_provider) and s.judge_model in (None, s.llm_model):
            return self.llm
        return self.chat_model("judge")

    def close(self) -> None:
        """Stop what this process started (the local model server) and close the store."""
        if "local_server" in self.__dict__:
            self.local_server.stop()
        if "store" in self.__dict__:
            self.store.close()

"""Arena contestants: who can be asked, how each is prompted, how answers stream, and how names stay hidden.

A contestant is a served registry model (base or adapter) or the prompting baseline (the
base model with the style card and retrieved examples in its prompt). Blindness starts
here: `mask_identities` removes every contestant's identifying names from shown text and
`names_itself` flags an answer that announces its own model. Token budgets live in
eval/arena_budget.py: a thinking model's reasoning counts toward max_tokens.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from core.errors import ConfigError, LLMError
from core.generate import GenerationClient
from core.generate import baseline_messages as core_baseline_messages
from core.schemas import ModelKind, ModelRecord, utcnow
from eval.arena_budget import ANSWER_TOKENS, THINKING_TOKENS, estimate_prompt_tokens, fitting_budget, thinking_family

if TYPE_CHECKING:
    from core.store import Store

StreamFn = Callable[["Contestant", list[dict[str, str]]], Iterator[str]]
Retrieve = Callable[[str], list[str]]


@dataclass(frozen=True)
class Contestant:
    """One model the arena can ask: a registry record plus how to prompt it."""

    name: str
    kind: str  # base | adapter | baseline
    base_model: str
    endpoint: str | None = None
    served_name: str | None = None
    path: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    family: str | None = None  # reasoning family when recorded (else read from the base model's name)

    @classmethod
    def from_record(cls, rec: ModelRecord) -> Contestant:
        return cls(name=rec.name, kind=rec.kind.value, base_model=rec.base_model, endpoint=rec.endpoint,
                   served_name=rec.served_name, path=rec.path, created_at=rec.created_at,
                   family=(rec.config or {}).get("family"))

    def identifiers(self) -> list[str]:
        """Strings that would tell a rater which model this is."""
        out = {self.name, self.served_name or "", self.base_model, Path(self.base_model).name,
               self.endpoint or "", self.path or "", Path(self.path).name if self.path else ""}
        return sorted((s for s in out if s), key=len, reverse=True)


def _distinctive(ident: str) -> bool:
    # A plain word ("base") also occurs in ordinary answers; masking or flagging it would
    # corrupt text and cry wolf. Names with digits, dashes, slashes or dots are identities.
    return len(ident) >= 4 and not ident.isalpha()


@lru_cache(maxsize=256)
def _pattern(idents: tuple[str, ...]) -> re.Pattern[str] | None:
    # Cached: the stream masks every partial answer with the same few names, and building
    # the alternation each time would cost more than the masking.
    words = [re.escape(i) for i in idents if _distinctive(i)]
    if not words:
        return None
    return re.compile(r"(?<![\w/.-])(?:" + "|".join(words) + r")(?![\w/-])", re.IGNORECASE)


def names_itself(answer: str, contestant: Contestant) -> bool:
    """Tell whether `answer` contains one of the contestant's own identifying names."""
    pat = _pattern(tuple(contestant.identifiers()))
    return bool(pat and pat.search(answer))


def mask_identities(text: str, contestants: Sequence[Contestant]) -> str:
    """Replace every contestant's identifying names in `text` with "[model]" (blindness)."""
    pat = _pattern(tuple(i for c in contestants for i in c.identifiers()))
    return pat.sub("[model]", text) if pat else text


def contestants_from_registry(store: Store, *, baseline_for: str | None = None) -> list[Contestant]:
    """Servable registry models (those with an endpoint), plus the prompting baseline.

    The baseline is the base model with the style card and retrieved examples in its prompt.
    A registry record of kind "baseline" is used as is; otherwise one called
    "prompting-baseline" is derived from the base model `baseline_for` (default: the first
    served base model), sharing its endpoint.
    """
    recs = [r for r in store.registry.list_models() if r.endpoint and r.status not in ("retired", "failed")]
    out = [Contestant.from_record(r) for r in recs]
    if not any(c.kind == ModelKind.baseline.value for c in out):
        bases = [r for r in recs if r.kind == ModelKind.base]
        base = next((r for r in bases if r.name == baseline_for), bases[0] if bases else None)
        if base is not None:
            out.append(Contestant(name="prompting-baseline", kind=ModelKind.baseline.value,
                                  base_model=base.base_model, endpoint=base.endpoint,
                                  served_name=base.served_name, path=base.path, created_at=base.created_at,
                                  family=(base.config or {}).get("family")))
    return out


def messages_for(contestant: Contestant, prompt: str, *, style_card: str | None = None,
                 retrieve: Retrieve | None = None,
                 baseline_messages: Callable[..., list[dict[str, str]]] | None = None) -> list[dict[str, str]]:
    """Build the chat messages a contestant gets for `prompt`.

    Base models and adapters get the bare prompt (the adapter must carry the voice itself);
    the prompting baseline gets the style card and retrieved examples through
    `baseline_messages(prompt, style_card=..., examples=...)` (default: core.generate's).
    """
    if contestant.kind != ModelKind.baseline.value:
        return [{"role": "user", "content": prompt}]
    build = baseline_messages or core_baseline_messages
    examples = retrieve(prompt) if retrieve else []
    return build(prompt, style_card=style_card or "", examples=examples)


class OpenAIStreams:
    """Streams answers from contestants' OpenAI-compatible endpoints through core.generate.

    One GenerationClient (one pooled HTTP connection set) per endpoint, reused across
    battles: a fresh client per answer costs more than the answer on a local server.
    Only the answer text is shown to raters; reasoning (if the server splits it out) is not.

    `max_tokens` is the answer's budget. A thinking model gets its family's thinking budget on
    top (`thinking_tokens`, default THINKING_TOKENS): vLLM counts reasoning toward max_tokens,
    so a flat cap would let Qwen3 think its whole budget away and show raters nothing. The sum
    is kept inside the model's context window (max_model_len from /v1/models, less the prompt),
    and a request vLLM still finds too long is retried once with the room its error names.
    """

    def __init__(self, *, max_tokens: int = ANSWER_TOKENS, thinking_tokens: dict[str, int] | None = None,
                 temperature: float = 0.7, timeout_s: float = 120.0) -> None:
        self.max_tokens = max_tokens
        self.thinking_tokens = THINKING_TOKENS if thinking_tokens is None else thinking_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self._clients: dict[str, GenerationClient] = {}
        self._windows: dict[tuple[str, str], int | None] = {}
        self._lock = threading.Lock()

    def _client(self, endpoint: str) -> GenerationClient:
        with self._lock:
            if endpoint not in self._clients:
                client = GenerationClient(endpoint, timeout=self.timeout_s, max_retries=1)
                _ = client.http  # build the pool here, under the lock: racing threads would each build one
                self._clients[endpoint] = client
            return self._clients[endpoint]

    def context_window(self, contestant: Contestant) -> int | None:
        """Return the served model's max_model_len (an adapter's is its base's); None when unknown.

        Learned once per endpoint and model; an endpoint that cannot be reached is asked again
        next time (the server may still be loading its engine).
        """
        model = contestant.served_name or contestant.name
        key = (contestant.endpoint or "", model)
        if key in self._windows:
            return self._windows[key]
        client = self._client(contestant.endpoint or "")
        try:
            cards = client.http.get(f"{client.base_url}/models").json().get("data", [])
        except httpx.TransportError:
            return None
        except (httpx.HTTPError, ValueError, AttributeError):
            cards = []  # not a vLLM-style listing: the retry in __call__ still keeps requests valid
        by_id = {c.get("id"): c for c in cards if isinstance(c, dict)}
        card = by_id.get(model) or {}
        window = card.get("max_model_len") or (by_id.get(card.get("parent")) or {}).get("max_model_len")
        self._windows[key] = int(window) if window else None
        return self._windows[key]

    def budget(self, contestant: Contestant, messages: list[dict[str, str]]) -> int:
        """Return max_tokens for this contestant: answer + its family's thinking, inside the window."""
        want = self.max_tokens + self.thinking_tokens.get(thinking_family(contestant.family, contestant.base_model), 0)
        window = self.context_window(contestant)
        if window:
            want = min(want, max(1, window - estimate_prompt_tokens(messages)))
        return want

    def __call__(self, contestant: Contestant, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the contestant's answer to `messages` chunk by chunk."""
        if not contestant.endpoint:
            raise ConfigError(f"model {contestant.name!r} has no endpoint; serve it first (`idiolect serve`)")
        client = self._client(contestant.endpoint)
        model = contestant.served_name or contestant.name
        started = False
        try:
            for delta in client.stream(model, messages, max_tokens=self.budget(contestant, messages),
                                       temperature=self.temperature):
                started = True
                if delta.text:
                    yield delta.text
            return
        except LLMError as e:
            room = None if started else fitting_budget(str(e))
            if room is None:
                raise
        for delta in client.stream(model, messages, max_tokens=room, temperature=self.temperature):
            if delta.text:
                yield delta.text

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()

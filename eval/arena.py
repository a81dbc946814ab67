"""Blind A/B battles: contestants, prompts, pairing, side randomisation, parallel streaming, votes, reveal.

No Gradio here: the Arena tab and the API tests drive the same `Arena` object. The tab keeps
only a battle id in its session state; which model sits on which side lives in the store
and is handed out only by `Arena.vote`, after the vote is appended.
"""

from __future__ import annotations

import json
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.errors import ConfigError, IdiolectError
from core.generate import GenerationClient
from core.generate import baseline_messages as core_baseline_messages
from core.schemas import Battle, ModelKind, ModelRecord, Vote, VoteChoice, utcnow

if TYPE_CHECKING:
    from core.store import Store

PromptSource = Literal["golden", "validation", "typed"]

# Used when the owner has no golden set yet: one prompt per default domain, written so any
# voice (and any base model) has something to say.
DEFAULT_PROMPTS = [
    "Why would anyone bother self-hosting their own services instead of paying for the cloud?",
    "Explain what a circuit breaker actually protects, to someone who just bought a house.",
    "Is it ever rational to change your mind because an argument is persuasive but you can't find the flaw?",
    "How would you design a job queue that never loses work when the machine crashes mid-task?",
    "What's the first thing you check when a Python service gets slower every day?",
]

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

    @classmethod
    def from_record(cls, rec: ModelRecord) -> Contestant:
        return cls(name=rec.name, kind=rec.kind.value, base_model=rec.base_model, endpoint=rec.endpoint,
                   served_name=rec.served_name, path=rec.path, created_at=rec.created_at)

    def identifiers(self) -> list[str]:
        """Strings that would tell a rater which model this is."""
        out = {self.name, self.served_name or "", self.base_model, Path(self.base_model).name,
               self.endpoint or "", self.path or "", Path(self.path).name if self.path else ""}
        return sorted((s for s in out if s), key=len, reverse=True)


def _distinctive(ident: str) -> bool:
    # A plain word ("base") also occurs in ordinary answers; masking or flagging it would
    # corrupt text and cry wolf. Names with digits, dashes, slashes or dots are identities.
    return len(ident) >= 4 and not ident.isalpha()


def _pattern(idents: Sequence[str]) -> re.Pattern[str] | None:
    words = [re.escape(i) for i in idents if _distinctive(i)]
    if not words:
        return None
    return re.compile(r"(?<![\w/.-])(?:" + "|".join(words) + r")(?![\w/-])", re.IGNORECASE)


def names_itself(answer: str, contestant: Contestant) -> bool:
    """Tell whether `answer` contains one of the contestant's own identifying names."""
    pat = _pattern(contestant.identifiers())
    return bool(pat and pat.search(answer))


def mask_identities(text: str, contestants: Sequence[Contestant]) -> str:
    """Replace every contestant's identifying names in `text` with "[model]" (blindness)."""
    pat = _pattern([i for c in contestants for i in c.identifiers()])
    return pat.sub("[model]", text) if pat else text


# --------------------------------------------------------------------------- contestants


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
                                  served_name=base.served_name, path=base.path, created_at=base.created_at))
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
    """

    def __init__(self, *, max_tokens: int = 512, temperature: float = 0.7, timeout_s: float = 120.0) -> None:
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self._clients: dict[str, GenerationClient] = {}
        self._lock = threading.Lock()

    def _client(self, endpoint: str) -> GenerationClient:
        with self._lock:
            if endpoint not in self._clients:
                self._clients[endpoint] = GenerationClient(endpoint, timeout=self.timeout_s, max_retries=1)
            return self._clients[endpoint]

    def __call__(self, contestant: Contestant, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the contestant's answer to `messages` chunk by chunk."""
        if not contestant.endpoint:
            raise ConfigError(f"model {contestant.name!r} has no endpoint; serve it first (`idiolect serve`)")
        for delta in self._client(contestant.endpoint).stream(
                contestant.served_name or contestant.name, messages, max_tokens=self.max_tokens,
                temperature=self.temperature):
            if delta.text:
                yield delta.text

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()


# --------------------------------------------------------------------------- prompts


def golden_prompts(store: Store) -> list[str]:
    """Return the owner's golden prompts when the eval store has them, else the default list."""
    try:
        evals = store.evals
    except ImportError:  # the eval store is optional for the arena
        return list(DEFAULT_PROMPTS)
    for attr in ("golden_prompts", "list_golden", "golden"):
        fn = getattr(evals, attr, None)
        if callable(fn):
            rows = fn()
            prompts = [getattr(r, "prompt", r) for r in rows]
            prompts = [p for p in prompts if isinstance(p, str) and p.strip()]
            if prompts:
                return prompts
    return list(DEFAULT_PROMPTS)


def read_validation_prompts(path: str | Path) -> list[str]:
    """User turns of a snapshot's validation.jsonl (`messages` rows or `prompt` rows).

    Raises:
        ConfigError: the file is missing or a line is not JSON (naming the line).

    """
    p = Path(path)
    if p.is_dir():
        p = p / "validation.jsonl"
    if not p.exists():
        raise ConfigError(f"{p}: no validation split here")
    out: list[str] = []
    for n, line in enumerate(p.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{p}:{n}: not JSON ({e.msg})") from e
        prompt = row.get("prompt")
        if isinstance(prompt, list):  # conversational preference rows
            row = {"messages": prompt}
            prompt = None
        if not isinstance(prompt, str):
            users = [m.get("content", "") for m in row.get("messages", []) if m.get("role") == "user"]
            prompt = users[-1] if users else None
        if prompt and prompt.strip():
            out.append(prompt.strip())
    return out


def validation_prompts(store: Store) -> list[str]:
    """Held-out prompts from the newest snapshot's validation split ([] when there is none)."""
    try:
        snaps = store.snapshots
    except ImportError:
        return []
    latest = getattr(snaps, "latest", None)
    snap = latest() if callable(latest) else None
    if snap is None:
        return []
    try:
        return read_validation_prompts(snap.path)
    except ConfigError:
        return []


# --------------------------------------------------------------------------- pairing


def pick_pair(contestants: Sequence[Contestant], pair_counts: dict[tuple[str, str], int],
              champion: str | None, rng: random.Random, *, champion_share: float = 0.5) -> tuple[str, str]:
    """Choose two contestants (unordered; sides are randomised separately).

    Half the battles (`champion_share`) go to the champion against the newest challenger,
    because that comparison decides promotions; the rest go to the pair with the fewest
    votes so far, so every pair gets measured. Without a champion the oldest base model
    stands in as the one to beat.
    """
    names = [c.name for c in contestants]
    if len(set(names)) < 2:
        raise ConfigError(
            f"the arena needs at least two served models, found {len(set(names))}"
            " (serve a base model and an adapter with `idiolect serve`)")
    by_name = {c.name: c for c in contestants}
    holder = champion if champion in by_name else next(
        (c.name for c in sorted(contestants, key=lambda c: c.created_at) if c.kind == "base"), None)
    if holder is not None and rng.random() < champion_share:
        others = [c for c in contestants if c.name != holder]
        newest = max(others, key=lambda c: (c.kind == "adapter", c.created_at, c.name))
        return holder, newest.name
    pairs = [(a, b) for i, a in enumerate(sorted(names)) for b in sorted(names)[i + 1:]]
    fewest = min(pair_counts.get(p, 0) for p in pairs)
    return rng.choice([p for p in pairs if pair_counts.get(p, 0) == fewest])


# --------------------------------------------------------------------------- the arena


@dataclass
class Reveal:
    """What a rater learns after voting."""

    battle_id: str
    choice: str
    left_model: str
    right_model: str
    winner: str | None
    flags: list[str]

    def describe(self) -> str:
        verdict = {"left": f"You preferred {self.left_model} (left)",
                   "right": f"You preferred {self.right_model} (right)",
                   "tie": "You called it a tie", "both_bad": "You marked both as bad"}[self.choice]
        text = f"Left was **{self.left_model}**, right was **{self.right_model}**. {verdict}."
        if self.flags:
            text += " Flagged: " + ", ".join(self.flags) + "."
        return text


class Arena:
    """The arena's moves, over a store and a way to stream answers.

    Args:
        store: the open Store.
        stream: `stream(contestant, messages)` yields text chunks (core.generate's client).
        champion: returns the current champion's name (or None); read on every battle.
        contestants: returns the current contestants; default: the served registry models.
        style_card: returns the style card text for the prompting baseline.
        retrieve: `retrieve(query) -> list[str]` of the person's messages for the baseline.
        baseline_messages: builds the baseline's messages (default core.generate's).
        seed: fixes pairing and side choices (tests); default random.

    """

    def __init__(self, store: Store, stream: StreamFn, *, champion: Callable[[], str | None] = lambda: None,
                 contestants: Callable[[], list[Contestant]] | None = None,
                 style_card: Callable[[], str | None] = lambda: None, retrieve: Retrieve | None = None,
                 baseline_messages: Callable[..., list[dict[str, str]]] | None = None,
                 seed: int | None = None, champion_share: float = 0.5) -> None:
        self.store = store
        self._stream = stream
        self._champion = champion
        self._contestants = contestants or (lambda: contestants_from_registry(store))
        self._style_card = style_card
        self._retrieve = retrieve
        self._baseline_messages = baseline_messages
        self._rng = random.Random(seed)
        self._lock = threading.Lock()  # random.Random is not safe to share across raters' threads
        self._champion_share = champion_share

    def contestants(self) -> list[Contestant]:
        return self._contestants()

    def prompts(self, source: PromptSource) -> list[str]:
        if source == "golden":
            return golden_prompts(self.store)
        if source == "validation":
            return validation_prompts(self.store)
        raise ConfigError(f"prompt source {source!r} has no list; valid sources: golden, validation, typed")

    def new_battle(self, *, rater: str = "owner", source: PromptSource = "golden",
                   prompt: str | None = None) -> Battle:
        """Pick a prompt and a pair, randomise the sides, and record the battle."""
        if source == "typed" or prompt:
            if not prompt or not prompt.strip():
                raise ConfigError("type a prompt first (the typed source needs one)")
            text, source = prompt.strip(), "typed"
        else:
            pool = self.prompts(source)
            if not pool:
                raise ConfigError(f"no {source} prompts available; create a snapshot or type a prompt")
            with self._lock:
                text = self._rng.choice(pool)
        contestants = self.contestants()
        counts = self.store.arena.pair_counts()
        with self._lock:
            a, b = pick_pair(contestants, counts, self._champion(), self._rng,
                             champion_share=self._champion_share)
            left, right = (a, b) if self._rng.random() < 0.5 else (b, a)
        return self.store.arena.create_battle(Battle(id="", prompt=text, prompt_source=source,
                                                     left_model=left, right_model=right, rater=rater))

    def stream_answers(self, battle_id: str, *, timeout_s: float = 300.0) -> Iterator[tuple[str, str]]:
        """Stream both answers at once; yields (left_so_far, right_so_far), names masked.

        Both sides generate in parallel threads so neither reaches the rater first because of
        the order they were asked. When both finish, the answers and any flags are stored.
        """
        battle = self.store.arena.battle(battle_id)
        by_name = {c.name: c for c in self.contestants()}
        missing = [n for n in (battle.left_model, battle.right_model) if n not in by_name]
        if missing:
            raise ConfigError(f"battle {battle_id}: model(s) {missing} are no longer served")
        sides = [by_name[battle.left_model], by_name[battle.right_model]]
        q: queue.Queue[tuple[int, str | None, BaseException | None]] = queue.Queue()

        def run(k: int, c: Contestant) -> None:
            try:
                msgs = messages_for(c, battle.prompt, style_card=self._style_card(), retrieve=self._retrieve,
                                    baseline_messages=self._baseline_messages)
                for chunk in self._stream(c, msgs):
                    q.put((k, chunk, None))
                q.put((k, None, None))
            except Exception as e:  # noqa: BLE001  (not swallowed: the consumer re-raises it with the side named)
                q.put((k, None, e))

        threads = [threading.Thread(target=run, args=(k, c), daemon=True) for k, c in enumerate(sides)]
        for t in threads:
            t.start()
        texts, done = ["", ""], [False, False]
        deadline = time.monotonic() + timeout_s
        while not all(done):
            try:
                k, chunk, err = q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty as e:
                raise IdiolectError(f"battle {battle_id}: generation timed out after {timeout_s:.0f} s") from e
            if err is not None:
                side = "left" if k == 0 else "right"
                raise IdiolectError(f"battle {battle_id}: the {side} model failed: {err}") from err
            if chunk is None:
                done[k] = True
            else:
                texts[k] += chunk
            yield mask_identities(texts[0], sides), mask_identities(texts[1], sides)
        flags = [f"names_own_model:{side}" for side, c, t in zip(("left", "right"), sides, texts, strict=True)
                 if names_itself(t, c)]
        self.store.arena.set_answers(battle_id, texts[0], texts[1], flags)

    def vote(self, battle_id: str, choice: VoteChoice | str, *, rater: str = "owner",
             written_answer: str | None = None, latency_ms: int | None = None) -> Reveal:
        """Append the vote, then (and only then) say who was who."""
        try:
            c = VoteChoice(choice)
        except ValueError as e:
            raise ConfigError(f"vote {choice!r} is not one of {[v.value for v in VoteChoice]}") from e
        written = (written_answer or "").strip() or None
        battle = self.store.arena.battle(battle_id)
        v = self.store.arena.add_vote(Vote(battle_id=battle_id, rater=rater, choice=c,
                                           left_model=battle.left_model, right_model=battle.right_model,
                                           written_answer=written, latency_ms=latency_ms))
        winner = {"left": v.left_model, "right": v.right_model}.get(c.value)
        return Reveal(battle_id, c.value, v.left_model, v.right_model, winner, battle.flags)

    def public_battle(self, battle_id: str) -> dict[str, Any]:
        """Return what a rater may see before voting: the prompt and the masked answers, no names."""
        b = self.store.arena.battle(battle_id)
        sides = [c for c in self.contestants() if c.name in (b.left_model, b.right_model)]
        return {"id": b.id, "prompt": b.prompt, "source": b.prompt_source,
                "left": mask_identities(b.left_answer, sides), "right": mask_identities(b.right_answer, sides)}

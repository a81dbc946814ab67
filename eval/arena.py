"""Blind A/B battles: pairing, side randomisation, parallel streaming, votes, reveal.

No Gradio here: the Arena tab and the API tests drive the same `Arena` object. The tab keeps
only a battle id in its session state; which model sits on which side lives in the store
and is handed out only by `Arena.vote`, after the vote is appended. Contestants and masking
live in eval/arena_contestants.py, prompt sources in eval/arena_prompts.py.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, IdiolectError
from core.schemas import Battle, Vote, VoteChoice
from eval.arena_contestants import (
    Contestant,
    OpenAIStreams,
    Retrieve,
    StreamFn,
    contestants_from_registry,
    mask_identities,
    messages_for,
    names_itself,
)
from eval.arena_prompts import (
    DEFAULT_PROMPTS,
    PromptSource,
    golden_prompts,
    read_validation_prompts,
    validation_prompts,
)

if TYPE_CHECKING:
    from core.store import Store

__all__ = [
    "DEFAULT_PROMPTS", "Arena", "Contestant", "OpenAIStreams", "PromptSource", "Retrieve", "Reveal", "StreamFn",
    "contestants_from_registry", "golden_prompts", "mask_identities", "messages_for", "names_itself", "pick_pair",
    "read_validation_prompts", "validation_prompts",
]

log = logging.getLogger(__name__)


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
        champion_share: share of battles that put the champion against the newest challenger.
        on_vote: called with each stored vote, on the voting thread, after it is appended.
            It must return quickly (the vote's latency includes it): the UI passes its
            retrain trigger here, which only wakes a worker. An exception in it is logged,
            never turned into a lost or failed vote.

    """

    def __init__(self, store: Store, stream: StreamFn, *, champion: Callable[[], str | None] = lambda: None,
                 contestants: Callable[[], list[Contestant]] | None = None,
                 style_card: Callable[[], str | None] = lambda: None, retrieve: Retrieve | None = None,
                 baseline_messages: Callable[..., list[dict[str, str]]] | None = None,
                 seed: int | None = None, champion_share: float = 0.5,
                 on_vote: Callable[[Vote], None] | None = None) -> None:
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
        self._on_vote = on_vote

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

    def stream_answers(self, battle_id: str, *, timeout_s: float = 300.0,
                       min_interval_s: float = 0.0) -> Iterator[tuple[str, str]]:
        """Stream both answers at once; yields (left_so_far, right_so_far), names masked.

        Both sides generate in parallel threads so neither reaches the rater first because of
        the order they were asked. When both finish, the answers and any flags are stored.
        With `min_interval_s`, chunks arriving sooner than that after the last frame are
        folded into the next one (the final frame always comes): a screen needs no more
        than ~20 frames a second, and each frame costs the app a render.
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
        last_frame = float("-inf")
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
            now = time.monotonic()
            if all(done) or now - last_frame >= min_interval_s:
                last_frame = now
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
        # One transaction: the store copies the sides from the battle and hands the battle
        # back with the vote, so the reveal needs no second read.
        v, battle = self.store.arena.cast_vote(battle_id, c, rater=rater, written_answer=written,
                                               latency_ms=latency_ms)
        if self._on_vote is not None:
            try:
                self._on_vote(v)
            except Exception:  # the vote is stored; a failing hook must not make the rater vote again
                log.exception("arena on_vote hook failed for vote %s", v.id)
        winner = {"left": v.left_model, "right": v.right_model}.get(c.value)
        return Reveal(battle_id, c.value, v.left_model, v.right_model, winner, battle.flags)

    def public_battle(self, battle_id: str) -> dict[str, Any]:
        """Return what a rater may see before voting: the prompt and the masked answers, no names."""
        b = self.store.arena.battle(battle_id)
        sides = [c for c in self.contestants() if c.name in (b.left_model, b.right_model)]
        return {"id": b.id, "prompt": b.prompt, "source": b.prompt_source,
                "left": mask_identities(b.left_answer, sides), "right": mask_identities(b.right_answer, sides)}

"""Arena tab: one prompt, two anonymous answers streamed side by side, a vote, then the reveal.

Blindness is kept server-side: the session holds only a battle id; which model sits on which
side is read from the store by `Arena.vote` after the vote is appended. Keys: 1/A left,
2/B right, 3/T tie, 4/X both bad, N new battle (ignored while typing).

A vote is idempotent. Its key is the battle the session holds plus the rater, so when the
answer to a vote is lost (the browser shows a connection error; gradio_client raises
CancelledError) the rater just votes again: the same vote returns the same reveal and is
stored once; a different choice on a voted battle is refused, saying so.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import gradio as gr
import httpx

from core.errors import IdiolectError
from core.store.arena import AlreadyVoted
from eval.arena import Arena, Contestant, OpenAIStreams, Reveal, contestants_from_registry
from ui.ops.retrain_trigger import RetrainTrigger, retrain_status

LABEL = "Arena"
FRAME_S = 0.05  # at most ~20 streamed frames a second per battle: each frame is a render in the app
SOURCES = {"Golden prompts": "golden", "Held-out prompts": "validation", "Type my own": "typed"}

KEYS_JS = """
if (!window.__idiolectArenaKeys) {
  window.__idiolectArenaKeys = true;
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || t.isContentEditable)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const map = {'1': 'arena-vote-left', 'a': 'arena-vote-left', '2': 'arena-vote-right',
                 'b': 'arena-vote-right', '3': 'arena-vote-tie', 't': 'arena-vote-tie',
                 '4': 'arena-vote-bad', 'x': 'arena-vote-bad', 'n': 'arena-new'};
    const id = map[(e.key || '').toLowerCase()];
    if (!id) return;
    const el = document.getElementById(id);
    const btn = el && (el.tagName === 'BUTTON' ? el : el.querySelector('button'));
    if (btn && !btn.disabled) { e.preventDefault(); btn.click(); }
  });
}
"""


def endpoint_alive(base_url: str, *, timeout: float = 2.0) -> bool:
    """Tell whether a server answers at an OpenAI-compatible `base_url` (GET …/models; any HTTP reply counts)."""
    try:
        httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


class LiveContestants:
    """The registry's served models whose endpoint answers a probe: a battle never goes to a dead port.

    The registry learns that a server stopped when its job is polled; between that moment and
    the next poll, the probe (cached for `ttl` seconds per endpoint) keeps the arena honest.
    """

    def __init__(self, store: Any, *, probe: Callable[[str], bool] = endpoint_alive, ttl: float = 5.0) -> None:
        self._store, self._probe, self._ttl = store, probe, ttl
        self._seen: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def alive(self, endpoint: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(endpoint)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        ok = self._probe(endpoint)
        with self._lock:
            self._seen[endpoint] = (now, ok)
        return ok

    def __call__(self) -> list[Contestant]:
        return [c for c in contestants_from_registry(self._store) if c.endpoint and self.alive(c.endpoint)]


def make_arena(services: Any) -> Arena:
    """Build the Arena over the app's services (a ready one in `services.arena` wins, e.g. in tests)."""
    ready = getattr(services, "arena", None)
    if ready is not None:
        return ready
    from training.runs.registry import champion  # torch-free: the registry is plain store access

    store = services.store

    def current_champion() -> str | None:
        rec = champion(store)
        return rec.name if rec else None

    def style_card() -> str | None:
        return (store.kv.get("style_card") or {}).get("text")

    def retrieve(query: str) -> list[str]:
        return [h.text for h in services.message_index.search(query, k=4)]

    return Arena(store, OpenAIStreams(), champion=current_champion, contestants=LiveContestants(store),
                 style_card=style_card, retrieve=retrieve, on_vote=retrain_trigger(services))


def retrain_trigger(services: Any) -> RetrainTrigger:
    """Return the app's one RetrainTrigger (the automatic `retrain --every N` policy), made on first use."""
    ready = getattr(services, "retrain_trigger", None)
    if ready is None:
        ready = RetrainTrigger(services.store, services.settings, lambda text: services.scrubber.scrub(text))
        services.retrain_trigger = ready
    return ready


def retrain_panel(services: Any) -> str:
    """Markdown for the retrain box: policy, pairs since the last retrain, the job it started (no names)."""
    try:
        st = retrain_status(services.store, services.settings)
    except IdiolectError as e:
        return f"**Retrain status unavailable:** {e}"
    policy = (f"after every **{st['every']}** new preference pairs" if st["every"]
              else "off (`idiolect retrain --every N` turns it on)")
    lines = [f"Automatic retraining: {policy}. Pairs since the last retrain: **{st['new_pairs']}**."]
    if st["job_id"]:
        lines.append(f"Last started retrain job: `{st['job_id']}` ({st['job_status'] or 'unknown'}, "
                     f"{(st['triggered_at'] or '')[:19].replace('T', ' ')} UTC); follow it in the Training tab.")
    if st["error"]:
        lines.append(f"Last automatic start failed: {st['error']}")
    return "\n\n".join(lines)


def retrain_now(services: Any) -> str:
    """Convert the votes and start a retrain job (the same job the automatic policy starts)."""
    from training.dataset.preferences import convert_votes
    from training.runs.retrain import policy_config, start_retrain_job

    trigger = retrain_trigger(services)
    try:
        if trigger.retrain_active():
            return "A retrain job is already queued or running; see the Training tab.\n\n" + retrain_panel(services)
        convert_votes(services.store, trigger.scrub)
        job = start_retrain_job(services.store, services.settings, policy_config(services.store))
    except IdiolectError as e:
        return f"**Could not start a retrain:** {e}\n\n" + retrain_panel(services)
    return f"Started retrain job `{job.id}`.\n\n" + retrain_panel(services)


def _rater(name: str | None, request: gr.Request | None) -> str:
    # With rater accounts the login decides who votes; the free-text name is for local use only.
    user = getattr(request, "username", None) if request is not None else None
    return user or (name or "").strip() or "owner"


def _vote_buttons(active: bool) -> dict[str, Any]:
    return {"interactive": active}


def new_battle(arena: Arena, source_label: str, typed: str, rater_name: str, request: gr.Request):  # type: ignore[no-untyped-def]
    """Start a battle and stream both answers; yields component updates (never a model name)."""
    source = SOURCES.get(source_label, "golden")
    off = gr.update(interactive=False)
    try:
        battle = arena.new_battle(rater=_rater(rater_name, request), source=source,  # type: ignore[arg-type]
                                  prompt=typed if source == "typed" else None)
    except IdiolectError as e:
        raise gr.Error(str(e)) from e
    yield {"prompt": f"**Prompt** ({source_label.lower()}):\n\n{battle.prompt}", "left": "", "right": "",
           "reveal": "Answers are streaming. Names appear after your vote.", "battle": battle.id,
           "shown_at": None, "buttons": off}
    left = right = ""
    try:
        for left, right in arena.stream_answers(battle.id, min_interval_s=FRAME_S):
            yield {"left": left, "right": right}
    except IdiolectError as e:
        raise gr.Error(str(e)) from e
    yield {"left": left, "right": right, "shown_at": time.time(), "buttons": gr.update(interactive=True),
           "reveal": "Which answer sounds more like you? Vote with the buttons or keys 1–4."}


def cast_vote(arena: Arena, choice: str, battle_id: str | None, shown_at: float | None, written: str,
              rater_name: str, request: gr.Request) -> dict[str, Any]:
    """Append the vote, then reveal who was who."""
    if not battle_id:
        raise gr.Error("Start a battle first (button or key N).")
    latency = int((time.time() - shown_at) * 1000) if shown_at else None
    rater = _rater(rater_name, request)
    try:
        reveal = arena.vote(battle_id, choice, rater=rater, written_answer=written, latency_ms=latency)
    except AlreadyVoted:
        reveal = stored_reveal(arena, battle_id, rater, choice)  # a retry of a vote whose answer was lost
    except IdiolectError as e:
        raise gr.Error(str(e)) from e
    # The battle stays in the session, so a retry finds it. The buttons are switched off and
    # the written answer cleared by a follow-up event (see build): an update to a button makes
    # Gradio build a Button to render it, and every output value is rendered on a worker
    # thread; together they cost more than the vote.
    return {"reveal": reveal.describe(), "shown_at": None}


def stored_reveal(arena: Arena, battle_id: str, rater: str, choice: str) -> Reveal:
    """Return the reveal of the vote this rater already cast on the battle, if `choice` is that vote.

    Raises:
        gr.Error: the rater voted differently: the first vote stands (votes are facts).

    """
    mine = next(v for v in arena.store.arena.votes_for(battle_id) if v.rater == rater)
    if mine.choice.value != choice:
        raise gr.Error(f"You already voted on this battle ({mine.choice.value.replace('_', ' ')}); that vote "
                       "stands. Start a new battle (N).")
    battle = arena.store.arena.battle(battle_id)
    winner = {"left": mine.left_model, "right": mine.right_model}.get(choice)
    return Reveal(battle_id, choice, mine.left_model, mine.right_model, winner, battle.flags)


def build(services: Any) -> None:
    """Lay out the Arena tab (called inside `with gr.Tab(LABEL):`)."""
    arena = make_arena(services)
    gr.Markdown("### Blind A/B\nTwo anonymous answers to one prompt. Pick the one that sounds like you; "
                "names are shown only after you vote. Keys: **1/A** left · **2/B** right · **3/T** tie · "
                "**4/X** both bad · **N** new battle.")
    gr.HTML("", js_on_load=KEYS_JS, elem_id="arena-keys")
    battle = gr.State(None)
    shown_at = gr.State(None)
    with gr.Row():
        source = gr.Radio(list(SOURCES), value="Golden prompts", label="Prompts from", scale=2)
        typed = gr.Textbox(label="Your prompt (for “Type my own”)", lines=1, scale=3, elem_id="arena-typed")
        rater = gr.Textbox(label="Rater", value="owner", scale=1, elem_id="arena-rater")
        start = gr.Button("New battle (N)", variant="primary", elem_id="arena-new", scale=1)
    prompt = gr.Markdown(elem_id="arena-prompt")
    with gr.Row():
        left = gr.Textbox(label="Answer A", lines=14, interactive=False, elem_id="arena-left")
        right = gr.Textbox(label="Answer B", lines=14, interactive=False, elem_id="arena-right")
    with gr.Row():
        b_left = gr.Button("A is better (1)", interactive=False, elem_id="arena-vote-left")
        b_right = gr.Button("B is better (2)", interactive=False, elem_id="arena-vote-right")
        b_tie = gr.Button("Tie (3)", interactive=False, elem_id="arena-vote-tie")
        b_bad = gr.Button("Both bad (4)", interactive=False, elem_id="arena-vote-bad")
    with gr.Accordion("Write the better answer (optional, becomes a gold example)", open=False):
        written = gr.Textbox(label="How you would have answered", lines=5, elem_id="arena-written")
    reveal = gr.Markdown(elem_id="arena-reveal")
    buttons = [b_left, b_right, b_tie, b_bad]
    comp = {"prompt": prompt, "left": left, "right": right, "reveal": reveal, "battle": battle,
            "shown_at": shown_at, "written": written}

    def to_components(d: dict[str, Any]) -> dict[Any, Any]:
        out = {comp[k]: v for k, v in d.items() if k != "buttons"}
        if "buttons" in d:
            out.update({b: d["buttons"] for b in buttons})
        return out

    def start_fn(source_label: str, typed_text: str, rater_name: str, request: gr.Request):  # type: ignore[no-untyped-def]
        for d in new_battle(arena, source_label, typed_text, rater_name, request):
            yield to_components(d)

    start.click(start_fn, [source, typed, rater], [*comp.values(), *buttons], api_name="new_battle",
                concurrency_limit=None)
    vote_outputs = [reveal, battle, shown_at]
    # Votes are written by one thread, in arrival order. Twenty raters voting at once would
    # otherwise be twenty worker threads fighting over the interpreter lock and SQLite's
    # write lock, which measured ten times slower than taking the ~1 ms writes in turn.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arena-vote")
    for btn, choice in zip(buttons, ("left", "right", "tie", "both_bad"), strict=True):
        async def vote_fn(b: str | None, t: float | None, w: str, r: str, request: gr.Request,
                          _c: str = choice) -> dict[Any, Any]:
            loop = asyncio.get_running_loop()
            return to_components(await loop.run_in_executor(
                writer, partial(cast_vote, arena, _c, b, t, w, r, request)))

        # queue=False spares the browser the queue's round trips; API clients always come
        # through the queue, where concurrency_limit=None keeps votes from waiting in line
        # behind each other (the app's default is 8 per event). Outputs are only what a
        # vote changes.
        btn.click(vote_fn, [battle, shown_at, written, rater], vote_outputs, api_name=f"vote_{choice}",
                  queue=False, concurrency_limit=None).then(
            lambda: ["", *[gr.update(interactive=False)] * len(buttons)], None, [written, *buttons], queue=False,
            api_name=False)

    with gr.Accordion("Retraining from your votes", open=False):
        # A callable value is computed on each page load, so the panel is current when opened.
        panel = gr.Markdown(lambda: retrain_panel(services), elem_id="arena-retrain")
        with gr.Row():
            refresh = gr.Button("Refresh", elem_id="arena-retrain-refresh", scale=0)
            again = gr.Button("Retrain now", elem_id="arena-retrain-now", scale=0)
    refresh.click(lambda: retrain_panel(services), None, panel, api_name=False)
    again.click(lambda: retrain_now(services), None, panel, api_name=False)

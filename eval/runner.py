"""One evaluation run: generate answers from each model, score them offline (and with judges), report.

Generation goes through core.generate's `GenerationClient` (any OpenAI-compatible endpoint the
registry names); the prompting baseline is the base model with the style card and retrieved
examples in its prompt. Everything the run needs arrives as arguments, so tests drive it with
local HTTP fakes and scripted judges.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import ConfigError
from core.schemas import ModelKind, utcnow
from eval.arena import Contestant, contestants_from_registry, messages_for
from eval.golden import (
    EvalItem,
    find_snapshot,
    golden_items,
    golden_prompts,
    split_conversations,
    store_items,
    training_targets,
    validation_items,
)
from eval.voice import VoiceData, evaluate_voice

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

Progress = Callable[[str, int, int], None]
Retrieve = Callable[[str], list[str]]
BASELINE = "prompting-baseline"
GENERATE_CONCURRENCY = 8  # requests in flight per model; the CPU server batches up to 8


@dataclass(frozen=True)
class EvalOptions:
    """Knobs of one run (saved with its result)."""

    include_baseline: bool = True
    max_heldout: int = 60
    negative_contexts: int = 30
    judge_items: int = 8
    repeats: int = 20
    seed: int = 0
    max_tokens: int = 512


def lexical_retriever(texts: Sequence[str], k: int = 3) -> Retrieve:
    """Top-k person messages by TF-IDF cosine: an offline stand-in for the vector index."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    pool = [t for t in texts if t.strip()]
    if not pool:
        return lambda _q: []
    vec = TfidfVectorizer(sublinear_tf=True).fit(pool)
    X = vec.transform(pool)

    def retrieve(query: str) -> list[str]:
        sims = (X @ vec.transform([query]).T).toarray().ravel()
        return [pool[i] for i in np.argsort(-sims)[:k]]

    return retrieve


def resolve_models(store: Store, names: Sequence[str], *,
                   include_baseline: bool) -> tuple[Contestant, list[Contestant]]:
    """Return (base ceiling, systems) for the requested names; 'base' means the registry's base model."""
    known = {c.name: c for c in contestants_from_registry(store)}
    bases = [c for c in known.values() if c.kind == ModelKind.base.value]
    chosen: list[Contestant] = []
    for n in names:
        if n == "base" and n not in known and not bases:
            raise ConfigError("no base model is served yet, and the evaluation needs a served base model as its "
                              "ceiling")
        if n == "base" and n not in known and bases:
            chosen.append(bases[0])
        elif n in known:
            chosen.append(known[n])
        else:
            rec = store.registry.get_model(n)
            why = "is not in the registry" if rec is None else "has no serving endpoint (serve it first)"
            raise ConfigError(f"model {n!r} {why}; known servable models: {', '.join(sorted(known)) or 'none'}")
    base = next((c for c in chosen if c.kind == ModelKind.base.value), bases[0] if bases else None)
    if base is None:
        raise ConfigError("the evaluation needs a served base model as its ceiling; register one with an endpoint")
    systems = [c for c in chosen if c.name != base.name]
    if include_baseline and not any(c.kind == ModelKind.baseline.value for c in systems) and BASELINE in known:
        systems.insert(0, known[BASELINE])
    return base, list({c.name: c for c in systems}.values())


class EvalNotReady(ConfigError):
    """An evaluation's precondition is unmet, found before any generation.

    `need` names what is missing so each surface can offer its own next step: "base" (no
    served base model), "model" (a named model is unknown or not answering) or "data" (too
    little of the person's text to score against).
    """

    def __init__(self, message: str, *, need: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.need = need


# The offline suite's minimums (eval.voice._check_inputs), checked before generating anything.
MIN_PERSON_TEST = 4
MIN_PERSON_TRAIN = 3
MIN_NEGATIVES = 3


def unreachable(endpoint: str, *, timeout: float = 2.0) -> str | None:
    """Why nothing answers at an endpoint's host and port (a TCP connect), or None when something does."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    if not parts.hostname:
        return f"{endpoint!r} is not a URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except TimeoutError:
        return f"{parts.hostname}:{port} did not answer within {timeout:.0f} s"
    except OSError as e:
        return f"nothing answers at {parts.hostname}:{port} ({e.strerror or e})"


def preflight(store: Store, settings: Settings, models: Sequence[str],
              opts: EvalOptions) -> tuple[Contestant, list[Contestant], dict[str, Any]]:
    """Check every precondition of a run, cheaply, before any generation; (base, systems, texts).

    Raises:
        EvalNotReady: with `need` "base", "model" or "data".

    """
    try:
        base, systems = resolve_models(store, models, include_baseline=opts.include_baseline)
    except ConfigError as e:
        need = "base" if "base model" in str(e) else "model"
        raise EvalNotReady(str(e), need=need, hint=(
            "start the local model (`idiolect quickstart`) or serve one (`idiolect serve --base-model ID`)"
            if need == "base" else "`idiolect models` lists what is registered and served")) from None
    for c in [base, *systems]:
        why = unreachable(str(c.endpoint))
        if why:
            role = "base model" if c is base else "model"
            raise EvalNotReady(f"the {role} {c.name!r} is registered at {c.endpoint} but {why}",
                               need="base" if c is base else "model",
                               hint="start it again (`idiolect serve`), then re-run the evaluation")
    try:
        texts = gather_texts(store, settings, opts)
    except ConfigError as e:
        raise EvalNotReady(str(e), need="data", hint="import more of your history (`idiolect import PATH`)") from None
    have = {"held-out person texts": (len([t for t in texts["person_test"] if t.strip()]), MIN_PERSON_TEST),
            "training-side person texts": (len([t for t in texts["person_train"] if t.strip()]), MIN_PERSON_TRAIN),
            "assistant turns and contexts": (len(texts["assistant"]) + len(texts["train_contexts"]), MIN_NEGATIVES)}
    short = [f"{got} {name} (needs {need})" for name, (got, need) in have.items() if got < need]
    if short:
        raise EvalNotReady("too little of your text to evaluate against: only " + ", ".join(short),
                           need="data", hint="import more conversations, or approve more examples and snapshot them")
    return base, systems, texts


def _generate(client_for: Callable[[str], Any], c: Contestant, items: Sequence[EvalItem], *, style_card: str,
              retrieve: Retrieve, max_tokens: int, progress: Progress | None, stage: str,
              concurrency: int = GENERATE_CONCURRENCY) -> list[str]:
    """Answer every item, several at once: a batching server (vLLM, ours) decodes them together."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    client = client_for(str(c.endpoint))

    def answer(item: EvalItem) -> str:
        msgs = (messages_for(c, item.prompt, style_card=style_card, retrieve=retrieve)
                if c.kind == ModelKind.baseline.value else item.messages)
        return str(client.chat(c.served_name or c.name, msgs, max_tokens=max_tokens).text)

    out: list[str] = [""] * len(items)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {pool.submit(answer, item): i for i, item in enumerate(items)}
        for done, fut in enumerate(as_completed(futures), 1):
            out[futures[fut]] = fut.result()
            if progress:
                progress(stage, done, len(items))
    return out


def gather_texts(store: Store, settings: Settings, opts: EvalOptions) -> dict[str, Any]:
    """Held-out items, the person's train/test text, assistant turns and training contexts."""
    person = [m for m in store.conversations.messages(role="person") if (m.own_text or m.text).strip()]
    if not person:
        raise ConfigError("no person messages in the store: import your exports first (idiolect import PATH)")
    train_convs, test_convs = split_conversations(person)
    snapshot = find_snapshot(settings.snapshots_dir)
    if snapshot is not None:
        heldout = validation_items(snapshot, limit=opts.max_heldout)
        targets = training_targets(snapshot)
        source = f"snapshot {snapshot.name} validation split"
    else:
        heldout = store_items(store, test_convs)[: opts.max_heldout]
        targets = []
        source = "newest conversations in the store"
    test_refs = [i.reference for i in heldout if i.reference]
    if snapshot is None:
        test_refs = [(m.own_text or m.text).strip() for m in person if m.conversation_id in test_convs]
    held = {" ".join(t.split()) for t in test_refs}
    train_text = [(m.own_text or m.text).strip() for m in person
                  if m.conversation_id in train_convs and " ".join((m.own_text or m.text).split()) not in held]
    assistant = [m.text.strip() for m in store.conversations.messages(role="assistant") if m.text.strip()]
    contexts = store_items(store, train_convs)[: opts.negative_contexts]
    return {"heldout": heldout, "person_test": test_refs, "person_train": train_text,
            "targets": targets or train_text, "assistant": assistant, "train_contexts": contexts,
            "heldout_source": source}


def run_eval(store: Store, settings: Settings, models: Sequence[str], *, client_for: Callable[[str], Any],
             judge: Any | None = None, retrieve: Retrieve | None = None, opts: EvalOptions | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Generate, score and report; returns the result dict (also stored and written to disk).

    Args:
        store: the open Store (registry, conversations, evals).
        settings: for the reports and snapshots directories and the owner's name.
        models: registry names to compare ('base' = the registry's base model).
        client_for: endpoint URL -> client with `.chat(model, messages, max_tokens=) -> Completion`.
        judge: a deepeval judge model (`eval.judges.ChatModelJudge`) or None to skip judges.
        retrieve: prompt -> example person messages for the prompting baseline.
        opts: run options.
        progress: callback (stage, done, total).

    """
    opts = opts or EvalOptions()
    base, systems, texts = preflight(store, settings, models, opts)  # before minutes of generation
    items = golden_items(golden_prompts(store)) + texts["heldout"]
    style_card = str((store.kv.get("style_card") or {}).get("text", ""))
    retrieve = retrieve or lexical_retriever(texts["person_train"])
    gen = dict(client_for=client_for, style_card=style_card, retrieve=retrieve, max_tokens=opts.max_tokens,
               progress=progress)
    answers = {c.name: _generate(c=c, items=items, stage=f"generate {c.name}", **gen) for c in [base, *systems]}
    negatives = texts["assistant"] + _generate(c=base, items=texts["train_contexts"], stage="negatives", **gen)
    data = VoiceData(person_train=texts["person_train"], person_test=texts["person_test"],
                     base=answers[base.name], negatives=negatives)
    if progress:
        progress("offline metrics", 0, 1)
    # Every model answered `items` in order, so each answer lines up with that item's real reply
    # (None for golden prompts): M8 and the per-item M5 source use it.
    voice = evaluate_voice(data, {c.name: answers[c.name] for c in systems}, repeats=opts.repeats, seed=opts.seed,
                           references=[it.reference for it in items])
    result: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12], "created_at": utcnow().isoformat(timespec="seconds"),
        "models": [base.name, *(c.name for c in systems)], "base": base.name,
        "items": {"golden": len(items) - len(texts["heldout"]), "heldout": len(texts["heldout"]),
                  "heldout_source": texts["heldout_source"]},
        "options": opts.__dict__, "voice": voice.to_dict(),
        "samples": {n: [{"prompt": it.prompt, "answer": a} for it, a in list(zip(items, ans, strict=True))[:3]]
                    for n, ans in answers.items()},
        "notes": [f"Held-out contexts: {texts['heldout_source']}."],
    }
    if judge is not None:
        result["judges"] = run_judges(judge, items, answers, base=base.name, systems=[c.name for c in systems],
                                      person=settings.person_name or "the owner", style_card=style_card,
                                      references=texts["person_train"], held_out=texts["person_test"],
                                      limit=opts.judge_items)
    from eval.report import save_run, write_report

    files = write_report(result, settings.reports_dir)
    result["report"] = {k: str(v) for k, v in files.items()}
    _, linked = save_run(store, result, files["html"])
    result["linked_models"] = linked
    return result


def run_judges(judge: Any, items: Sequence[EvalItem], answers: dict[str, list[str]], *, base: str,
               systems: Sequence[str], person: str, style_card: str, references: Sequence[str],
               held_out: Sequence[str], limit: int) -> dict[str, Any]:
    """G-Eval voice for every model and both-order pairwise judging of each system against base."""
    from eval.judges import clean_references, judge_pairs, score_voice

    refs = clean_references(references, held_out)
    idx = list(range(min(limit, len(items))))
    geval = {name: score_voice(judge, [(items[i].prompt, answers[name][i]) for i in idx], person=person,
                               style_card=style_card, references=refs).to_dict()
             for name in [base, *systems]}
    pairs = [(s, base) for s in systems]
    pairs += [(s, BASELINE) for s in systems if s != BASELINE and BASELINE in answers]
    pairwise = [judge_pairs(judge, [(items[i].prompt, answers[x][i], answers[y][i]) for i in idx], x=x, y=y,
                            person=person, style_card=style_card, references=refs).to_dict() for x, y in pairs]
    return {"judge_model": judge.get_model_name(), "geval": geval, "pairwise": pairwise}


def latest_report(store: Store) -> tuple[dict[str, Any], Path | None] | None:
    """Return the newest stored run's result and its HTML report path (None when there is none)."""
    run = store.evals.latest_run()
    if run is None:
        return None
    return run.metrics, Path(run.report_path) if run.report_path else None

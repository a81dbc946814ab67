"""QC removes planted duplicates and bad examples, keeps distinct ones, and counts every drop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.schemas import Example, Scores
from training.dataset.qc import QCConfig, find_secrets, normalise, run_qc

R = "He starts from the physical picture, then checks the numbers against the real load."
T0 = datetime(2026, 1, 1, tzinfo=UTC)

BASE = Example(
    id="base", prompt="Why do you self-host your models instead of renting an API?", reasoning=R,
    response=("Because renting somebody else's GPU is like renting a house with the landlord living in the "
              "basement. It works until he decides to renovate. I run my own box, I know what's on it, and "
              "when it breaks at 2am at least it's my own fault."),
    scores=Scores(overall=8), created_at=T0,
)


def variant(id_: str, **changes: object) -> Example:
    return BASE.model_copy(update={"id": id_, "scores": Scores(overall=7), "created_at": T0 + timedelta(hours=1),
                                   **changes})


PLANTED = {
    "whitespace": variant("whitespace", response=BASE.response.replace(". ", ".\n\n   ").replace(" ", "  ") + "  "),
    "case": variant("case", prompt=BASE.prompt.upper(), response=BASE.response.lower()),
    "punctuation": variant("punctuation", response=BASE.response.replace(".", "!").replace(",", "").replace("'", "")),
    "light_edit": variant("light_edit", prompt="Why do you self-host models instead of renting an API?",
                          response=BASE.response.replace("It works until", "It works right up until")
                          .replace("my own fault", "my fault")),
    "paraphrase": variant("paraphrase", prompt="How come you self-host your models rather than rent an API?",
                          response=("Renting another person's GPU is like renting a house where the landlord "
                                    "lives in the basement: fine until he decides to renovate. I run my own box, "
                                    "I know what is on it, and if it breaks at 2am at least it is my own fault.")),
}

DISTINCT = [
    Example(id="cost", prompt="Why do you self-host your models instead of renting an API?", reasoning=R,
            response=("Cost, mostly. Once you're past a few million tokens a month the card pays for itself in "
                      "about eight months, and after that the electricity is the only bill. Plus I get to pick "
                      "the quantisation instead of guessing what they serve.")),
    Example(id="small-shop", prompt="Is self-hosting an LLM worth it for a small shop?", reasoning=R,
            response=("Only if you've got somebody who likes fixing things at odd hours. A self-hosted model is a "
                      "generator in the garage: great in a blackout, but you're the one changing the oil. For a "
                      "three-person shop, rent the API and revisit in a year.")),
    Example(id="breaks-first", prompt="What breaks first when you self-host a model?", reasoning=R,
            response=("The driver stack, every time. CUDA, the kernel and the container all have to agree, and "
                      "one unattended upgrade splits them up. Pin versions like you'd label breakers in a panel: "
                      "boring until the day it saves you an hour.")),
]


def test_dedup_removes_planted_variants_and_keeps_distinct_same_topic_examples(embedder) -> None:
    kept, report = run_qc([*PLANTED.values(), BASE, *DISTINCT], QCConfig(), embed=embedder.encode)
    kept_ids = {e.id for e in kept}
    assert kept_ids == {"base", "cost", "small-shop", "breaks-first"}
    reasons = {d.id: d.reason for d in report.drops}
    assert reasons == {"whitespace": "exact_duplicate", "case": "exact_duplicate",
                       "punctuation": "exact_duplicate", "light_edit": "near_duplicate",
                       "paraphrase": "semantic_duplicate"}
    # The higher-scoring original survives and every drop points at it.
    assert all(d.duplicate_of == "base" for d in report.drops)
    assert report.total == 9 and report.kept == 4
    assert report.dropped == {"exact_duplicate": 3, "near_duplicate": 1, "semantic_duplicate": 1}
    assert report.semantic_checked


def test_without_embedder_the_paraphrase_survives_and_the_report_says_so() -> None:
    kept, report = run_qc([BASE, PLANTED["paraphrase"], *DISTINCT])
    assert "paraphrase" in {e.id for e in kept}
    assert report.semantic_checked is False


def test_each_filter_drops_with_its_reason() -> None:
    def ex(id_: str, **kw: object) -> Example:
        base = {"prompt": f"A distinct question number {id_} about breakers?", "reasoning": R,
                "response": f"A distinct answer {id_}: size the breaker for the worst Tuesday, not the average one."}
        return Example(id=id_, **{**base, **kw})

    bad = [
        ex("key", response="Use sk-ant-api03-ZCmKW0On7aKoecaaQFfQToA0jRGA9wSQsMXym11jHHq in the env file, it's fine."),
        ex("mail", reasoning=R + " Mail dale@groundfaultlabs.example about it."),
        ex("short-prompt", prompt="Why?"),
        ex("short-answer", response="Because."),
        ex("long-answer", response="word " * 3000),
        ex("no-reasoning", reasoning=""),
        ex("bad-reasoning", reasoning="<think>I should answer</think> carefully, step by step, as always."),
        ex("tiny-reasoning", reasoning="ok"),
        ex("ai", response="As an AI, I don't have opinions, but sizing breakers is important for many reasons."),
        ex("low", scores=Scores(overall=3)),
        ex("good", scores=Scores(overall=9)),
        ex("unscored", prompt="How do you label a panel so the next electrician thanks you?",
           response="Every breaker gets the room and the load on it, in pencil, because paint outlives the wiring."),
    ]
    kept, report = run_qc(bad)
    assert [e.id for e in kept] == ["good", "unscored"]
    by_id = {d.id: d.reason for d in report.drops}
    assert by_id == {
        "key": "secret", "mail": "secret", "short-prompt": "prompt_too_short",
        "short-answer": "response_too_short", "long-answer": "response_too_long",
        "no-reasoning": "no_reasoning", "bad-reasoning": "malformed_reasoning",
        "tiny-reasoning": "malformed_reasoning", "ai": "assistantism", "low": "low_score",
    }
    assert sum(report.dropped.values()) == len(report.drops) == 10
    secret_details = [d.detail for d in report.drops if d.reason == "secret"]
    assert secret_details == ["anthropic_key", "email"]  # the scrubber's labels; kinds only, never the value


def test_injected_scrubber_is_the_second_pass() -> None:
    calls: list[str] = []

    def scrub(text: str) -> tuple[str, list[object]]:
        calls.append(text)
        return (text.replace("Groundfault", "[ORG]"), ["custom_deny"] if "Groundfault" in text else [])

    ok = Example(id="ok", prompt="What does the company do, in your words?", reasoning=R,
                 response="Groundfault builds inference boxes for shops that can't rent a cloud, basically.")
    kept, report = run_qc([ok], scrub=scrub)
    assert kept == [] and report.dropped == {"secret": 1} and calls


def test_planted_fixture_secrets_are_all_caught() -> None:
    for value in ("sk-proj-LPeTDxPjVSPng2MUzkZSQR9BmVcPIuIvEmrHXs-LnCHTcesrT3Blbk"
                  "FJpdd9mCpAMqfu_d58F56_33k3q8HSQGqimxtmWPFUBPMtOo-e",
                  "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", "(937) 555-0142", "937-555-0142",
                  "203.0.113.47", "192.168.40.11", "dale.brandt@example.com"):
        assert find_secrets(f"see {value} here"), value
    assert find_secrets("ping 10.0.0.1 now") == ["ip_address"]
    assert find_secrets("version 3.11 of the docs, see [EMAIL] and [IP]") == []


def test_qc_names_secrets_as_the_scrubber_does() -> None:
    # One pattern table (core.secrets): what QC reports is exactly what the scrubber redacts.
    from agent.scrub import Scrubber

    scrubber = Scrubber(use_detect_secrets=False)
    for text in ("key sk-ant-api03-ZCmKW0On7aKoecaaQFfQToA0jRGA9wSQsMXym11jHHq here",
                 "token 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 and mail dale@groundfaultlabs.example",
                 "call (937) 555-0142 from 203.0.113.47", "AWS AKIAIOSFODNN7EXAMPLE in the env"):
        scrubbed_kinds = [k for _s, _e, k in scrubber.find(text) if k != "high_entropy"]
        assert find_secrets(text) == list(dict.fromkeys(scrubbed_kinds)) != [], text


def test_normalise() -> None:
    assert normalise("  Hello,   WORLD!\n") == "hello world"


@pytest.mark.parametrize("n", [0, 1])
def test_small_inputs(n: int) -> None:
    kept, report = run_qc([BASE] * n, embed=lambda texts: np.ones((len(texts), 3), dtype=np.float32) / np.sqrt(3))
    assert len(kept) == n and report.total == n


def test_embedding_cache_embeds_only_misses_and_persists(settings) -> None:
    from core.embedcache import CachedEmbed
    from core.store import Store

    seen: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    store = Store.open(settings.db_url)
    cache = CachedEmbed(embed, store, "model-a")
    first = cache(["a", "bb", "a"])
    assert first.tolist() == [[1, 1], [2, 1], [1, 1]] and sorted(seen[0]) == ["a", "bb"] and len(seen) == 1
    store.close()
    reopened = Store.open(settings.db_url)  # the vectors outlive the process that computed them
    again = CachedEmbed(embed, reopened, "model-a")(["bb", "ccc"])
    assert again.tolist() == [[2, 1], [3, 1]] and seen[-1] == ["ccc"]
    # Another embedding model never reuses these vectors.
    CachedEmbed(embed, reopened, "model-b")(["bb"])
    assert seen[-1] == ["bb"] and reopened.embeddings.count("model-a") == 3
    reopened.close()


def test_qc_through_a_warm_cache_embeds_nothing(settings) -> None:
    from core.embedcache import CachedEmbed
    from core.store import Store

    calls: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        rng = np.random.default_rng(len(texts))
        v = rng.normal(size=(len(texts), 8)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    store = Store.open(settings.db_url)
    answers = ["A breaker is a promise the panel makes to the wire: trip before the insulation cooks.",
               "Kernels are landlords. Your process is a tenant who never reads the lease.",
               "Premises first, then the argument; most fights are about premises wearing a disguise.",
               "Shard by the thing you query on, or enjoy fan-out on every request forever.",
               "Idempotent retries are seatbelts: boring until the day they are the only thing that works."]
    examples = [BASE.model_copy(update={"id": f"e{i}", "prompt": f"Question {i}: what do you make of it?",
                                        "response": a}) for i, a in enumerate(answers)]
    cache = CachedEmbed(embed, store, "m")
    assert cache.warm(examples) == 5 and cache.warm(examples) == 0  # as the agent does on saving
    calls.clear()
    hits_before = cache.hits
    kept, report = run_qc(examples, embed=cache)
    assert len(kept) == 5 and report.semantic_checked
    assert calls == [] and cache.hits - hits_before == 5  # every vector came from the store
    store.close()



def test_reasoning_is_required_only_when_the_training_target_trains_it(settings) -> None:
    from core.config import Settings
    from training.dataset.qc import qc_config
    from training.dataset.report_card import assess

    answers = [Example(prompt=f"How do you price job {i}?", reasoning="",
                       response=f"I bill the layout hours first, job {i}. The thinking is the work; sawing is "
                                "just the part people can see.", domain="reasoning") for i in range(3)]
    plain = Settings(home=settings.home, train_preset="smollm2-135m-cpu")  # family none: answers only
    thinking = Settings(home=settings.home, train_preset="qwen3-8b")  # <think> reasoning is trained
    assert not qc_config(plain).require_reasoning and qc_config(thinking).require_reasoning

    kept, qc, card = assess(answers, plain)
    assert len(kept) == 3 and "no_reasoning" not in qc["dropped"]
    check = next(c for c in card.checks if c.name == "with reasoning")
    assert check.passed and "optional" in check.detail
    kept, qc, card = assess(answers, thinking)
    assert kept == [] and qc["dropped"]["no_reasoning"] == 3

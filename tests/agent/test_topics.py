"""Topics, domains and golden prompts that fit the person: clustered from the bundled sample (a timber framer)."""

from __future__ import annotations

import json
import tomllib

import pytest
from typer.testing import CliRunner

from tests.fakes.chat_models import Invalid, ScriptedChat, tool_reply

JUNK = {"every", "like", "email", "don't", "that's", "want", "good", "think", "i'll", "here's", "because", "people"}
TRADE = {"timber", "frame", "beam", "price", "insurance", "tenon", "joint", "oak", "chisel", "dovetail", "rafter",
         "invoice", "server", "crack", "quote", "inches", "post", "peg", "kiln"}


@pytest.fixture
def sample(services):  # type: ignore[no-untyped-def]
    """The bundled sample imported (stored, not indexed) and profiled."""
    from agent.ingest import import_exports
    from agent.profile import refresh_profile
    from ui.sample import sample_paths

    import_exports([str(p) for p in sample_paths()], store=services.store, scrubber=services.scrubber, index=None)
    refresh_profile(services.store, name="Rosa Ibarra")
    return services


def test_sample_topics_are_her_trade_not_stopwords(sample) -> None:  # type: ignore[no-untyped-def]
    from agent.topics import Topic, suggest_domains

    prof = sample.store.kv.get("voice_profile")
    talks = prof["topics"]
    assert not JUNK & set(talks), talks
    clusters = prof["topic_clusters"]
    words = {w for c in clusters for w in c["terms"]}
    assert len(TRADE & words) >= 8, words
    assert {"timber", "price"} <= words and not JUNK & words
    assert 4 <= len(clusters) <= 8 and sum(c["messages"] for c in clusters) == prof["messages"]
    pricing = next(c for c in clusters if "price" in c["terms"])
    assert any("pric" in t.lower() for t in pricing["conversations"])  # labelled by what it holds
    card = sample.store.kv.get("style_card")["text"]
    talks_line = next(line for line in card.splitlines() if line.startswith("- Talks about:"))
    assert "timber" in talks_line and not any(f" {j}," in talks_line for j in JUNK)
    analogies = prof["analogy_examples"]
    assert len({a.lower() for a in analogies}) == len(analogies) and analogies

    domains = suggest_domains([Topic(**c) for c in clusters])
    assert sum(d["share"] for d in domains) == 100 and len({d["name"] for d in domains}) == len(domains)
    keywords = [k for d in domains for k in d["keywords"]]
    assert len(keywords) == len(set(keywords)) and all(len(k) >= 3 for k in keywords)
    assert any(k.startswith("pric") for k in keywords)


def test_profile_suggest_and_apply_domains_keep_the_rest_of_the_toml(sample, settings) -> None:  # type: ignore[no-untyped-def]
    from core.config import Settings
    from ui.cli import app
    from ui.sample import settings_toml

    path = settings.home / "idiolect.toml"
    path.write_text("# my own notes\nllm_provider = \"none\"\n" + settings_toml(), encoding="utf-8")
    run = CliRunner().invoke
    r = run(app, ["profile", "--suggest-domains", "--json"], obj=sample)
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    assert not shown["applied"] and shown["current"] == settings.domains
    assert tomllib.loads(path.read_text())["domains"]["joinery"] == 24  # a suggestion writes nothing
    r = run(app, ["profile", "--suggest-domains", "--apply", "--json"], obj=sample)
    assert r.exit_code == 0, r.output
    applied = json.loads(r.stdout)
    assert applied["applied"] and applied["path"] == str(path)
    text = path.read_text()
    data = tomllib.loads(text)
    names = [d["name"] for d in applied["suggested"]]
    assert list(data["domains"]) == names and set(data["domain_keywords"]) == set(names)
    assert data["person_name"] == "Rosa Ibarra" and data["targets"]["min_examples"] == 40
    assert data["llm_provider"] == "none" and text.startswith("# my own notes")
    assert "[targets]  # the dataset report card" in text  # comments survive
    assert Settings().domains == {k: float(v) for k, v in data["domains"].items()}  # what the app reads next
    assert sample.settings.domains == Settings().domains  # and the running one already uses

    r = run(app, ["profile", "--apply", "--json"], obj=sample)
    assert r.exit_code == 1 and json.loads(r.stdout)["hint"] == "idiolect profile --suggest-domains --apply"
    r = run(app, ["profile"], obj=sample)
    assert r.exit_code == 0 and "Talks about:" in r.stdout


def test_golden_prompts_are_drafted_from_her_topics(sample) -> None:  # type: ignore[no-untyped-def]
    from eval.golden import golden_prompts
    from eval.golden_drafts import DraftedPrompts, draft_golden

    seeded = golden_prompts(sample.store)  # first use seeds from the topics, not GPU queues
    assert len(seeded) == 5 and all(p.source == "drafted" for p in seeded)
    assert not any("GPU" in p.prompt or "circuit" in p.prompt for p in seeded)
    topic_words = {w for c in sample.store.kv.get("voice_profile")["topic_clusters"] for w in c["terms"]}
    assert all(any(w in p.prompt for w in topic_words) for p in seeded)

    domains = list(sample.settings.domains)
    res = draft_golden(sample.store, n=3, domains=domains, keywords={}, llm=None)
    assert res["how"] == "templates" and len(res["added"]) == 3 and all(p.domain in domains for p in res["added"])
    again = draft_golden(sample.store, n=3, domains=domains, keywords={}, llm=None)
    texts = [p.prompt for p in sample.store.evals.golden_prompts()]
    assert len(again["added"]) == 3 and len(texts) == len(set(texts)) == 11  # never the same prompt twice

    reply = {"prompts": [{"domain": domains[0], "prompt": "How do you explain drawboring a peg to a new client?"},
                         {"domain": "not-a-domain", "prompt": "Why do you refuse to put steel brackets on oak?"}]}
    llm = ScriptedChat(script=[tool_reply(DraftedPrompts.__name__, reply)])
    res = draft_golden(sample.store, n=2, domains=domains, keywords={}, llm=llm, person="Rosa")
    assert res["how"] == "llm" and [p.source for p in res["added"]] == ["drafted", "drafted"]
    assert res["added"][1].domain in domains  # an unknown domain is mapped onto hers
    sent = str(llm.calls[0][-1].content)
    assert "Person: Rosa" in sent and "timber" in sent

    bad = ScriptedChat(script=[tool_reply("DraftedPrompts", Invalid({"prompts": []}))] * 2)  # unusable on purpose
    res = draft_golden(sample.store, n=2, domains=domains, keywords={}, llm=bad)
    assert res["how"] == "templates" and "unusable" in res["note"] and len(res["added"]) == 2


def test_drafting_without_history_names_the_next_step(services) -> None:  # type: ignore[no-untyped-def]
    from ui.cli import app

    r = CliRunner().invoke(app, ["golden", "draft", "--no-llm", "--json"], obj=services)
    assert r.exit_code == 1
    err = json.loads(r.stdout)
    assert "no topics to draft from" in err["error"] and "idiolect import" in err["hint"]

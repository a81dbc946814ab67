"""The Chat tab shows drafts as they stream: half-written JSON becomes readable text, never raw JSON."""

from __future__ import annotations

import json

from ui.tabs.chat import live_text, partial_json

FULL = json.dumps({"examples": [
    {"prompt": "Why not brackets?", "reasoning": "Snow load first.", "response": "A tenon is a handshake.",
     "domain": "joinery", "tags": [], "source_ids": []},
    {"prompt": "And the price?", "reasoning": "Layout hours.",
     "response": "The thinking is the job. \"Sawing\" is the rest.", "domain": "business", "tags": ["price"],
     "source_ids": ["m1"]}]})


def test_every_prefix_of_a_draft_parses_to_what_was_written_so_far() -> None:
    seen = []
    for n in range(1, len(FULL) + 1):
        data = partial_json(FULL[:n])
        if n > 20:  # past the first key, something is always readable
            assert isinstance(data, dict), FULL[:n]
        seen.append(data)
    assert seen[-1] == json.loads(FULL)
    mid = partial_json(FULL[: FULL.index("A tenon") + 8])
    assert mid["examples"][0]["response"] == "A tenon "


def test_live_text_names_the_stage_and_shows_the_newest_draft_fields() -> None:
    cut = FULL[: FULL.index("The thinking") + 12]
    text = live_text("draft", cut)
    assert text.startswith("*Drafting example 2") and "**Prompt** And the price?" in text
    assert "**Response** The thinking" in text and "{" not in text
    assert live_text("score", '{"scores": [{"num') == "*Scoring the drafts… (17 characters so far)*"


def test_a_decision_from_the_cards_reads_as_words_in_the_chat() -> None:
    from ui.tabs.chat import describe_decision

    said = describe_decision({"approve": [1], "reject": [2, 3], "edits": {4: {"response": "x"}},
                              "revise": {5: "blunter"}})
    assert said == "approve 1 · reject 2, 3 · edit 4 (response) · change 5: blunter"
    assert describe_decision({"approve": [], "reject": []}) == "(decision from the cards)"

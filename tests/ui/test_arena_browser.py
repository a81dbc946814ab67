"""A rater in a real browser (Debian chromium): two streamed answers, a keyboard vote, the reveal, the leaderboard."""

from __future__ import annotations

import pytest

from eval.arena import Arena, OpenAIStreams
from tests.browser import ARTIFACTS, launch, needs_chromium
from tests.fakes.arena_app import arena_app, register_models
from tests.fakes.openai_chat import fake_openai
from ui.services import Services

pytestmark = [pytest.mark.browser,
              needs_chromium]


def test_rater_votes_sees_reveal_and_leaderboard_changes(settings, store) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    answers = {"tiny-base": "Certainly! Here is a comprehensive overview of the topic.",
               "voice-v1": "Think of it like a river: everything downstream drinks from it."}
    with fake_openai(answers, chunk_delay=0.02) as srv:
        register_models(store, srv.url, names=("tiny-base", "voice-v1"))
        arena = Arena(store, OpenAIStreams(), champion=lambda: "voice-v1", seed=2)
        services = Services(settings, store=store, arena=arena)
        with arena_app(services) as demo, sync_api.sync_playwright() as p:
            browser = launch(p)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                # Nothing but the app itself may load: no fonts, CDNs or analytics.
                outside: list[str] = []

                def guard(route: object) -> None:
                    url = route.request.url  # type: ignore[attr-defined]
                    if url.startswith(demo.local_url.rstrip("/")):
                        route.continue_()  # type: ignore[attr-defined]
                    else:
                        outside.append(url)
                        route.abort()  # type: ignore[attr-defined]

                page.route("**/*", guard)
                page.goto(demo.local_url)
                page.click("#arena-new")
                # Both answers stream in at the same time; wait for both to finish (buttons enable).
                page.wait_for_function(
                    "document.querySelector('#arena-left textarea').value.length > 0 && "
                    "document.querySelector('#arena-right textarea').value.length > 0", timeout=90_000)
                page.wait_for_selector("#arena-vote-left:not([disabled])", timeout=90_000)
                left = page.input_value("#arena-left textarea")
                right = page.input_value("#arena-right textarea")
                assert {left, right} <= set(answers.values()) | {answers["tiny-base"]}
                assert "Left was" not in page.inner_text("#arena-reveal")
                page.click("body")  # focus outside any text box so the shortcut is not typed
                page.keyboard.press("1")
                page.wait_for_function("document.querySelector('#arena-reveal').innerText.includes('Left was')",
                                       timeout=90_000)
                battle = store.arena.battles(limit=1)[0]
                reveal = page.inner_text("#arena-reveal")
                assert f"Left was {battle.left_model}, right was {battle.right_model}" in reveal
                assert store.arena.votes()[0].choice.value == "left"
                # After the vote the buttons switch off, so the same battle cannot be voted twice.
                page.wait_for_selector("#arena-vote-left[disabled]", timeout=90_000)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "arena-reveal.png"), full_page=True)

                page.get_by_role("tab", name="Leaderboard").click()
                page.click("#leaderboard-refresh")
                page.wait_for_function("document.querySelector('#leaderboard-status').innerText.includes('1 votes')",
                                       timeout=90_000)
                table = page.inner_text("#leaderboard-ratings")
                assert battle.left_model in table and battle.right_model in table
                page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)
                assert not outside, outside
            finally:
                browser.close()

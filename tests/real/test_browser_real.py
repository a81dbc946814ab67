"""A person in a real browser (Debian chromium) on the default model: drafting in Chat, rating in the Arena.

Nothing is stubbed: the app is the product's own `build_app`, the model is SmolLM2 served by
the local server the starter loop started (tests/real/conftest.py), and the page may load
nothing but the app itself.
"""

from __future__ import annotations

import pytest

from core.schemas import ExampleOrigin, ExampleStatus
from tests.browser import ARTIFACTS, free_port, launch, needs_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              needs_chromium]



@pytest.fixture(scope="module")
def page_on_app(sample_run):
    sync_api = pytest.importorskip("playwright.sync_api")
    from ui.app import build_app

    sv, starter = sample_run
    demo = build_app(sv, starter)
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})

        def guard(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if url.startswith(demo.local_url.rstrip("/")):
                route.continue_()  # type: ignore[attr-defined]
            else:
                outside.append(url)
                route.abort()  # type: ignore[attr-defined]

        page.route("**/*", guard)
        page.goto(demo.local_url)
        try:
            yield page, sv
        finally:
            browser.close()
            demo.close()
    assert not outside, outside


def test_chat_drafts_three_valid_examples_with_the_local_model_and_one_is_approved(page_on_app) -> None:
    page, sv = page_on_app
    approved_before = len(sv.store.examples.list(status=ExampleStatus.approved, limit=100000))
    drafted_before = {e.id for e in sv.store.examples.list(origin=ExampleOrigin.drafted, limit=100000)}
    page.get_by_role("tab", name="Chat").click()
    box = page.get_by_label("Ask, or answer a review in words")
    box.fill("draft 3 examples on pricing a timber frame pavilion")
    page.get_by_role("button", name="Send", exact=True).click()
    # The local model drafts them (tokens stream into the chat meanwhile), then the cards appear.
    page.wait_for_function("document.body.innerText.includes('Draft 3 (v1)')", timeout=900_000)
    cards = page.inner_text("body")
    for n in (1, 2, 3):
        assert f"Draft {n} (v1)" in cards
    assert "\ufffd" not in cards and "<|im_" not in cards
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "real-chat-drafts.png"), full_page=True)

    page.locator("#chat-approve").get_by_label("1", exact=True).check()
    page.get_by_role("button", name="Send decision").click()
    page.wait_for_function("document.body.innerText.includes('Saved 1 approved example')", timeout=600_000)
    drafted = [e for e in sv.store.examples.list(origin=ExampleOrigin.drafted, status=ExampleStatus.approved,
                                                 limit=100000) if e.id not in drafted_before]
    assert len(drafted) == 1 and drafted[0].prompt.strip() and drafted[0].response.strip(), drafted
    # The header counts follow the approval (they refresh on a timer), without a reload.
    want = f"{approved_before + 1} approved"
    page.wait_for_function(f"document.querySelector('.idiolect-header').innerText.includes('{want}')",
                           timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "real-chat-approved.png"), full_page=True)


def test_arena_shows_two_real_answers_a_vote_then_the_reveal(page_on_app) -> None:
    page, sv = page_on_app
    page.get_by_role("tab", name="Arena").click()
    page.click("#arena-new")
    page.wait_for_selector("#arena-vote-left:not([disabled])", timeout=600_000)
    left = page.input_value("#arena-left textarea")
    right = page.input_value("#arena-right textarea")
    for text in (left, right):
        assert len(text.split()) >= 5, text
        assert "\ufffd" not in text and "<|im_" not in text
    assert "Left was" not in page.inner_text("#arena-reveal")
    page.click("#arena-vote-left")
    page.wait_for_function("document.querySelector('#arena-reveal').innerText.includes('Left was')",
                           timeout=60_000)
    battle = sv.store.arena.battles(limit=1)[0]
    assert f"Left was {battle.left_model}, right was {battle.right_model}" in page.inner_text("#arena-reveal")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "real-arena-reveal.png"), full_page=True)

"""A newcomer's walk through every tab in a real browser (Debian chromium), on the bundled sample.

No model is configured here (the real-model walk is tests/real/test_browser_real.py): every
tab must open without an error badge, and each main action must either work (Search) or say
in one line what it needs before doing any slow work. A screenshot of each tab goes to
test-artifacts/ for people to look at.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import ARTIFACTS, free_port, launch, needs_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              needs_chromium]



def _no_error_paint(page) -> None:  # type: ignore[no-untyped-def]
    """No red "Error" badge on a panel and no error toast."""
    assert page.locator(".toast-body.error").count() == 0, page.locator(".toast-body.error").first.inner_text()
    badges = [t for t in page.locator("span.error, .error .status").all_inner_texts() if t.strip()]
    assert not badges, badges
    assert not re.search(r"(^|\n)Error(\n|$)", page.inner_text("body"))


def _text_appears(page, selector: str, pattern: str, timeout: int = 120_000) -> str:  # type: ignore[no-untyped-def]
    try:
        page.wait_for_function(
            "([sel, pat]) => new RegExp(pat).test(document.querySelector(sel)?.innerText || '')",
            arg=[selector, pattern], timeout=timeout)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "tab-walk-failed.png"), full_page=True)
        raise AssertionError(f"{pattern!r} never appeared in {selector}: {page.inner_text(selector)!r}") from None
    return str(page.inner_text(selector))


def test_every_tab_opens_clean_and_its_main_action_works_or_says_what_it_needs(services) -> None:  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api")
    import asyncio

    from agent.ingest import import_exports
    from agent.miner import mine
    from agent.profile import refresh_profile
    from ui.app import TABS, build_app
    from ui.sample import sample_paths

    import_exports([str(p) for p in sample_paths()], store=services.store, scrubber=services.scrubber,
                   index=services.message_index)
    refresh_profile(services.store)
    asyncio.run(mine(services.store, list(services.settings.domains)))
    demo = build_app(services, None)
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})

            def guard(route) -> None:  # type: ignore[no-untyped-def]
                if route.request.url.startswith(demo.local_url.rstrip("/")):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", guard)
            page.goto(demo.local_url)
            page.wait_for_selector(".idiolect-header")
            assert "51 conversations" in page.inner_text(".idiolect-header")
            for label, _ in TABS:  # first visit of every tab: clean
                page.get_by_role("tab", name=label, exact=True).click()
                page.wait_for_timeout(1500)  # let the tab's on-load reads land before looking
                _no_error_paint(page)
                page.screenshot(path=str(ARTIFACTS / f"tab-{label.lower()}.png"), full_page=True)

            page.get_by_role("tab", name="Search", exact=True).click()
            page.fill("#search-q textarea, #search-q input", "how do you price a timber frame")
            page.click("#search-go")
            found = _text_appears(page, "#search-out", r"score \d")
            scores = [float(s) for s in re.findall(r"score (\d\.\d\d)", found)]
            assert scores == sorted(scores, reverse=True) and len(scores) >= 3
            page.fill("#search-q textarea, #search-q input", "kubernetes helm upgrade")
            page.click("#search-go")
            _text_appears(page, "#search-out", "Nothing in your history is close")
            page.screenshot(path=str(ARTIFACTS / "tab-search-results.png"), full_page=True)

            page.get_by_role("tab", name="Arena", exact=True).click()
            page.click("#arena-new")
            page.wait_for_selector(".toast-body", timeout=60_000)
            said = page.inner_text(".toast-body")
            assert "served model" in said, said  # the precondition, in one line, before any generation
            page.screenshot(path=str(ARTIFACTS / "tab-arena-precondition.png"), full_page=True)
            browser.close()
    finally:
        demo.close()
    assert not outside, outside

"""Reviewing by keyboard in a real browser (Debian chromium): J opens, A approves and moves on, E + Ctrl+Enter edits."""

from __future__ import annotations

import pytest

from core.schemas import Example, ExampleStatus, Scores
from tests.browser import ARTIFACTS, free_port, launch, needs_chromium
from ui.services import Services

pytestmark = [pytest.mark.browser,
              needs_chromium]



def test_keyboard_review_in_the_dataset_tab(settings, store) -> None:  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api")
    import gradio as gr

    from ui.tabs import dataset as tab

    for w in ["pavilion", "barn", "porch", "shed"]:
        store.examples.add(Example(prompt=f"How do you price a {w} frame?", reasoning="Timber, hours, margin.",
                                   response=f"Start from the timber bill for the {w}.", domain="business",
                                   scores=Scores(overall=7)))
    services = Services(settings, store=store)
    with gr.Blocks() as demo, gr.Tab(tab.LABEL):
        tab.build(services)
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = launch(p)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1400})
                page.goto(demo.local_url)
                page.wait_for_function("document.querySelector('#dataset-counts')?.innerText"
                                       "?.includes('0 of 4 reviewed')", timeout=90_000)
                # A key pressed before the tab's key listener is installed is lost: on a loaded box
                # the counts can render first (a CI failure), so wait for the listener too.
                page.wait_for_function("window.__idiolectDatasetKeys === true", timeout=90_000)
                page.click("h1, body", position={"x": 5, "y": 5})
                page.keyboard.press("j")
                page.wait_for_function("(document.querySelector('#dataset-response textarea')?.value || '').length > 0",
                                       timeout=90_000)
                first = page.input_value("#dataset-response textarea")
                page.keyboard.press("a")
                page.wait_for_function("document.querySelector('#dataset-counts')?.innerText"
                                       "?.includes('1 of 4 reviewed')", timeout=90_000)
                approved = [e for e in store.examples.list() if e.status == ExampleStatus.approved]
                assert len(approved) == 1 and approved[0].response == first
                page.wait_for_function(f"document.querySelector('#dataset-response textarea')?.value !== {first!r}",
                                       timeout=90_000)  # it moved on to the next pending example
                second = page.input_value("#dataset-response textarea")
                page.keyboard.press("e")  # focus the response, type, save with Ctrl+Enter
                page.keyboard.press("End")
                page.keyboard.type(" Then the hours.")
                page.keyboard.press("Control+Enter")
                page.wait_for_function("document.querySelector('#dataset-review-note')?.innerText?.includes('Saved')",
                                       timeout=90_000)
                edited = next(e for e in store.examples.list() if e.response.startswith(second))
                assert edited.response == second + " Then the hours." and edited.edits[-1]["by"] == "owner"
                page.keyboard.press("Escape")
                page.keyboard.press("r")
                page.wait_for_function("document.querySelector('#dataset-counts')?.innerText"
                                       "?.includes('2 of 4 reviewed')", timeout=90_000)
                assert store.examples.get(edited.id).status == ExampleStatus.rejected
                assert "Where it came from" in page.inner_text("#dataset-review")
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "dataset-review.png"), full_page=True)
            finally:
                browser.close()
    finally:
        demo.close()

"""Import and Search tabs: searchable at once, the meaning index's progress shown while a worker fills it."""

from __future__ import annotations

import shutil
import time

import gradio as gr
import pytest

from tests.conftest import EXPORTS
from ui.commands.data import run_import
from ui.tabs import importer, search


def _wait_filled(services, timeout: float = 240.0) -> str:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        text, filling = importer.dense_markdown(services)
        if not filling and "all" in text and "are indexed" in text:
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.25)


@pytest.mark.slow  # the background worker is a real process that loads the embedder (15-40 s)
def test_tabs_show_words_first_then_meaning(services, tmp_path) -> None:
    with gr.Blocks() as demo:  # both tabs build (timer, buttons) against real services
        importer.build(services)
        search.build(services)
    assert demo is not None

    run_import(services, [str(EXPORTS / "chatgpt")], index=False, show_progress=False)
    text, filling = importer.dense_markdown(services)
    assert not filling and "Search by words works" in text and "0 of 23 chunks" in text
    found = search.search_markdown(services, "8x A100 box on a 30A breaker")
    assert "meaning index holds 0 of 23" in found and "A100" in found  # words alone already find it

    assert "Started filling" in importer.finish_dense(services)
    assert "all 23 chunks are indexed" in _wait_filled(services)
    assert "meaning index" not in search.search_markdown(services, "8x A100 box on a 30A breaker")

    upload = tmp_path / "claude-export.zip"
    shutil.copy(EXPORTS / "claude-export.zip", upload)
    r = importer.import_files(services, [str(upload)])
    assert "| Conversations | 12 |" in r["summary"] and not upload.exists()  # uploads hold unscrubbed text
    assert "all 23" not in _wait_filled(services)  # the worker the import started caught up
    st = services.store.chunks.counts()
    assert st["embedded"] == st["chunks"] > 40 and services.index.count() == st["chunks"]


def test_a_second_import_of_the_same_export_says_nothing_is_new(services) -> None:  # type: ignore[no-untyped-def]
    from ui.commands.data import run_import

    first = importer.summary_markdown(run_import(services, [str(EXPORTS / "claude")], index=False,
                                                 show_progress=False))
    assert "Nothing new" not in first and "| Conversations |" in first
    again = importer.summary_markdown(run_import(services, [str(EXPORTS / "claude")], index=False,
                                                 show_progress=False))
    assert again.startswith("**Nothing new**: all ") and "unchanged since they were last imported" in again

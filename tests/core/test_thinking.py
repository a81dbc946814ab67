"""The one reasoning/answer splitter: whole answers and token streams split alike."""

from core.thinking import ReasoningSplitter, split_reasoning


def _streamed(text: str, step: int) -> tuple[str, str]:
    split = ReasoningSplitter(enabled=True)
    parts: dict[str, str] = {"reasoning": "", "content": ""}
    pieces = [text[i:i + step] for i in range(0, len(text), step)]
    for piece in pieces:
        for part, value in split.feed(piece):
            parts[part] += value
    for part, value in split.flush():
        parts[part] += value
    return parts["reasoning"].strip(), parts["content"].strip()


def test_think_block_is_split_whole_and_streamed_alike() -> None:
    text = "  <think>\nwire it twice, label once\n</think>\n\nDo it properly."
    assert split_reasoning(text) == ("wire it twice, label once", "Do it properly.")
    for step in (1, 2, 3, 7, len(text)):  # a tag split across pieces must still be found
        assert _streamed(text, step) == split_reasoning(text), step


def test_edge_cases_keep_their_meaning() -> None:
    assert split_reasoning("<think></think>Just the answer.") == ("", "Just the answer.")
    # A cut-off <think> stays text for the client (the server's stream calls it reasoning).
    assert split_reasoning("<think>never closed") == ("", "<think>never closed")
    assert _streamed("<think>never closed", 4) == ("never closed", "")
    assert split_reasoning("no markers at all ") == ("", "no markers at all ")
    apriel = "Here are my reasoning steps:\nstep one\n[BEGIN FINAL RESPONSE]\nDone.\n[END FINAL RESPONSE]"
    assert split_reasoning(apriel) == ("step one", "Done.")


def test_disabled_splitter_passes_everything_through_as_content() -> None:
    split = ReasoningSplitter(enabled=False)
    assert split.feed("<think>x</think>y") == [("content", "<think>x</think>y")]
    assert split.flush() == []

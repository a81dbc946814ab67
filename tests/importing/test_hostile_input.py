"""Hostile and broken exports (issue 14, findings 2 and 10): bounded memory, one clear error, nothing stored."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.importers import Tally, discover, read_source
from core.schemas import Role
from tests.conftest import REPO
from ui.cli import app

RUNNER = CliRunner()


# --------------------------------------------------------------------------- finding 10


def _node(nid: str, parent: str | None, children: list[str], role: str | None, text: str = "",
          t: float = 0.0) -> dict:
    msg = None if role is None else {
        "id": nid, "author": {"role": role}, "create_time": t,
        "content": {"content_type": "text", "parts": [text]}, "recipient": "all", "metadata": {}}
    return {"id": nid, "parent": parent, "children": children, "message": msg}


def test_chatgpt_node_whose_children_are_all_missing_is_a_leaf(tmp_path: Path) -> None:
    """current_node dangles and the last node lists children that are not in mapping either."""
    conv = {"id": "dangling-1", "title": "dangling", "create_time": 1.0, "current_node": "gone",
            "mapping": {
                "root": _node("root", None, ["u1"], None),
                "u1": _node("u1", "root", ["a1"], "user", "Why do I label every breaker?", 2.0),
                "a1": _node("a1", "u1", ["missing-x", "missing-y"], "assistant", "Because 2am happens.", 3.0),
            }}
    p = tmp_path / "conversations.json"
    p.write_text(json.dumps([conv]))
    tally = Tally()
    [parsed] = [c for s in discover(p) for c in read_source(s, tally)]
    shown = parsed.shown()
    assert [m.role for m in shown] == [Role.person, Role.assistant]
    assert all(m.on_shown_branch for m in parsed.messages)
    assert any("newest leaf" in w for w in tally.warnings)


# --------------------------------------------------------------------------- finding 2

DEPTH = 100_000  # a 200 KB file


def _deep_array(p: Path) -> None:
    p.write_text("[" + "[" * DEPTH + "]" * DEPTH + "]")


def _deep_in_conversation(p: Path) -> None:
    p.write_text('[{"id": "c1", "mapping": {}, "x": ' + '{"a": ' * DEPTH + "1" + "}" * DEPTH + "}]")


def _deep_claude_object_shape(p: Path) -> None:
    p.write_text('{"conversations": [{"uuid": "u", "chat_messages": ' + "[" * DEPTH + "]" * DEPTH + "}]}")


def _tiny_keys(p: Path) -> None:
    # 1.2 million one-letter keys in one conversation (about 9 MB): millions of Python objects.
    keys = ",".join(f'"{i:x}":0' for i in range(1_200_000))
    p.write_text('[{"id": "c1", "mapping": {}, "metadata": {' + keys + "}}]")


HOSTILE = {
    "deep array": (_deep_array, "nested deeper than"),
    "deep inside a conversation": (_deep_in_conversation, "nested deeper than"),
    "deep claude object shape": (_deep_claude_object_shape, "nested deeper than"),
    "millions of tiny keys": (_tiny_keys, "values"),
}

PROBE = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: today's parser dies far above
    from pathlib import Path
    from agent.importers import Tally, discover, read_source
    from core.errors import ImportFailed
    try:
        for s in discover(Path(sys.argv[1])):
            for _ in read_source(s, Tally()):
                pass
        print("ACCEPTED")
    except ImportFailed as e:
        print("REFUSED", e)
    # VmHWM is this process's own peak (ru_maxrss would inherit pytest's across exec).
    print("RSS_MB", next(int(l.split()[1]) // 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")))
""")


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_json_ends_in_bounded_memory_and_one_clear_error(case: str, tmp_path: Path) -> None:
    make, phrase = HOSTILE[case]
    p = tmp_path / "conversations.json"
    make(p)
    res = subprocess.run([sys.executable, "-c", PROBE, str(p)], capture_output=True, text=True, cwd=REPO,
                         timeout=600)
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    assert "REFUSED" in lines, res.stdout + res.stderr[-2000:]
    assert str(p) in lines["REFUSED"] and phrase in lines["REFUSED"]
    assert int(lines["RSS_MB"]) < 400, lines


def test_hostile_file_through_the_cli_is_one_line_and_stores_nothing(services, tmp_path: Path) -> None:
    from tests.conftest import EXPORTS

    assert RUNNER.invoke(app, ["import", "--no-index", str(EXPORTS / "claude")], obj=services).exit_code == 0
    before = services.store.conversations.totals()
    p = tmp_path / "conversations.json"
    _deep_in_conversation(p)
    res = RUNNER.invoke(app, ["import", "--no-index", str(p)], obj=services)
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and str(p) in lines[0], res.output
    assert services.store.conversations.totals() == before


def test_jsonl_and_html_sources_are_bounded_too(tmp_path: Path) -> None:
    from core.errors import ImportFailed

    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"role": "user", "content": ' + "[" * 50_000 + "]" * 50_000 + "}\n")
    with pytest.raises(ImportFailed, match="nested deeper than"):
        list(read_source(discover(deep)[0], Tally()))
    html = tmp_path / "export" / "chat.html"
    html.parent.mkdir()
    html.write_text("<html><script>var jsonData = " + "[" * 50_000 + "]" * 50_000 + ";</script></html>")
    with pytest.raises(ImportFailed, match="nested deeper than"):
        list(read_source(discover(html.parent)[0], Tally()))


def test_each_structural_limit_names_what_it_refused() -> None:
    import io

    import ijson

    from agent.importers.limits import JsonLimits
    from core.errors import ImportFailed

    class Trickle(io.RawIOBase):  # 1 KB reads, so limits far below the usual 64 KB chunk are visible
        def __init__(self, data: bytes) -> None:
            self._src = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
            data = self._src.read(min(len(b), 1024))
            b[: len(data)] = data
            return len(data)

    def read(data: bytes, **limits: int) -> list:
        return list(ijson.items(io.BufferedReader(JsonLimits(Trickle(data), "x.json", **limits), 4096), "item"))

    small = b'[{"a": "' + b"y" * 500 + b'"}, {"b": 1}]'
    assert len(read(small, max_item_bytes=2000)) == 2
    big = b'[{"a": 1}, {"a": "' + b"y" * 50_000 + b'", "b": [1, 2]}]'
    with pytest.raises(ImportFailed, match="x.json at byte .*larger than 20,000 bytes"):
        read(big, max_item_bytes=20_000)
    with pytest.raises(ImportFailed, match="a string longer than 10,000 bytes"):
        read(b'["' + b"z" * 50_000 + b'"]', max_string_bytes=10_000)
    many = b"[{" + b",".join(b'"k%d": %d' % (i, i) for i in range(3000)) + b"}]"
    with pytest.raises(ImportFailed, match="more than 5,000 values"):
        read(many, max_item_values=5_000)
    assert len(read(many, max_item_values=10_000)[0]) == 3000
    # Brackets and quotes inside strings are text, escapes included: this is 2 levels deep.
    tricky = b'[{"t": "[[[[{{{{ \\" ]]]] \\\\", "u": "\\\\\\"[["}]'
    assert read(tricky, max_depth=2) == [{"t": '[[[[{{{{ " ]]]] \\', "u": '\\"[['}]

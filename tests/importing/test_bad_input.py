"""Bad input: one clear line naming the file (and position), non-zero exit, nothing half-stored."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import EXPORTS
from ui.cli import app

RUNNER = CliRunner()


def _import(services, *paths) -> object:
    return RUNNER.invoke(app, ["import", "--no-index", *map(str, paths)], obj=services)


@pytest.fixture
def seeded(services):
    """A store that already holds the Claude fixture: it must survive every failure."""
    res = _import(services, EXPORTS / "claude")
    assert res.exit_code == 0, res.output
    return services.store.conversations.totals()


def _truncated(tmp: Path) -> Path:
    raw = (EXPORTS / "chatgpt" / "conversations.json").read_bytes()
    p = tmp / "conversations.json"
    p.write_bytes(raw[: len(raw) // 2])
    return p


def _bad_utf8(tmp: Path) -> Path:
    raw = (EXPORTS / "claude" / "conversations.json").read_bytes()
    p = tmp / "bad" / "conversations.json"
    p.parent.mkdir()
    p.write_bytes(raw[:5000] + b"\xff\xfe" + raw[5000:])
    return p


def _zip_slip(tmp: Path) -> Path:
    p = tmp / "slip.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("conversations.json", "[]")
        z.writestr("../../evil.txt", "x")
    return p


def _zip_absolute(tmp: Path) -> Path:
    p = tmp / "abs.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("/etc/cron.d/evil", "x")
        z.writestr("conversations.json", "[]")
    return p


def _zip_bomb(tmp: Path) -> Path:
    p = tmp / "bomb.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("conversations.json", b"[" + b" " * (40 << 20) + b"]")
    return p


def _neither(tmp: Path) -> Path:
    p = tmp / "conversations.json"
    p.write_text(json.dumps([{"foo": 1, "bar": [1, 2]}]))
    return p


def _empty(tmp: Path) -> Path:
    p = tmp / "conversations.json"
    p.write_bytes(b"")
    return p


def _empty_dir(tmp: Path) -> Path:
    d = tmp / "nothing-here"
    d.mkdir()
    (d / "notes.txt").write_text("hello")
    return d


CASES = {
    "truncated": (_truncated, ["invalid or truncated JSON", "near byte"]),
    "invalid utf-8": (_bad_utf8, ["invalid UTF-8", "at byte 5000"]),
    "zip slip": (_zip_slip, ["unsafe member path", "../../evil.txt"]),
    "absolute member": (_zip_absolute, ["unsafe member path", "/etc/cron.d/evil"]),
    "zip bomb": (_zip_bomb, ["possible zip bomb"]),
    "neither format": (_neither, ["neither a ChatGPT nor a Claude export", "item 0"]),
    "empty file": (_empty, ["the file is empty"]),
    "no export in dir": (_empty_dir, ["no export found"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line_and_stores_nothing(case, services, seeded, tmp_path) -> None:
    make, phrases = CASES[case]
    bad = make(tmp_path)
    res = _import(services, bad)
    assert res.exit_code != 0
    err = [line for line in res.output.splitlines() if line.strip()]
    assert len(err) == 1, res.output
    assert err[0].startswith("Error:") and str(bad.name) in err[0]
    for phrase in phrases:
        assert phrase in err[0], err[0]
    assert "Traceback" not in res.output
    assert services.store.conversations.totals() == seeded  # earlier imports intact, nothing added


def test_failure_midway_rolls_back_the_whole_file(services, seeded, tmp_path) -> None:
    """A file whose 7th conversation breaks stores none of its first six."""
    convs = json.loads((EXPORTS / "chatgpt" / "conversations.json").read_text("utf-8"))
    raw = json.dumps(convs[:6])[:-1] + ", " + json.dumps(convs[6])[:500]
    p = tmp_path / "conversations.json"
    p.write_text(raw)
    res = _import(services, p)
    assert res.exit_code != 0 and "after 6 complete conversation(s)" in res.output
    assert services.store.conversations.totals() == seeded

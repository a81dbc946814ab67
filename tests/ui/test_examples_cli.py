"""`idiolect examples …` review from the terminal, and output paths resolved against the caller's directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.schemas import Example, ExampleStatus, Scores
from ui.cli import app

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def seed(store, n: int = 4) -> list[Example]:  # type: ignore[no-untyped-def]
    return [store.examples.add(Example(
        prompt=f"How would you price a {w} frame, honestly? (#{i})",
        reasoning=f"She starts from the timber bill for the {w} job, then the hours, then a margin she can live on.",
        response=f"Like a {w} tenon: cut it to fit the job. Timber, hours, then ten percent; case {i} of a long list.",
        domain="business" if i % 2 else "joinery", scores=Scores(overall=7), created_at=T0 + timedelta(days=i),
    )) for i, w in enumerate(["pavilion", "barn", "porch", "shed", "garage", "studio"][:n])]


def run(args: list[str], services, **kw):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args, obj=services, **kw)


def test_approve_reject_edit_by_id_prefix_are_in_the_edit_log(services, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    exs = seed(services.store)
    a, b = exs[0], exs[1]
    r = run(["examples", "approve", a.id[:8], b.id, "--json"], services)
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["ids"] == [a.id, b.id] and res["changed"] == 2 and res["progress"]["reviewed"] == 2
    log = services.store.examples.get(a.id).edits[-1]
    assert log["by"] == "owner" and log["changes"] == {"status": {"before": "pending", "after": "approved"}}

    r = run(["examples", "reject", a.id[:6]], services)
    assert r.exit_code == 0 and "Rejected 1 example(s) by id (1 changed). 2 of 4 reviewed" in r.stdout
    assert services.store.examples.get(a.id).edits[-1]["changes"]["status"]["after"] == "rejected"

    r = run(["examples", "edit", b.id[:8], "--field", "response", "--text", "Short and blunt: own the saw.",
             "--json"], services)
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    assert shown["response"] == "Short and blunt: own the saw."
    change = services.store.examples.get(b.id).edits[-1]["changes"]["response"]
    assert change["before"] == b.response and change["after"] == "Short and blunt: own the saw."

    monkeypatch.chdir(tmp_path)  # --from-file is read from the caller's directory
    Path("reasoning.txt").write_text("She'd check the span tables first.\n", encoding="utf-8")
    r = run(["examples", "edit", b.id[:8], "--field", "reasoning", "--from-file", "reasoning.txt"], services)
    assert r.exit_code == 0, r.output
    assert services.store.examples.get(b.id).reasoning == "She'd check the span tables first."
    r = run(["examples", "edit", b.id[:8], "--field", "tags", "--text", "pricing, timber"], services)
    assert services.store.examples.get(b.id).tags == ["pricing", "timber"]
    r = run(["examples", "edit", b.id[:8], "--field", "prompt", "--text", "  "], services)
    assert r.exit_code == 1 and "the prompt cannot be empty" in r.stderr

    r = run(["examples", "show", b.id[:8], "--json"], services)
    detail = json.loads(r.stdout)
    assert [e["by"] for e in detail["edits"]] == ["owner"] * 4 and detail["sources"] == []
    r = run(["examples", "show", b.id[:8]], services)
    assert "owner: pending → approved" in r.stdout and "edited response" in r.stdout


def test_prefixes_must_be_unique_and_long_enough(services) -> None:  # type: ignore[no-untyped-def]
    exs = seed(services.store, 2)
    services.store.examples.add(Example(id=exs[0].id[:10] + "-twin", prompt="p?", response="r."))
    r = run(["examples", "show", exs[0].id[:10], "--json"], services)
    assert r.exit_code == 1 and "matches several examples" in json.loads(r.stdout)["error"]
    r = run(["examples", "show", "ab", "--json"], services)
    assert "too short" in json.loads(r.stdout)["error"]
    r = run(["examples", "approve", exs[1].id[:8], "--status", "pending", "--json"], services)
    assert "not both" in json.loads(r.stdout)["error"]


def test_bulk_on_a_filter_counts_then_asks(services) -> None:  # type: ignore[no-untyped-def]
    exs = seed(services.store, 6)
    r = run(["examples", "approve", "--domain", "business", "--status", "pending"], services, input="n\n")
    assert r.exit_code == 1 and "Approve 3 example(s) matching status=pending, domain=business?" in r.stderr
    assert all(e.status == ExampleStatus.pending for e in services.store.examples.list())
    r = run(["examples", "approve", "--domain", "business", "--status", "pending"], services, input="y\n")
    assert r.exit_code == 0 and "Approved 3 example(s)" in r.stdout and "3 of 6 reviewed" in r.stdout
    r = run(["examples", "reject", "--search", "garage", "--yes", "--json"], services)
    res = json.loads(r.stdout)
    assert res["ids"] == [exs[4].id] and res["scope"] == "1 example(s) matching search 'garage'"
    r = run(["examples", "list", "--status", "approved", "--json"], services)
    listed = json.loads(r.stdout)
    assert {e["id"] for e in listed["examples"]} == {exs[1].id, exs[3].id, exs[5].id}
    assert listed["progress"] == {"reviewed": 4, "total": 6, "approved": 3, "rejected": 1, "pending": 2}
    r = run(["examples", "list"], services)
    assert "4 of 6 reviewed" in r.stdout and exs[0].id[:8] in r.stdout


@pytest.fixture
def snapshotted(services):  # type: ignore[no-untyped-def]
    exs = seed(services.store, 6)
    services.store.examples.set_status([e.id for e in exs], ExampleStatus.approved)
    r = run(["dataset", "snapshot", "--no-semantic", "--json"], services)
    assert r.exit_code == 0, r.output
    return services


@pytest.mark.parametrize("fmt", ["messages", "hf"])
def test_relative_output_paths_are_the_callers(snapshotted, tmp_path, monkeypatch, fmt) -> None:  # type: ignore[no-untyped-def]
    caller = tmp_path / "caller"
    caller.mkdir()
    monkeypatch.chdir(caller)
    r = run(["dataset", "export", "-f", fmt, "-o", "out/ds", "--json"], snapshotted)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert Path(summary["path"]) == caller / "out" / "ds"
    assert (caller / "out" / "ds").is_dir() and any((caller / "out" / "ds").iterdir())


def test_other_path_options_resolve_against_the_caller_too(snapshotted, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    r = run(["dataset", "report", "--no-semantic", "--plots", "plots", "--json"], snapshotted)
    assert r.exit_code == 0, r.output
    assert sorted(Path(p) for p in json.loads(r.stdout)["plots"]) == sorted(
        tmp_path / "plots" / f"{n}.png" for n in ("domains", "growth", "scores"))
    r = run(["eval", "--models", "base,voice-v1", "--write-gate", "gates/test_gate.py", "--json"], snapshotted)
    assert r.exit_code == 0 and json.loads(r.stdout)["gate"] == str(tmp_path / "gates" / "test_gate.py")
    Path("card.md").write_text("# How Rosa writes\n- Short.\n", encoding="utf-8")
    r = run(["profile", "--set-card", "card.md", "--json"], snapshotted)
    assert r.exit_code == 0 and json.loads(r.stdout)["style_card"]["text"].startswith("# How Rosa writes")

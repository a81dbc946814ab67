"""The CLI's `--json` contract, over every registered command.

Success prints one JSON document on stdout; any failure with `--json` prints exactly one JSON
object `{"error": ..., "hint": ...}` on stdout and exits non-zero (1; 2 for usage errors).
Without `--json` a failure is `Error: …` (and `Hint: …`) on stderr, never a traceback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
import pytest
import typer
from typer.testing import CliRunner

from core.schemas import Example, GoldenPrompt
from ui.cli import app

ROOT = typer.main.get_command(app)


def leaf_commands(group: click.Group = ROOT, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += leaf_commands(cmd, (*path, name))
        else:
            out.append((*path, name))
    return out


COMMANDS = leaf_commands()
# Commands without a --json of their own, and why. A --json error still comes out as JSON
# (test_every_command_answers_a_usage_error_in_json).
NO_JSON = {
    ("app",): "serves the app until stopped; there is no result to print",
    ("chat",): "an interactive terminal dialogue",
    ("arena", "rater", "add"): "reads a password at a prompt (ui/commands/arena.py, arena work)",
    ("arena", "rater", "remove"): "arena work (ui/commands/arena.py)",
    ("arena", "rater", "init"): "prints a one-time password for the container's log; no copy of it in JSON tooling",
}


def run(args: list[str], services, **kw):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args, obj=services, **kw)


def one_json_error(res) -> dict:  # type: ignore[no-untyped-def]
    assert res.exit_code != 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stdout  # one object, one line, nothing else on stdout
    err = json.loads(lines[0])
    assert set(err) == {"error", "hint"} and err["error"], err
    assert "Traceback" not in res.stdout
    return err


def test_the_commands_are_the_expected_ones() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"examples approve", "examples reject", "examples edit", "examples show", "examples list",
            "golden draft", "profile", "dataset export", "jobs", "models", "status"} <= names
    assert "examples" not in names  # the old one-shot listing is now `examples list`


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_json_or_a_reason(path: tuple[str, ...]) -> None:
    cmd = ROOT
    for p in path:
        cmd = cmd.commands[p]  # type: ignore[attr-defined]
    has = any("--json" in o.opts for o in cmd.params if isinstance(o, click.Option))
    assert has or path in NO_JSON, f"`idiolect {' '.join(path)}` has no --json option"


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_answers_a_usage_error_in_json(path: tuple[str, ...], services) -> None:  # type: ignore[no-untyped-def]
    res = run([*path, "--json", "--no-such-option"], services)
    err = one_json_error(res)
    assert res.exit_code == 2 and err["error"].startswith("No such option: --")
    assert err["hint"] == f"see `idiolect {' '.join(path[:2])} --help`"


def _example(services) -> Example:  # type: ignore[no-untyped-def]
    return services.store.examples.add(Example(
        prompt="Own or rent the bandsaw?",
        reasoning="She would compare how often the saw runs against the rental fee, then decide on the numbers.",
        response="Own it, like a truck you drive every day: the payments stop, the saw stays tuned the way you like "
                 "it, and nobody else's blade dulls on your oak.",
        domain="business", created_at=datetime(2026, 3, 1, tzinfo=UTC)))


# Domain errors: (arguments, words the error names, words the hint names or None for no hint).
ERRORS = [
    (["examples", "show", "nope-nope"], "no example with id or prefix", "examples list"),
    (["examples", "approve"], "nothing to approve", "--yes"),
    (["examples", "reject", "--status", "pending"], "needs confirming", "add --yes"),
    (["examples", "edit", "{id}", "--field", "colour", "--text", "x"], "cannot edit 'colour'", None),
    (["examples", "edit", "{id}", "--text", "x", "--from-file", "f.txt"], "exactly one of --text", None),
    (["examples", "list", "--status", "maybe"], "unknown status 'maybe'", None),
    (["dataset", "export"], "no dataset snapshot yet", "idiolect dataset snapshot"),
    (["dataset", "export", "-f", "csv"], "no dataset snapshot yet", None),
    (["profile", "--apply"], "--apply goes with --suggest-domains", "--suggest-domains --apply"),
    (["profile", "--suggest-domains"], "not enough history to find topics", "idiolect import"),
    (["golden", "draft", "--no-llm"], "no topics to draft from", "idiolect import"),
    (["golden", "delete", "zzz"], "no golden prompt", "golden list"),
    (["train", "--preset", "nope"], "unknown preset 'nope'", None),
    (["serve"], "nothing to serve", "--base-model"),
    (["eval", "--models", "base"], "served base model", "idiolect serve"),
    (["jobs", "--cancel", "nope"], "no job with id 'nope'", None),
    (["import", "/no/such/export.zip", "--no-index"], "no such file", None),
    (["retrain"], "preference pair", None),
]


@pytest.mark.parametrize(("args", "cause", "hint"), ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_domain_errors_are_one_json_object_with_a_hint(args, cause, hint, services) -> None:  # type: ignore[no-untyped-def]
    ex = _example(services)
    args = [a.replace("{id}", ex.id[:8]) for a in args]
    res = run([*args, "--json"], services)
    err = one_json_error(res)
    assert cause in err["error"] and "Traceback" not in res.stderr, err
    if hint:
        assert hint in (err["hint"] or ""), err
    if "confirming" in cause:
        return  # in a terminal it asks instead (tests/ui/test_examples_cli.py)
    plain = run(args, services)  # the same failure as text on stderr
    assert plain.exit_code == 1 and plain.stdout.strip() == "" and f"Error: {err['error']}" in plain.stderr
    assert ("Hint: " in plain.stderr) == bool(err["hint"])


def test_a_bug_is_still_one_json_object(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ui.ops.review

    def boom(store):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(ui.ops.review, "progress", boom)
    err = one_json_error(run(["examples", "list", "--json"], services))
    assert err["error"] == "internal error: RuntimeError: boom" and "bug" in err["hint"]
    assert "Traceback" in run(["examples", "list", "--json"], services).stderr
    with pytest.raises(RuntimeError):  # without --json the traceback is the report
        CliRunner().invoke(app, ["examples", "list"], obj=services, catch_exceptions=False)


# Success: every command with --json prints one JSON document (the slow or process-starting
# ones are covered by their own suites, named here).
COVERED_ELSEWHERE = {
    ("train",): "tests/ui/test_training_commands.py (starts a training process)",
    ("generate",): "tests/agent/test_generate_cli.py (needs a scripted LLM)",
    ("quickstart",): "tests/real (runs the whole loop on the local model)",
    ("retrain",): "tests/ui/test_retrain_loop.py (trains)",
    ("eval",): "tests/eval/test_eval_cli.py (needs served models)",
    ("arena", "promote"): "tests/ui/test_arena_cli.py",
    ("serve",): "tests/ui/test_training_commands.py (--print-command)",
}
SUCCESS = [
    ["status"], ["models"], ["jobs"], ["profile"], ["search", "timber"], ["mine", "--no-llm"],
    ["import", "{exports}/claude", "--no-index"], ["index"],
    ["examples", "list"], ["examples", "list", "--counts"], ["examples", "show", "{id}"],
    ["examples", "approve", "{id}"], ["examples", "edit", "{id}", "--field", "tags", "--text", "tools, money"],
    ["dataset", "report", "--no-semantic"], ["dataset", "snapshot", "--no-semantic"], ["dataset", "list"],
    ["dataset", "export", "-o", "{tmp}/exp"],
    ["golden", "list"], ["golden", "add", "What is a fair day rate?", "--domain", "business"],
    ["golden", "delete", "{golden}"], ["golden", "draft", "--no-llm", "-n", "2"],
    ["arena", "stats"], ["arena", "prefs"], ["arena", "rater", "list"],
    ["examples", "reject", "--domain", "business", "--yes"],
]


def test_success_is_json_for_every_command(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import EXPORTS

    covered = {tuple(a for a in args if not a.startswith("-") and "{" not in a)[:3] for args in SUCCESS}
    missing = [c for c in COMMANDS if c not in NO_JSON and c not in COVERED_ELSEWHERE
               and not any(c == k[:len(c)] for k in covered)]
    assert not missing, f"no --json success case for {missing}"

    ex = _example(services)
    services.store.kv.put("voice_profile", {"messages": 3, "topic_clusters": [
        {"name": "pricing", "terms": ["price", "quote", "deposit"], "keywords": ["pric", "quot"], "share": 1.0,
         "messages": 3, "conversations": ["Raising my prices"]}]})
    golden = services.store.evals.add_golden(GoldenPrompt(prompt="Why own your tools?", domain="business",
                                                          source="owner"))
    subs = {"{id}": ex.id[:8], "{tmp}": str(tmp_path), "{exports}": str(EXPORTS), "{golden}": golden.id}
    for args in SUCCESS:
        args = [next((a.replace(k, v) for k, v in subs.items() if k in a), a) for a in args]
        res = run([*args, "--json"], services)
        assert res.exit_code == 0, (args, res.output)
        doc = json.loads(res.stdout)
        assert not (isinstance(doc, dict) and set(doc) == {"error", "hint"}), (args, doc)

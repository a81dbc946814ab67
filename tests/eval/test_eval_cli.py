"""`idiolect eval` end to end against a local OpenAI-compatible fake, plus the Eval tab's handlers."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pandas as pd
import pytest
import typer
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

from core.schemas import ModelKind, ModelRecord
from tests.conftest import EXPORTS
from tests.fakes.openai_chat import fake_openai


class RuleJudge(FakeListChatModel):
    """A judge that always prefers Reply A (pure position bias) and scores every voice 7/10."""

    def _call(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> str:
        text = str(messages[-1].content)
        return '{"winner": "A", "reason": "first"}' if "authorship judge" in text else '{"score": 7, "reason": "ok"}'


def _pick(pool: list[str], messages: list[dict[str, Any]]) -> str:
    key = json.dumps(messages[-1]["content"])
    return pool[zlib.crc32(key.encode()) % len(pool)]


@pytest.fixture
def eval_services(settings, voice_fixture):  # type: ignore[no-untyped-def]
    """Services over an imported store, a fake vLLM serving base + voice-v1, and a scripted judge."""
    from agent.ingest import import_exports
    from agent.scrub import Scrubber
    from ui.services import Services

    person = [t for g in voice_fixture.person.values() for t in g]
    bot = [t for g in voice_fixture.assistant.values() for t in g]

    def base(model: str, messages: list[dict[str, Any]]) -> str:
        # The prompting baseline reaches the same served base model, with a system prompt.
        if messages[0]["role"] == "system":
            return _pick(person, messages) + "\n\n" + _pick(bot, messages)[:300]
        return _pick(bot, messages)

    judge = RuleJudge(responses=["unused"])
    with fake_openai({"base-model": base, "voice-v1": lambda m, msgs: _pick(person, msgs)}) as srv:
        sv = Services(settings, judge=judge)
        import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=sv.store, scrubber=Scrubber())
        sv.store.kv.put("style_card", {"text": "Short sentences. Electrical analogies. No bullet points."})
        for name, kind, served in (("base", ModelKind.base, "base-model"), ("voice-v1", ModelKind.adapter, "voice-v1")):
            sv.store.registry.add_model(ModelRecord(name=name, kind=kind, base_model="tiny", endpoint=srv.url,
                                                    served_name=served))
        yield sv, srv
        sv.close()


def _app() -> typer.Typer:
    from ui.cli import _Group
    from ui.commands.eval import register

    app = typer.Typer(cls=_Group)
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `eval` a named subcommand
    return app


def test_eval_command_compares_base_baseline_and_adapter(eval_services) -> None:  # type: ignore[no-untyped-def]
    sv, srv = eval_services
    res = CliRunner().invoke(_app(), ["eval", "--models", "base,voice-v1", "--judge", "--json", "--max-heldout", "6"],
                             obj=sv)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["base"] == "base" and out["models"] == ["base", "prompting-baseline", "voice-v1"]
    vgc = {r["model"]: r["vgc"] for r in out["summary"]}
    # The fake adapter answers with the person's own messages, the fake base with assistant turns.
    assert vgc["voice-v1"] > 0.6 and vgc["prompting-baseline"] is not None
    # The secondary metrics ride along beside VGC: every model answered the same items in order,
    # so each has M8 against the held-out replies and a per-item M5 source.
    row = next(r for r in out["summary"] if r["model"] == "voice-v1")
    assert row["M4m"] is not None and 0.0 <= row["confusion"] <= 1.0 and 0.0 <= row["rouge_l"] <= 1.0
    assert out["linked_models"] == ["voice-v1"]
    assert sv.store.registry.get_model("voice-v1").metrics["voice"]["vgc"] == pytest.approx(vgc["voice-v1"])
    # Judges: every pair judged in both orders; a judge that always says "A" earns only ties.
    pair = out["judges"]["pairwise"][0]
    assert pair["wins"] == pair["losses"] == 0 and pair["ties"] == pair["n"] and pair["position_consistency"] == 0.0
    assert out["judges"]["geval"]["voice-v1"]["mean"] == pytest.approx(7.0)
    # Generation went over HTTP: golden + held-out items per model, plus base negatives.
    served = {r["model"] for r in srv.requests}
    assert served == {"base-model", "voice-v1"}
    assert any(r["messages"][0]["role"] == "system" for r in srv.requests)  # the baseline's prompt
    html = open(out["report"]["html"], encoding="utf-8").read()
    assert "data:image/png;base64," in html and "voice-v1" in html


def test_eval_command_errors_are_one_line(eval_services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sv, _ = eval_services
    res = CliRunner().invoke(_app(), ["eval", "--models", "base,nope"], obj=sv)
    assert res.exit_code != 0 and "'nope' is not in the registry" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(_app(), ["eval", "--models", "base,voice-v1", "--write-gate", str(tmp_path), "--json"],
                             obj=sv)
    assert res.exit_code == 0 and json.loads(res.stdout)["model"] == "voice-v1"
    assert (tmp_path / "test_voice_release.py").exists()


def test_eval_tab_handlers(eval_services) -> None:  # type: ignore[no-untyped-def]
    from ui.tabs import eval as tab

    sv, _ = eval_services
    empty = tab.report_view(sv.store)
    assert "No evaluation yet" in empty["status"] and empty["summary"].empty
    table = tab.golden_table(sv.store)
    assert len(table) == 5
    added = tab.add_golden(sv.store, "What does 'good enough' mean to you?", "philosophy")
    assert added["status"] == "Added." and len(added["table"]) == 6
    assert tab.add_golden(sv.store, "", "coding")["status"].startswith("Not added")
    edited = added["table"].copy()
    edited.loc[0, "prompt"] = "Edited prompt"
    saved = tab.save_golden(sv.store, edited)
    assert saved["status"] == "Saved 1 change(s)." and "Edited prompt" in list(saved["table"]["prompt"])
    gone = tab.delete_golden(sv.store, str(saved["table"].iloc[0]["id"]))
    assert gone["status"] == "Deleted." and len(gone["table"]) == 5
    view = tab.run_view(sv, "base,voice-v1", False)
    assert isinstance(view["summary"], pd.DataFrame)
    assert set(view["summary"]["model"]) == {"prompting-baseline", "voice-v1"}
    assert len(view["plots"]) == 3 and "<img" in view["html"]
    assert {"M4m", "confusion", "rouge_l"} <= set(view["summary"].columns) and "M8 ROUGE-L" in view["html"]
    ghost = tab.run_view(sv, "ghost", False)["status"]
    assert ghost.startswith("**Not run:** model 'ghost' is not in the registry") and "--" not in ghost

"""`idiolect arena …` / `idiolect retrain --every`, rater accounts, the bind rule, the leaderboard handlers."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from core.errors import ConfigError
from core.schemas import Battle, Vote, VoteChoice
from tests.fakes.arena_app import register_models
from training.runs.registry import set_champion
from ui.auth import add_rater, auth_from_home, check_bind, load_raters, make_auth
from ui.cli import _Group
from ui.commands.arena import register
from ui.ops.arena import promote
from ui.services import Services
from ui.tabs.leaderboard import refresh


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(cls=_Group)
    register(app)
    return app


def seed_votes(store, champion: str, challenger: str, n: int, challenger_wins: float) -> None:
    for i in range(n):
        left, right = (challenger, champion) if i % 2 else (champion, challenger)
        b = store.arena.create_battle(Battle(id="", prompt=f"p{i}", left_model=left, right_model=right))
        store.arena.set_answers(b.id, f"{left} says {i}", f"{right} says {i}")
        chall_wins = (i * 7919 % 100) / 100 < challenger_wins
        choice = "left" if (left == challenger) == chall_wins else "right"
        store.arena.add_vote(Vote(battle_id=b.id, choice=VoteChoice(choice), left_model=left, right_model=right))


def test_stats_json_and_promote_follow_the_evidence(cli, settings, store) -> None:
    register_models(store, "http://127.0.0.1:9/v1")
    set_champion(store, "voice-v1")
    seed_votes(store, "voice-v1", "voice-v2", 60, 0.85)
    sv = Services(settings, store=store)
    r = CliRunner().invoke(cli, ["arena", "stats", "--json", "--rounds", "200"], obj=sv)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["votes"] == 60 and data["champion"] == "voice-v1"
    assert data["sprt"][0]["decision"] == "challenger"
    assert data["sprt"][0]["summary"].startswith("voice-v2 beats voice-v1: ")
    r = CliRunner().invoke(cli, ["arena", "promote", "--json"], obj=sv)
    assert json.loads(r.output)["promote"] is True
    from training.runs.registry import champion

    assert champion(store).name == "voice-v2"
    r = CliRunner().invoke(cli, ["arena", "stats"], obj=sv)
    assert "voice-v2" in r.output and "SPRT" in r.output


def test_champion_stays_without_evidence(settings, store) -> None:
    register_models(store, "http://127.0.0.1:9/v1")
    set_champion(store, "voice-v1")
    seed_votes(store, "voice-v1", "voice-v2", 8, 0.5)
    d = promote(store, settings, challenger="voice-v2")
    assert d["promote"] is False and d["champion"] == "voice-v1" and "undecided" in d["reason"]


def test_prefs_and_retrain_policy_commands(cli, settings, store) -> None:
    sv = Services(settings, store=store)
    b = store.arena.create_battle(Battle(id="", prompt="q", left_model="a", right_model="b"))
    store.arena.set_answers(b.id, "good", "bad")
    store.arena.add_vote(Vote(battle_id=b.id, choice=VoteChoice.left, left_model="a", right_model="b",
                              written_answer="mine"))
    r = CliRunner().invoke(cli, ["arena", "prefs", "--json"], obj=sv)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert (rep["pairs_created"], rep["gold_created"]) == (3, 1)
    r = CliRunner().invoke(cli, ["retrain", "--every", "5", "--json"], obj=sv)
    assert json.loads(r.output) == {"policy": {"every": 5, "config": {}}}
    from training.runs.retrain import due, new_pairs, policy

    assert policy(store) == 5 and new_pairs(store) == 3 and not due(store, sv.scrubber.scrub)
    r = CliRunner().invoke(cli, ["retrain", "--every", "7", "--sft-only", "--max-steps", "4", "--json"], obj=sv)
    assert json.loads(r.output)["policy"] == {"every": 7, "config": {"dpo": False, "overrides": {"max_steps": 4}}}
    from training.runs.retrain import policy_config

    assert policy(store) == 7 and policy_config(store) == {"dpo": False, "overrides": {"max_steps": 4}}
    r = CliRunner().invoke(cli, ["retrain", "--min-pairs", "10"], obj=sv)
    assert r.exit_code != 0 and "needs at least 10" in r.output


def test_rater_accounts_and_gradio_auth(cli, settings) -> None:
    sv = Services(settings)
    r = CliRunner().invoke(cli, ["arena", "rater", "add", "ann", "--password", "correct horse"], obj=sv)
    assert r.exit_code == 0, r.output
    raw = (settings.home / "raters.json").read_text()
    assert "correct horse" not in raw
    assert (settings.home / "raters.json").stat().st_mode & 0o777 == 0o600
    auth = auth_from_home(settings.home)
    assert auth("ann", "correct horse") and not auth("ann", "wrong") and not auth("bob", "correct horse")
    listed = CliRunner().invoke(cli, ["arena", "rater", "list", "--json"], obj=sv).output
    assert json.loads(listed) == {"raters": ["ann"]}
    r = CliRunner().invoke(cli, ["arena", "rater", "add", "bob", "--password", "short"], obj=sv)
    assert r.exit_code != 0 and "at least 8" in r.output
    assert CliRunner().invoke(cli, ["arena", "rater", "remove", "ann"], obj=sv).exit_code == 0
    assert load_raters(settings.home) == {} and make_auth({}) is None
    (settings.home / "raters.json").write_text('{"raters": {"x": {"salt": "00"}}}')
    with pytest.raises(ConfigError, match="raters.json: not a raters file"):
        load_raters(settings.home)


def test_check_bind_refuses_open_binds_without_accounts(settings) -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(host, None)
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        with pytest.raises(ConfigError, match="refusing to serve"):
            check_bind(host, None)
    add_rater(settings.home, "ann", "long enough")
    check_bind("0.0.0.0", auth_from_home(settings.home))
    check_bind("0.0.0.0", [("ann", "pw")])


def test_leaderboard_refresh_builds_every_view(store, settings) -> None:
    empty = refresh(store, settings, 200)
    assert "0 votes" in empty["status"] and empty["ratings"].empty
    assert empty["plot"].axes[0].texts[0].get_text() == "No votes yet"
    seed_votes(store, "voice-v1", "voice-v2", 30, 0.7)
    register_models(store, "http://127.0.0.1:9/v1")
    set_champion(store, "voice-v1")
    d = refresh(store, settings, 200)
    assert "30 votes" in d["status"] and "Sequential test" in d["status"]
    assert list(d["ratings"]["model"]) and set(d["ratings"]["model"]) == {"voice-v1", "voice-v2"}
    assert d["matrix"].loc[d["matrix"]["model"] == "voice-v2", "voice-v1"].item().endswith("t")
    assert int(d["counts"]["votes"].sum()) == 30
    assert d["plot"].axes[0].get_xlabel().startswith("Bradley–Terry rating")

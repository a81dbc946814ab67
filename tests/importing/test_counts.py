"""Every count in shared/fixtures/exports/README.md, for folders and zips alike."""

from __future__ import annotations

import pytest

from agent.importers import Tally, discover, read_source
from core.schemas import Role
from tests.conftest import EXPORTS

# id: (person, assistant, all-branch person, all-branch assistant), from the fixtures README.
CHATGPT = {
    "67c501e7-f337-842b-9ce1-ded3f16a3a50": (2, 2, 2, 2),
    "67db47cc-267e-82ff-c5a9-3f69b597b020": (2, 2, 2, 3),
    "67eca988-3994-8492-eddd-0865f15ba04a": (2, 2, 3, 3),
    "68050c6b-3199-881f-aa22-fab664791898": (2, 2, 2, 2),
    "683da758-f0e5-8d8c-88f5-b83adfb0ba14": (2, 2, 2, 2),
    "6820eff9-4d8c-876b-303a-ca918668a5b6": (2, 2, 2, 2),
    "67983da4-66d9-8e7c-38d8-dcce3e9a571f": (2, 2, 2, 2),
    "684d2ba7-ad17-88fb-ab84-b30550884397": (2, 2, 2, 2),
    "686c64a3-a4ef-837c-bd32-a46bfe8f7995": (2, 2, 2, 2),
    "68a74340-2be5-89ad-5042-cd73cdc4a092": (2, 2, 2, 2),
    "67a91445-ebee-8252-ed3c-733ca9255158": (2, 2, 2, 2),
    "68b57cb2-adaf-852f-e3f6-2a08171466e8": (0, 0, 0, 0),
}
CLAUDE = {
    "45b35167-16b5-43ca-abdb-bd8e4521be31": (2, 2, 2, 2),
    "fdfc8ab8-d0b1-4750-a9d5-8bc15a8dfe3d": (2, 2, 2, 2),
    "f43eb348-1315-4188-9a2e-4c90c1ee6679": (2, 2, 2, 2),
    "8e7f07a6-c474-4e6f-a8f4-34e9b72ef41b": (2, 2, 2, 2),
    "553121cb-1606-42f0-b931-3ab0a42a3b50": (2, 2, 2, 2),
    "78f51e24-e5a2-4670-90c7-e44a2f603f83": (2, 2, 2, 2),
    "c38b06c5-a55a-41f7-bb92-df8c43030724": (2, 2, 2, 2),
    "16ac06c8-b5b8-4b6d-826b-406b63d2b154": (3, 3, 4, 4),
    "92eb7d76-dbd8-4f9e-bd74-4f0af3aa2a9c": (0, 0, 0, 0),
    "bc047190-56bb-4355-b6c3-10c0b2ea7308": (2, 2, 2, 2),
    "9c10bfa9-061d-49d3-be1d-f38467c41c95": (2, 2, 2, 2),
    "ba9ce883-8a9d-4d94-8343-e18c32a9a7c0": (3, 3, 3, 3),
}


def _counts(path):
    tally = Tally()
    out = {}
    for source in discover(path):
        for conv in read_source(source, tally):
            shown = conv.shown()
            out[conv.external_id] = (
                sum(m.role is Role.person for m in shown),
                sum(m.role is Role.assistant for m in shown),
                sum(m.role is Role.person for m in conv.messages),
                sum(m.role is Role.assistant for m in conv.messages),
            )
    return out


@pytest.mark.parametrize("where", ["chatgpt", "chatgpt-export.zip", "chatgpt/chat.html"])
def test_chatgpt_counts_per_conversation(where: str) -> None:
    assert _counts(EXPORTS / where) == CHATGPT


@pytest.mark.parametrize("where", ["claude", "claude-export.zip"])
def test_claude_counts_per_conversation(where: str) -> None:
    assert _counts(EXPORTS / where) == CLAUDE


def test_totals_match_readme() -> None:
    for table, shown, every in ((CHATGPT, (22, 22), (23, 24)), (CLAUDE, (24, 24), (25, 25))):
        assert len(table) == 12 and sum(1 for v in table.values() if v[0]) == 11
        assert (sum(v[0] for v in table.values()), sum(v[1] for v in table.values())) == shown
        assert (sum(v[2] for v in table.values()), sum(v[3] for v in table.values())) == every


def test_shown_branch_follows_current_node_not_first_child() -> None:
    """ChatGPT #2: the regenerated (second) answer is the shown one."""
    conv = next(c for s in discover(EXPORTS / "chatgpt") for c in read_source(s, Tally())
                if c.external_id == "67db47cc-267e-82ff-c5a9-3f69b597b020")
    abandoned = [m for m in conv.messages if not m.on_shown_branch]
    assert [m.role for m in abandoned] == [Role.assistant]
    assert all(m.position < 10_000 for m in conv.shown())


def test_claude_edit_branch_picks_newest_leaf_and_keeps_the_abandoned_one() -> None:
    conv = next(c for s in discover(EXPORTS / "claude") for c in read_source(s, Tally())
                if c.external_id == "16ac06c8-b5b8-4b6d-826b-406b63d2b154")
    shown = conv.shown()
    assert [m.role.value for m in shown] == ["person", "assistant"] * 3
    assert sum(not m.on_shown_branch for m in conv.messages) == 2
    # the shown path is a real chain of parents
    for prev, cur in zip(shown, shown[1:], strict=False):  # consecutive pairs
        assert cur.parent_id == prev.id


def test_voice_is_separated_from_pasted_material_and_metadata() -> None:
    convs = {c.external_id: c for s in discover(EXPORTS / "claude") for c in read_source(s, Tally())}
    gpu = convs["8e7f07a6-c474-4e6f-a8f4-34e9b72ef41b"]
    first = gpu.shown()[0]
    assert first.attachments and any(a.text for a in first.attachments)  # .env paste kept as context
    assert "ANTHROPIC" not in first.own_text
    thinking = convs["fdfc8ab8-d0b1-4750-a9d5-8bc15a8dfe3d"]
    assert any("thinking" in m.meta for m in thinking.messages if m.role is Role.assistant)
    tool = convs["f43eb348-1315-4188-9a2e-4c90c1ee6679"]
    assert all("not supported on your current device" not in m.text for m in tool.messages)
    long_chatgpt = next(c for s in discover(EXPORTS / "chatgpt") for c in read_source(s, Tally())
                        if c.external_id == "684d2ba7-ad17-88fb-ab84-b30550884397")
    big = max(long_chatgpt.shown(), key=lambda m: len(m.text))
    assert big.pasted_share > 0.5 and len(big.own_text) < len(big.text) / 2


def test_custom_instructions_are_profile_not_turns() -> None:
    conv = next(c for s in discover(EXPORTS / "chatgpt") for c in read_source(s, Tally())
                if c.external_id == "686c64a3-a4ef-837c-bd32-a46bfe8f7995")
    assert conv.meta.get("custom_instructions")
    assert all(conv.meta["custom_instructions"] not in m.text for m in conv.messages)

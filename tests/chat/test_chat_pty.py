"""``dojo chat`` through a real pseudo-terminal (pexpect) with a scripted developer.

The developer answers every prompt the way a person would type: an answer, Enter,
'/next' to move on, Ctrl-C to leave. Each test then reads what the session left:
the brief on disk and the session's events in the store.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pexpect
import pytest
from training.support import read_topic

from dojo.chat.brief import SECTIONS
from dojo.config import Settings
from dojo.events import DecisionMade, EpisodeStarted
from dojo.topics import Topic

pytestmark = pytest.mark.system

TASK = "Add a --config flag to the CLI that loads its settings from a TOML file"
PROMPT = "you> "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# what the scripted developer says; the marks let the tests find their words again
ANSWER = "ANSWER-MARK only the CLI, nothing else"
#: how a scripted developer answers: (screen text since the last prompt, prompt count) -> line,
#: or None for Ctrl-C
Script = Callable[[str, int], str | None]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "config.md").write_text(
        "# Configuration\nSettings are read from a TOML file given by --config.\n"
        "Unknown keys are an error. Environment variables override the file.\n"
    )
    (docs / "loader.py").write_text(
        "import tomllib\n\ndef load(path):\n    '''Read the TOML config at path.'''\n"
        "    return tomllib.loads(open(path).read())\n"
    )
    return tmp_path


def chat(
    workdir: Path,
    script: Script,
    *args: str,
    timeout: float = 300,
    extra_env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run ``dojo chat`` in a pseudo-terminal, answering with ``script``; (exit status, screen)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOJO_")}
    env.update(
        DOJO_DATA_DIR=str(workdir / "data"),
        DOJO_TORCH_THREADS="1",
        HF_HUB_OFFLINE="1",
        TERM="xterm-256color",
        COLUMNS="110",
    )
    env.update(extra_env or {})
    child = pexpect.spawn(
        sys.executable,
        ["-m", "dojo", "chat", "--brief", str(workdir / "brief.md"), *args],
        env=env,
        cwd=str(workdir),
        encoding="utf-8",
        codec_errors="replace",
        timeout=timeout,
        dimensions=(50, 110),
    )
    screen: list[str] = []
    count = 0
    while child.expect([PROMPT, pexpect.EOF]) == 0:
        before = ANSI.sub("", child.before)
        screen.append(before + PROMPT)
        count += 1
        line = script(before, count)
        if line is None:
            child.sendintr()
        else:
            child.sendline(line)
    screen.append(ANSI.sub("", child.before))
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}"
    return child.exitstatus, "".join(screen)


def developer(per_phase: int, *, rating: str = "4", moves: str = "1=5 2=1") -> Script:
    """Answers each move, and says '/next' after ``per_phase`` moves of a phase."""
    seen: dict[str, int] = {}
    phase = ["elicitation"]

    def answer(screen: str, count: int) -> str:
        if "Rate this session" in screen:
            return rating
        if "Rate single moves" in screen:
            return moves
        if "Parts of the work" in screen:
            return "config flag, toml loader, docs"
        for name in ("elicitation", "research", "planning"):
            if (
                f"Phase {('elicitation', 'research', 'planning').index(name) + 1} of 3: {name}"
                in screen
            ):
                phase[0] = name
        seen[phase[0]] = seen.get(phase[0], 0) + 1
        if seen[phase[0]] > per_phase:
            return "/next"
        if "CHECKPOINT" in screen or "ASSUMPTION" in screen:
            return ""  # Enter: agreed / confirmed
        return ANSWER

    return answer


def query(store: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(store), read_only=True) as conn:
        return conn.sql(sql).fetchall()


def test_a_tiny_session_reaches_the_brief_and_is_recorded_with_its_rating(workdir: Path) -> None:
    store = workdir / "store.duckdb"
    status, screen = chat(
        workdir,
        developer(per_phase=3),
        "--model", "tiny", "--task", TASK, "--docs", str(workdir / "docs"), "--store", str(store),
    )  # fmt: skip
    assert status == 0, screen[-3000:]
    for phase in ("elicitation", "research", "planning"):
        assert f": {phase}" in screen
    assert "brief written to" in screen

    brief = (workdir / "brief.md").read_text()
    headings = [line for line in brief.splitlines() if line.startswith("#") and line in SECTIONS]
    assert headings == list(SECTIONS)
    assert TASK in brief
    state = json.loads((workdir / "brief.md.session.json").read_text())
    assert state["finished"] and state["rating"] == 4

    episodes = query(
        store,
        "SELECT episode_type, source, status, decision_count, completed_event_id IS NOT NULL, "
        "scenario FROM episodes ORDER BY started_at",
    )
    assert [e[0] for e in episodes] == ["E-1.1", "E-1.5", "E-1.2"]
    for _, source, _status, decisions, completed, scenario in episodes:
        assert source == "dojo-chat" and completed and decisions >= 1
        assert str(scenario).startswith("human session")
    decisions = query(
        store,
        "SELECT decision_id, policy_version, len(completion_token_ids), len(prompt_token_ids), "
        "len(logprobs), consequences::VARCHAR FROM decisions ORDER BY decision_id",
    )
    assert len(decisions) == sum(e[3] for e in episodes) == len(state["decisions"])
    for _, version, completion, prompt, logprobs, _ in decisions:
        assert version == "tiny-base"
        assert completion > 0 and prompt > 0 and logprobs == completion
    # the developer's words are the decisions' consequences, as the simulated team's are
    assert any("ANSWER-MARK" in d[5] for d in decisions)

    rewards = query(
        store,
        "SELECT decision_id, reward_version, scalar, vector::VARCHAR FROM rewards "
        "ORDER BY decision_id",
    )
    assert [r[0] for r in rewards] == [d[0] for d in decisions]
    assert {r[1] for r in rewards} == {"human-1"}
    vectors = {r[0]: (r[2], json.loads(r[3])) for r in rewards}
    first, second = state["decisions"][0]["decision_id"], state["decisions"][1]["decision_id"]
    assert vectors[first] == (1.0, {"human/session": 0.75, "human/move": 1.0})
    assert vectors[second] == (0.0, {"human/session": 0.75, "human/move": 0.0})
    assert all(v[1]["human/session"] == 0.75 for v in vectors.values())


def test_ctrl_c_writes_what_there_is_and_resume_goes_on(workdir: Path) -> None:
    store = workdir / "store.duckdb"
    args = ("--model", "tiny", "--store", str(store), "--no-rate")

    def leave_on_third(screen: str, count: int) -> str | None:
        if "What are you working on" in screen:
            return TASK
        return None if count == 4 else ANSWER

    status, screen = chat(workdir, leave_on_third, *args)
    assert status == 130, screen[-3000:]
    assert "Traceback" not in screen
    assert "--resume" in screen
    brief = (workdir / "brief.md").read_text()
    assert "stopped during elicitation" in brief
    assert brief.count("ANSWER-MARK") >= 1  # answered before Ctrl-C, kept
    first = query(
        store,
        "SELECT episode_id, status, completed_event_id IS NOT NULL, decision_count FROM episodes",
    )
    # the episode ends with the move Ctrl-C answered: two answered, the third recorded as left
    assert len(first) == 1 and first[0][1] == "truncated" and first[0][2] and first[0][3] == 3
    last = query(store, "SELECT consequences::VARCHAR FROM decisions ORDER BY step DESC LIMIT 1")
    assert "developer_interrupted" in str(last[0][0])

    status, screen = chat(workdir, developer(per_phase=1), *args, "--resume")
    assert status == 0, screen[-3000:]
    brief = (workdir / "brief.md").read_text()
    assert "complete." in brief and "ANSWER-MARK" in brief
    episodes = query(store, "SELECT episode_id FROM episodes ORDER BY started_at")
    session = first[0][0].rsplit("-", 2)[0]
    assert [e[0] for e in episodes] == [
        f"{session}-1-elicitation",
        f"{session}-2-elicitation",
        f"{session}-2-research",
        f"{session}-2-planning",
    ]


def test_a_session_that_exists_is_not_overwritten(workdir: Path) -> None:
    (workdir / "brief.md.session.json").write_text("{}")
    status, screen = chat(workdir, lambda s, n: "", "--model", "tiny", "--task", TASK)
    assert status == 2
    assert "--resume" in screen


def test_smollm2_converses_through_a_few_moves(workdir: Path) -> None:
    store = workdir / "store.duckdb"

    def few_moves(screen: str, count: int) -> str:
        if "Rate this session" in screen:
            return "2"
        if "Rate single moves" in screen:
            return ""
        return "/done" if count > 3 else ANSWER

    status, screen = chat(
        workdir, few_moves, "--model", "smollm2-135m-instruct", "--task", TASK,
        "--store", str(store), timeout=540,  # a fresh machine builds the base first
    )  # fmt: skip
    assert status == 0, screen[-3000:]
    assert "QUESTION" in screen or "ASSUMPTION" in screen or "CHECKPOINT" in screen
    decisions = query(
        store,
        "SELECT policy_version, len(completion_token_ids), context_offset FROM decisions "
        "ORDER BY step",
    )
    assert len(decisions) == 4  # the move '/done' answered is recorded too
    assert all(d[0] == "smollm2-135m-instruct-base" and d[1] > 0 for d in decisions)
    # one conversation: each later decision continues it (its KV cache kept)
    assert decisions[0][2] == 0 and all(d[2] > 0 for d in decisions[1:])
    rewards = query(store, "SELECT reward_version, scalar FROM rewards")
    assert rewards == [("human-1", 0.25)] * 4
    headings = [
        line for line in (workdir / "brief.md").read_text().splitlines() if line in SECTIONS
    ]
    assert headings == list(SECTIONS)


def test_with_a_broker_the_session_goes_onto_kafka(workdir: Path, kafka_settings: Settings) -> None:
    """No --store and a broker configured: the events go onto their topics (the sink stores
    them), keyed by episode as every producer keys them."""
    status, screen = chat(
        workdir,
        developer(per_phase=1),
        "--model", "tiny", "--task", TASK,
        extra_env={
            "DOJO_KAFKA_BOOTSTRAP": str(kafka_settings.kafka.bootstrap),
            "DOJO_TOPIC_PREFIX": kafka_settings.topic_prefix,
            "DOJO_STORE_PATH": str(workdir / "not-written.duckdb"),
        },
    )  # fmt: skip
    assert status == 0, screen[-3000:]
    sent = re.search(r"(\d+) sent to Kafka", screen)
    assert sent is not None, screen[-2000:]
    assert not (workdir / "not-written.duckdb").exists()
    episodes = asyncio.run(read_topic(kafka_settings, Topic.EPISODES))
    rewards = asyncio.run(read_topic(kafka_settings, Topic.REWARDS))
    assert len(episodes) + len(rewards) == int(sent.group(1))
    started = [e for e in episodes if isinstance(e, EpisodeStarted)]
    assert sorted(e.spec.episode_type for e in started) == ["E-1.1", "E-1.2", "E-1.5"]
    assert all(e.source == "dojo-chat" for e in episodes)
    decisions = [e for e in episodes if isinstance(e, DecisionMade)]
    assert decisions and all(d.completion_token_ids for d in decisions)
    assert {r.reward_version for r in rewards} == {"human-1"}  # the rating

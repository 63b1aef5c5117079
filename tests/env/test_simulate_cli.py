"""``dojo simulate``: play one episode from the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from dojo.cli import app
from dojo.env.rollout import Trace

runner = CliRunner()


def test_simulate_shows_each_decision_and_the_outcome() -> None:
    result = runner.invoke(app, ["simulate", "E-2.1", "--seed", "3", "--policy", "junior"])
    assert result.exit_code == 0, result.output
    assert "respond_" in result.output and "outcome: completed" in result.output
    assert "story_accepted" in result.output


def test_simulate_json_is_the_trace() -> None:
    result = runner.invoke(app, ["simulate", "E-1.5", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    trace = Trace.model_validate_json(result.stdout)
    assert trace.spec.episode_type == "E-1.5" and trace.outcome.status == "completed"


def test_a_human_types_the_moves_and_garbage_is_an_invalid_move() -> None:
    moves = "what now?\nrespond_defer | it can wait\n"
    result = runner.invoke(app, ["simulate", "E-2.1", "--policy", "human"], input=moves)
    assert result.exit_code == 0, result.output
    assert "Situation:" in result.output and "Moves (answer" in result.output
    assert "invalid_move" in result.output and "respond_defer" in result.output


def test_simulate_rejects_unknown_types_and_policies_clearly() -> None:
    bad_type = runner.invoke(app, ["simulate", "E-9.9"])
    assert bad_type.exit_code == 2 and "unknown episode type" in bad_type.output
    bad_policy = runner.invoke(app, ["simulate", "E-1.1", "--policy", "wizard"])
    assert bad_policy.exit_code == 2 and "unknown policy" in bad_policy.output
    assert "Play one episode" in runner.invoke(app, ["simulate", "--help"]).output

"""The ``dojo`` command line, fuzzed: 10,000 argument lists through ``CliRunner`` over
``dojo.cli.app``, zero crashes, a message for every refusal.

Arguments are built from the real command tree — every command's own option
names, mixed with values of every shape (numbers out of range, non-finite
floats, unknown choices, paths to nothing, to a directory, to garbage), unknown
options and stray words. Commands that only read or compute run for real
(``simulate``, ``config``, ``store stats`` on a missing or garbage store, …);
those that would start processes or serve forever (``up``, ``broker``,
workers, ``monitor``, ``dashboard``, ``replay`` …) have their body replaced by a
recorder, so their argument parsing and validation is what is fuzzed. Checked:
nothing but a clean exit ever escapes, and a non-zero exit always says why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.testing
from fuzz_strategies import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from dojo.cli import app

#: commands that run for real: they only read, compute or print, and end by themselves
REAL = {
    ("simulate",),
    ("config",),
    ("topics", "list"),
    ("curriculum", "stages"),
    ("curriculum", "status"),
    ("store", "stats"),
    ("schemas", "check"),
    ("eval", "reports"),
}


def _leaves(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _leaves(command, (*path, name))
        else:
            yield (*path, name), command


ROOT = typer.main.get_command(app)
LEAVES = dict(_leaves(ROOT))
OPTIONS = {
    path: sorted(
        {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}
    )
    for path, command in LEAVES.items()
}


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A working directory with paths of every kind, and the recorder for stubbed commands."""
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "garbage.duckdb").write_bytes(b"\x00not a database\xff" * 8)
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "Bogus.json").write_text("{not json")
    monkeypatch.chdir(tmp_path)
    calls: Counter[str] = Counter()
    for path, command in LEAVES.items():
        if path not in REAL:

            def record(*args: Any, _name: str = " ".join(path), **kwargs: Any) -> None:
                calls[_name] += 1

            monkeypatch.setattr(command, "callback", record)
    # every invocation gets this tree (with the stubs), not a freshly built one
    monkeypatch.setattr(typer.testing, "_get_command", lambda _app: ROOT)
    return {"calls": calls, "dir": tmp_path}


PATHS = ["missing.duckdb", "a-directory", "garbage.duckdb", "empty.yaml", "schemas", "/", ""]
values = st.one_of(
    st.integers(-5, 70_000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "E-1.1",
            "E-4.3",
            "E-9.9",
            "senior",
            "junior",
            "random",
            "human",
            "tiny",
            "sink",
            "scoring",
            "offline",
            "anthropic",
            "nope",
            "2026-11-25",
            "2026-13-99T25:00:00Z",
            "0",
            "1",
            "4",
            "5",
            "-1",
            "0.5",
            "1e999",
            "nan",
            "--",
            "-",
            "true",
        ]
    ),
    st.sampled_from(PATHS),
    st.text(max_size=20),
)


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    choice = draw(st.integers(0, 19))
    if choice == 0:  # no command, an unknown one, or only options
        return draw(st.lists(st.one_of(values, st.sampled_from(["--help", "--bogus"])), max_size=3))
    path = draw(st.sampled_from(sorted(LEAVES)))
    options = OPTIONS[path] or ["--help"]
    tokens = draw(
        st.lists(
            st.one_of(
                st.sampled_from(options),
                st.sampled_from(options),
                values,
                st.sampled_from(["--help", "--bogus", "-x"]),
            ),
            max_size=6,
        )
    )
    return [*path, *tokens]


def test_any_arguments_end_cleanly_with_a_reason(sandbox: dict[str, Any]) -> None:
    runner = typer.testing.CliRunner()
    env = {
        "DOJO_STORE_PATH": "missing.duckdb",
        "DOJO_DATA_DIR": "data",
        "DOJO_KAFKA_BOOTSTRAP": None,
    }
    exits: Counter[int] = Counter()

    @FUZZ
    @given(argv())
    def one(args: list[str]) -> None:
        result = runner.invoke(app, args, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"dojo {args!r} crashed") from result.exception
        exits[result.exit_code] += 1
        if result.exit_code != 0:
            assert result.output.strip(), f"dojo {args!r} exited {result.exit_code} silently"

    one()
    calls = sandbox["calls"]
    assert sum(exits.values()) >= 10_000
    # both sides were reached: commands that ran (real or recorded) and refusals
    assert exits[0] > 1000 and exits[2] > 1000, exits
    assert len(calls) >= 8, calls

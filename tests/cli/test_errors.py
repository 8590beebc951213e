"""CLI errors: a user's mistake is one line and exit 2; a bug keeps its traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nbrec.cli import app, common
from nbrec.data.schema import DataError
from nbrec.errors import BadValueError, UnknownNameError, UserError

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_debug():
    yield
    common.OPTIONS["debug"] = False


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["leaderboard", "--dataset", "no-such-data"], "unknown data set 'no-such-data'"),
        (["leaderboard", "--dataset", "synthetic", "--models", "nope"], "unknown model 'nope'"),
        (["leaderboard", "--dataset", "x.csv", "--map", "user_id"], "bad column mapping"),
        (["serve", "--port", "70000"], "--port must be within 1..65535"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args, says):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert result.output.count("error:") == 1


def test_debug_shows_the_traceback_of_a_user_error():
    result = runner.invoke(app, ["--debug", "leaderboard", "--dataset", "no-such-data"])
    assert result.exit_code == 1
    assert isinstance(result.exception, DataError)


def test_a_bug_keeps_its_traceback(monkeypatch):
    """A KeyError that is not a UserError is a bug: never turned into a tidy exit 2."""
    from nbrec.cli import evaluation

    def broken(*args, **kwargs):
        raise KeyError("internal bookkeeping")

    monkeypatch.setattr(evaluation, "load_dataset", broken)
    result = runner.invoke(app, ["leaderboard", "--dataset", "synthetic"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)
    assert not isinstance(result.exception, UserError)


def test_user_errors_are_also_the_builtin_errors():
    assert issubclass(DataError, ValueError) and issubclass(BadValueError, ValueError)
    assert issubclass(UnknownNameError, KeyError)
    assert str(UnknownNameError("unknown model 'x'")) == "unknown model 'x'"

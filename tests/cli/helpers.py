"""Run the CLI in-process and check the one-line error contract."""

from __future__ import annotations

from typer.testing import CliRunner

from textrnn.cli import app


def run_cli(*args: str, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def assert_error(result, *fragments: str) -> None:
    """Exit code 1, exactly one ``Error: ...`` line naming the fragments, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


TINY = ["--hidden-size", "32", "--embedding-dim", "16", "--num-layers", "1", "--batch-size", "8",
        "--seq-len", "32", "--sample-tokens", "0"]

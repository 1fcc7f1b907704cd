"""The exit status every command shares (README "Exit status"): 0 done, 2 usage error, 3 nothing usable."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from crackscope.cli import app
from crackscope.cli.common import EXIT_NOTHING_USED, EXIT_USAGE, exit_for_batch, fail_for_data
from crackscope.errors import BadInputError

runner = CliRunner()


def exit_code(call: object) -> int | None:
    """The status a helper exits with, None when it returns."""
    assert callable(call)
    try:
        call()
    except typer.Exit as stop:
        return int(stop.exit_code)
    return None


def test_exit_for_batch() -> None:
    assert exit_code(lambda: exit_for_batch(1, 40)) is None  # one success is enough: 0
    assert exit_code(lambda: exit_for_batch(3, 0)) is None
    assert exit_code(lambda: exit_for_batch(0, 2)) == EXIT_NOTHING_USED == 3
    assert exit_code(lambda: exit_for_batch(0, 0)) == 3


def test_fail_for_data_tells_usage_from_unusable_contents(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bad.png").write_bytes(b"not a png")
    assert exit_code(lambda: fail_for_data(BadInputError(data, "no readable images"), data)) == 3
    assert exit_code(lambda: fail_for_data(BadInputError(data / "bad.png", "truncated"), data)) == 3
    assert exit_code(lambda: fail_for_data(BadInputError(tmp_path / "run", "already a run"), data)) == EXIT_USAGE
    assert exit_code(lambda: fail_for_data(BadInputError(None, "needs weights"), data)) == 2
    assert exit_code(lambda: fail_for_data(ValueError("epochs must be at least 1"), data)) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert exit_code(lambda: fail_for_data(BadInputError(empty, "folder is empty"), empty)) == 2


@pytest.mark.parametrize("command", ["inspect", "split"])
def test_data_commands_exit_3_when_no_file_is_usable(command: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.png").write_bytes(b"")
    (data / "b.jpg").write_text("text, not a photo")
    (data / "[c].png").write_bytes(b"\x89PNG\r\n\x1a\n")
    result = runner.invoke(app, [command, str(data), "--out", str(tmp_path / "out")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3, result.output
    assert "no readable images" in result.output and "[c].png" in result.output


def test_a_missing_run_is_a_usage_error(tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    for args in (
        ["predict", str(tmp_path / "nope"), str(image)],
        ["map", str(tmp_path / "nope"), str(image), "-o", str(tmp_path / "o")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)

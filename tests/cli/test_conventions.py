"""One command-line style (issue 19): every command's ``--help`` walked and checked against the conventions.

- usage lines name the program ``crackscope`` (also under ``python -m crackscope``);
- a command that writes has ``-o/--out DIR``, and ``--out`` is always a folder (metavar ``DIR``);
- ``-m`` means ``--model`` and nothing else;
- a command that reads a data set has ``--layout``;
- help in one style: every command and every parameter has a one-line help sentence that starts with a capital
  letter and ends with a full stop; arguments are named in capitals (``RUN``, ``DATA``);
- errors start with ``error:``;
- ``score --tol`` is 2 by default.

Each check is a function returning the problems it finds, run on the real app (no problem) and on a small app
that breaks the convention (a problem), so that no check passes by finding nothing to look at.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from crackscope.cli import app

runner = CliRunner()

WRITERS = {
    "synth",
    "inspect",
    "split",
    "train",
    "evaluate",
    "explain",
    "map",
    "score",
    "selftrain",
    "fit",
    "train-restorer",
    "demo",
    "report",
    "export",
}
"""Commands that write files: each has ``-o/--out DIR``."""

OTHERS = {"version", "models", "predict", "compare", "layers", "presets", "serve"}
"""Commands that write nothing but their output (``predict`` writes the CSV of ``--csv FILE`` or stdout)."""

READS_DATA = {"train", "evaluate", "fit", "inspect", "split"}
"""Commands that read a data set: each has ``--layout``."""


def _library_takes_layout(command: str) -> bool:
    """Whether the library function behind ``report`` or ``train-restorer`` accepts a layout yet."""
    if command == "report":
        from crackscope.report import build_report

        return "layout" in inspect.signature(build_report).parameters
    from crackscope.unsupervised.train import RestorerTrainOptions, train_restorer

    fields = {f.name for f in dataclasses.fields(RestorerTrainOptions)}
    return "layout" in fields or "layout" in inspect.signature(train_restorer).parameters


def pending_layout() -> set[str]:
    """``report --data`` and ``train-restorer`` read a data set too: their ``--layout`` is checked as soon as the
    library function behind them takes a layout (today neither does)."""
    return {name for name in ("report", "train-restorer") if _library_takes_layout(name)}


def commands(cli: typer.Typer) -> dict[str, Any]:
    """The click commands of ``cli`` by name."""
    group: Any = get_command(cli)
    return dict(group.commands)


def options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


def arguments(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "argument"]


def flags(option: Any) -> set[str]:
    return set(option.opts) | set(option.secondary_opts)


def _help_problem(what: str, text: str | None) -> str | None:
    text = (text or "").strip()
    if not text:
        return f"{what}: no help"
    if "\n" in text:
        return f"{what}: help of more than one line"
    if not text[0].isupper():
        return f"{what}: help starts with {text[0]!r}, not a capital letter"
    if not text.endswith("."):
        return f"{what}: help does not end with a full stop"
    return None


# -- the checks ------------------------------------------------------------------------------------------------
def usage_problems(cli: typer.Typer) -> list[str]:
    """Each command's ``--help`` runs and its usage line reads ``Usage: crackscope NAME`` with capital arguments."""
    problems = []
    for name in commands(cli):
        result = runner.invoke(cli, [name, "--help"])
        if result.exit_code != 0:
            problems.append(f"{name} --help: exit status {result.exit_code}")
            continue
        usage = next((line.strip() for line in result.output.splitlines() if "Usage:" in line), "")
        if not usage.startswith(f"Usage: crackscope {name} "):
            problems.append(f"{name}: usage line {usage!r}")
        words = usage.split("[OPTIONS]", 1)[-1].split()
        for word in words:
            bare = word.strip("{}[].")
            if bare and not bare.replace("_", "").isupper():
                problems.append(f"{name}: argument {word!r} in the usage line is not in capitals")
    return problems


def out_problems(cli: typer.Typer, writers: set[str]) -> list[str]:
    """``--out`` always comes with ``-o`` and the metavar ``DIR``; every writing command has it."""
    problems = []
    for name, command in commands(cli).items():
        outs = [o for o in options(command) if "--out" in flags(o)]
        if name in writers and not outs:
            problems.append(f"{name}: writes files but has no --out")
        for option in outs:
            if "-o" not in flags(option):
                problems.append(f"{name}: --out without -o")
            if option.metavar != "DIR":
                problems.append(f"{name}: --out is shown as {option.metavar!r}, not DIR (a folder)")
    return problems


def short_m_problems(cli: typer.Typer) -> list[str]:
    """``-m`` is ``--model`` wherever it appears."""
    return [
        f"{name}: -m means {sorted(flags(option) - {'-m'})}"
        for name, command in commands(cli).items()
        for option in options(command)
        if "-m" in flags(option) and "--model" not in flags(option)
    ]


def layout_problems(cli: typer.Typer, readers: set[str]) -> list[str]:
    """Every command that reads a data set has ``--layout``."""
    found = commands(cli)
    return [
        f"{name}: reads a data set but has no --layout"
        for name in sorted(readers)
        if name in found and not any("--layout" in flags(o) for o in options(found[name]))
    ]


def help_problems(cli: typer.Typer) -> list[str]:
    """One help style for commands, arguments and options; arguments have capital metavars."""
    problems = []
    for name, command in commands(cli).items():
        first = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        if (problem := _help_problem(f"{name}", first)) is not None:
            problems.append(problem)
        for param in command.params:
            label = f"{name} {param.opts[0] if param.param_type_name == 'option' else param.name}"
            if (problem := _help_problem(label, getattr(param, "help", None))) is not None:
                problems.append(problem)
        for argument in arguments(command):
            if not (argument.metavar or "").replace("_", "").isupper():
                problems.append(f"{name} {argument.name}: metavar {argument.metavar!r} is not in capitals")
    return problems


def tol_problems(cli: typer.Typer) -> list[str]:
    """``score --tol`` is 2 by default, the tolerance of crack papers."""
    score = commands(cli).get("score")
    tol = None if score is None else next((o for o in options(score) if "--tol" in flags(o)), None)
    if tol is None:
        return ["score has no --tol"]
    return [] if tol.default == 2 else [f"score --tol defaults to {tol.default}"]


# -- a small app that breaks every convention ----------------------------------------------------------------
def broken_app() -> typer.Typer:
    bad = typer.Typer(name="other", add_completion=False)

    @bad.command("inspect")
    def inspect_cmd(
        data: Path = typer.Argument(..., help="data set folder"),
        out: Path = typer.Option(..., "--out", help="Output file."),
        method: str = typer.Option("cam", "--method", "-m", help="A method"),
    ) -> None:
        """look at a data set"""

    @bad.command("score")
    def score_cmd(tol: float = typer.Option(0, "--tol", help="Tolerance.")) -> None:
        """Score masks."""

    return bad


# -- the tests -----------------------------------------------------------------------------------------------
def test_every_command_is_classified() -> None:
    """A new command is sorted into WRITERS or OTHERS here, so that the conventions cover it."""
    unknown = set(commands(app)) - WRITERS - OTHERS
    assert not unknown, f"classify {sorted(unknown)} in tests/cli/test_conventions.py (WRITERS or OTHERS)"
    assert not (set(WRITERS) | READS_DATA) - set(commands(app)), "a listed command is gone"


@pytest.mark.parametrize(
    ("check", "bad_count"),
    [
        (usage_problems, 3),
        (lambda cli: out_problems(cli, WRITERS), 2),
        (short_m_problems, 1),
        (lambda cli: layout_problems(cli, READS_DATA | pending_layout()), 1),
        (help_problems, 4),
        (tol_problems, 1),
    ],
    ids=["usage", "out", "-m", "layout", "help", "tol"],
)
def test_conventions(check: Any, bad_count: int) -> None:
    assert check(app) == []
    assert len(check(broken_app())) >= bad_count  # the check finds what it is there to find


def test_usage_line_under_python_m() -> None:
    """``python -m crackscope`` says ``crackscope`` too (click would say ``python -m crackscope``)."""
    env = dict(os.environ, CRACKSCOPE_NO_TCMALLOC="1", COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "crackscope", "score", "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: crackscope score [OPTIONS]" in done.stdout
    assert "python -m" not in done.stdout


def test_errors_start_the_same_way(tmp_path: Path) -> None:
    """Usage errors found by click, errors of a command, and library errors: ``error:`` first, status 2."""
    data = tmp_path / "data"
    data.mkdir()
    for args in (
        ["map"],  # a missing argument (click)
        ["score", str(tmp_path), str(tmp_path), "--bogus"],  # an unknown option (click)
        ["nosuch"],  # an unknown command (click)
        ["split", str(data), "-o", str(tmp_path / "s"), "--layout", "zip"],  # the command's own check
        ["layers", str(tmp_path / "no-run")],  # a library error that reaches the top
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        first = result.output.strip().splitlines()[0]
        assert first.startswith("error: "), (args, result.output)
        assert "Error" not in result.output and "╭" not in result.output, (args, result.output)

"""What every ``doudi`` command shares: the root command, the console, the common options and the
one-line failure; the command modules import from here and never from each other but
``nightly._print_summary``.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from pipelines.core.errors import DoudiError, expected_failure


class _Doudi(TyperGroup):
    """The root command: the one place where an expected failure of any command (``DoudiError``, a
    path that is a folder or a file, no permission, a full disk, a warehouse held by another process)
    becomes one line on stderr and its documented exit status instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as exc:  # typer.Exit and click's usage errors pass through: expected_failure maps neither
            failure = expected_failure(exc)
            if failure is None:
                raise  # a defect: its traceback is what a developer needs
            _fail(failure)


app = typer.Typer(
    cls=_Doudi,
    help="兜底 doudi: nightly social-assistance data matching and early warning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

CaseworkOpt = Annotated[
    str | None,
    typer.Option(
        "--casework",
        envvar="DOUDI_CASEWORK_DB",
        help="casework store: sqlite:///var/casework.sqlite3 or postgresql://user:pw@host/db [env DOUDI_CASEWORK_DB]",
    ),
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="a progress line per step of the night on stderr [default: when stderr is a terminal]",
    ),
]

# 120 columns when not on a terminal (CI logs, pipes), else the terminal's width
console = Console(width=shutil.get_terminal_size((120, 24)).columns)
err = Console(stderr=True)


def _warehouse_default() -> Path:
    return Path(os.environ.get("DOUDI_WAREHOUSE", "var/warehouse.duckdb"))


WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", help="DuckDB warehouse file [env DOUDI_WAREHOUSE; default var/warehouse.duckdb]"),
]


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD") from None


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _fail(exc: Exception) -> None:
    """One line on stderr, exit with the error's status (2 by default). The message's line breaks are
    folded and other control characters written as escapes: a path from the command line or a file
    name cannot move the cursor, colour the terminal or add a line."""
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in " ".join(str(exc).split()))
    err.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True, highlight=False)
    raise typer.Exit(getattr(exc, "exit_code", 2))


def _bad_county(value: str) -> str:
    raise typer.BadParameter(f"{value!r} is not a county code: 6 digits (GB/T 2260), e.g. 220221")


def _shown(text: object) -> str:
    """Outside text (a file name, a reason quoting a header) as plain text on the terminal: control
    characters escaped (no forged lines, no ANSI colours) and Rich markup ([green]...) taken literally."""
    from rich.markup import escape

    from pipelines.core.safe_text import printable

    return escape(printable(text))


def _with_warehouse(warehouse: Path | None, fn):
    from pipelines.core.warehouse import open_warehouse

    path = warehouse or _warehouse_default()
    if not path.exists():
        _fail(DoudiError(f"no warehouse at {path}: run `doudi run` first or pass --warehouse"))
    try:
        with open_warehouse(path) as con:
            return fn(con)
    except DoudiError as exc:  # another process holding the file is one too (WarehouseBusy, exit 5)
        _fail(exc)

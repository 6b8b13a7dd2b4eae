"""``doudi generate`` and ``doudi demo``: a synthetic county, and the whole demonstration on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import _bad_county, _fail, _parse_date, console
from pipelines.errors import DoudiError


class _Bars:
    """The generator's stages as rich progress bars, one per stage, each with its time."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Column

        from pipelines.synthetic.progress import STAGES

        self._labels = STAGES
        self._bars = Progress(
            TextColumn("{task.description}", table_column=Column(width=18)),
            BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        )  # fmt: skip
        self._task = None

    def __enter__(self) -> _Bars:
        self._bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bars.stop()

    def stage(self, key: str, total: int = 1) -> None:
        self._finish()
        self._task = self._bars.add_task(self._labels[key], total=max(total, 1))

    def advance(self, units: int = 1) -> None:
        if self._task is not None:
            self._bars.advance(self._task, units)

    def close(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._task is not None:
            task = self._bars.tasks[self._task]
            self._bars.update(self._task, completed=task.total)
            self._bars.stop_task(self._task)
            self._task = None


def generate(
    out: Annotated[Path, typer.Option(help="folder to write landing/ and truth/ into")],
    persons: Annotated[
        int,
        typer.Option(
            min=1000, help="residents in the household registry (at least 1,000: the planted cases need room)"
        ),
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same files")] = 7,
    as_of: Annotated[
        str, typer.Option("--as-of", help="night the county is generated for (YYYY-MM-DD)")
    ] = "2026-11-20",
    county: Annotated[
        str,
        typer.Option(
            help="6-digit county code; one without a region file is generated on the default figures",
            callback=lambda v: v if len(v) == 6 and v.isdigit() else _bad_county(v),
        ),
    ] = "520302",
) -> None:
    """Generate a synthetic county: seven feeds in their messy formats, and a ground truth beside them."""
    from pipelines.synthetic import generate_county

    try:
        with _Bars() as bars:
            summary = generate_county(
                out, persons=persons, seed=seed, as_of=_parse_date(as_of), county=county, progress=bars
            )
    except DoudiError as exc:
        _fail(exc)
    files = summary.get("files", {})
    console.print(f"[bold]synthetic county[/] {persons:,} persons, seed {seed}, as of {as_of}")
    console.print(f"  landing: {out / 'landing'}  ({len(files)} files)")
    console.print(f"  truth:   {out / 'truth'}")


def demo(
    out: Annotated[Path, typer.Option(help="where the county, warehouse and exports go")] = Path("var"),
    persons: Annotated[int, typer.Option(min=1000)] = 20_000,
    seed: int = 7,
    as_of: Annotated[str, typer.Option("--as-of")] = "2026-11-20",
    port: Annotated[int, typer.Option(help="the port `doudi serve` is shown with")] = 8000,
) -> None:
    """Generate a county into OUT/county, run its night into OUT/warehouse.duckdb, publish its alerts to
    the casework store OUT/casework.sqlite3 and create demo users for two townships (printed)."""
    from pipelines.night import run_night
    from pipelines.synthetic import generate_county

    night = _parse_date(as_of)
    county = out / "county"
    if not (county / "truth" / "manifest.json").exists():
        console.print(f"生成合成县 ({persons:,} 人) 到 {county} ...", highlight=False)
        with _Bars() as bars:
            generate_county(county, persons=persons, seed=seed, as_of=night, progress=bars)
    casework = f"sqlite:///{(out / 'casework.sqlite3').resolve()}"
    try:
        summary = run_night(county / "landing", night, out / "warehouse.duckdb", casework_db=casework)
    except DoudiError as exc:
        _fail(exc)
    from pipelines.outputs.summary import print_night_summary

    print_night_summary(summary, console)
    console.print(f"合成县的真值（每行的真实身份、植入的预警案例）：{county / 'truth'}", highlight=False)
    from pipelines.night import step_report

    monthly = step_report(out / "warehouse.duckdb", night, out_dir=out / "reports", force=True)
    console.print(f"月报 {night:%Y-%m}：" + "  ".join(monthly["report"].values()), soft_wrap=True, highlight=False)
    if monthly.get("reason"):
        console.print(f"  {monthly['reason']}")
    from webapp.casework.accounts import seed_demo_users

    logins = seed_demo_users()
    console.print("\n[bold]个案工作网页应用[/]（演示账号；每次 make demo 都生成新密码）：")
    for login in logins:
        console.print(f"  {login['username']:<14} {login['password']:<14} {login['role']}", highlight=False)
    console.print(f"启动：  DOUDI_CASEWORK_DB={casework} .venv/bin/doudi serve --port {port}", highlight=False)
    console.print(f"然后打开：http://127.0.0.1:{port}/", highlight=False)
    raise typer.Exit(summary.exit_code)

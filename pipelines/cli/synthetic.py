"""``doudi generate`` and ``doudi demo``: a synthetic county, and the whole demonstration on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import ProgressOpt, _bad_county, _fail, _parse_date, console
from pipelines.cli.nightly import _print_summary
from pipelines.errors import DoudiError


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
        summary = generate_county(out, persons=persons, seed=seed, as_of=_parse_date(as_of), county=county)
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
    progress: ProgressOpt = None,
) -> None:
    """Generate a county into OUT/county, run its night into OUT/warehouse.duckdb, publish its alerts to
    the casework store OUT/casework.sqlite3 and create demo users for two townships (printed)."""
    from pipelines.night import run_night
    from pipelines.synthetic import generate_county

    night = _parse_date(as_of)
    county = out / "county"
    if not (county / "truth" / "manifest.json").exists():
        console.print(f"generating a synthetic county of {persons:,} persons into {county} ...")
        generate_county(county, persons=persons, seed=seed, as_of=night)
    casework = f"sqlite:///{(out / 'casework.sqlite3').resolve()}"
    from pipelines.cli.progress import night_progress

    try:
        with night_progress(progress) as shown:
            summary = run_night(
                county / "landing", night, out / "warehouse.duckdb", casework_db=casework, progress=shown
            )
    except DoudiError as exc:
        _fail(exc)
    _print_summary(summary)
    console.print(f"ground truth of the county: {county / 'truth'}")
    from pipelines.night import step_report

    monthly = step_report(out / "warehouse.duckdb", night, out_dir=out / "reports", force=True)
    console.print(f"monthly report {night:%Y-%m}: " + "  ".join(monthly["report"].values()), soft_wrap=True)
    if monthly.get("reason"):
        console.print(f"  {monthly['reason']}")
    from webapp.casework.accounts import seed_demo_users

    logins = seed_demo_users()
    console.print("\n[bold]casework web application[/] (demo logins; passwords are new on every `make demo`):")
    for login in logins:
        console.print(f"  {login['username']:<14} {login['password']:<14} {login['role']}", highlight=False)
    console.print(f"start it:  DOUDI_CASEWORK_DB={casework} .venv/bin/doudi serve --port {port}")
    console.print(f"then open: http://127.0.0.1:{port}/")
    raise typer.Exit(summary.exit_code)

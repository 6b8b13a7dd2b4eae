"""``doudi run``, ``doudi pull`` and ``doudi exchange``: a night, its sources, the province exchange."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import (
    CaseworkOpt,
    ProgressOpt,
    WarehouseOpt,
    _fail,
    _parse_date,
    _warehouse_default,
    console,
)
from pipelines.core.errors import DoudiError


def run(
    landing: Annotated[Path, typer.Option(help="landing area: <landing>/<feed>/<YYYY-MM-DD>/<file>")],
    as_of: Annotated[str, typer.Option("--as-of", help="the night's date (YYYY-MM-DD)")],
    warehouse: WarehouseOpt = None,
    policy: Annotated[Path | None, typer.Option(help="policy folder (rules.yaml, regions/) [env DOUDI_POLICY]")] = None,
    exports: Annotated[Path | None, typer.Option(help="folder for the night's exports")] = None,
    casework: CaseworkOpt = None,
    progress: ProgressOpt = None,
) -> None:
    """Run one night: ingest, validate, standardize, link, rules, publish; print the summary.

    With --casework (or DOUDI_CASEWORK_DB) the night ends by publishing its alerts to the casework store.

    Exit status: 0 when every delivery was loaded (quarantined rows allowed; a night without a new
    delivery too, and the summary says so); 3 when a delivery was rejected or held (the night is still
    completed for every usable feed); 2 for a usage, path or policy error (nothing was changed); 5 when
    another process holds the warehouse (nothing was changed: run it again when that one has ended);
    6 when the night's data was saved but its exports could not be written (run the same night again).
    """
    from pipelines.cli.progress import night_progress
    from pipelines.orchestration.night import run_night
    from pipelines.policy import load_policy

    warehouse = warehouse or _warehouse_default()
    try:
        with night_progress(progress) as shown:
            summary = run_night(landing, _parse_date(as_of), warehouse, load_policy(policy), exports, casework, shown)
    except DoudiError as exc:
        _fail(exc)
    _print_summary(summary)  # its last line says when nothing new was delivered
    raise typer.Exit(summary.exit_code)


EXIT_SOURCE_LATE = 4


def pull(
    as_of: Annotated[str, typer.Option("--as-of", help="the night to pull for (YYYY-MM-DD)")],
    counties: Annotated[
        Path | None, typer.Option(help="counties file (sources per feed) [env DOUDI_COUNTIES, var/counties.yaml]")
    ] = None,
    county: Annotated[list[str] | None, typer.Option(help="county code (repeat; default: every county)")] = None,
    feed: Annotated[list[str] | None, typer.Option(help="feed (repeat; default: every configured source)")] = None,
) -> None:
    """Pull the configured sources of a night into the landing areas, as the nightly DAG's pull tasks do.

    Credentials come from AIRFLOW_CONN_<ID> environment variables (Airflow's own convention). A pull
    lands an immutable raw file under landing/<feed>/<as-of>/ and is a no-op when it already did.
    Exit status 0 when every source landed; 4 when one was late or failed (the others still landed).
    """
    from pipelines.ingest.sources import SourceError, env_connection
    from pipelines.ingest.sources import pull as pull_feed
    from pipelines.orchestration.counties import load_counties

    night = _parse_date(as_of)
    try:
        cfg = load_counties(counties)
        chosen = [cfg.county(c) for c in county] if county else cfg.counties
    except DoudiError as exc:
        _fail(exc)
    table = Table(title=f"pulls for {night}")
    for col in ["county", "feed", "kind", "outcome", "files", "rows", "seconds"]:
        table.add_column(col, justify="right" if col in ("files", "rows", "seconds") else "left")
    failed = 0
    for c in chosen:
        for name, spec in sorted(c.sources.items()):
            if feed and name not in feed:
                continue
            try:
                got = pull_feed(name, spec, cfg.landing(c), night, env_connection)
            except SourceError as exc:
                failed += 1
                table.add_row(c.code, name, spec.kind, f"[red]{type(exc).__name__}[/]: {exc}", "", "", "")
                continue
            rows = got.get("rows")
            table.add_row(
                c.code, name, spec.kind, "already landed" if got.get("already_landed") else "landed",
                str(len(got.get("files", []))), "" if rows is None else f"{rows:,}", f"{got.get('seconds', 0):.1f}",
            )  # fmt: skip
    console.print(table)
    raise typer.Exit(EXIT_SOURCE_LATE if failed else 0)


def exchange(
    as_of: Annotated[str, typer.Option("--as-of", help="the night whose settlements to exchange (YYYY-MM-DD)")],
    counties: Annotated[Path | None, typer.Option(help="counties file [env DOUDI_COUNTIES, var/counties.yaml]")] = None,
    county: Annotated[
        list[str] | None, typer.Option(help="sending county code (repeat; default: every county)")
    ] = None,
) -> None:
    """After the counties' nights: send each county's settlements of other counties' residents home.

    Lands landing/medical_settlements/<as-of>/from_<county>.parquet in each home county (its next
    night, or a rerun of its night, loads it) and a receipt under the sender's referrals/. Rerunning
    it writes the same files. Prints the rows moved per pair of counties (no ID numbers).
    """
    from pipelines.outputs.exchange import exchange as run_exchange

    try:
        result = run_exchange(counties, _parse_date(as_of), only=county or None)
    except DoudiError as exc:
        _fail(exc)
    table = Table(title=f"province exchange {result.as_of}")
    for col in ["from", "to", "rows", "file"]:
        table.add_column(col, justify="right" if col == "rows" else "left")
    for p in result.pairs:
        table.add_row(p.source, p.target, f"{p.rows:,}", p.file + ("" if p.written else "  (unchanged)"))
    console.print(table)
    console.print(
        f"{result.moved:,} rows moved; {result.candidates:,} rows of patients outside their county's coverage, "
        f"{result.unplaced:,} of them resident in no other county of the file; {result.seconds:.1f}s"
    )
    for code, why in result.skipped.items():
        console.print(f"[yellow]{code} sent nothing:[/] {why}")


def _print_summary(summary) -> None:
    """The night's summary as county staff read it (``pipelines.outputs.summary.print_night_summary``)."""
    from pipelines.outputs.summary import print_night_summary

    print_night_summary(summary, console)

"""The ``doudi`` command: generate a synthetic county, run a night, export alerts and links.

Command names, options and export columns are a public interface that counties script against:
add, never rename.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from pipelines.errors import DoudiError, expected_failure


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
alerts_app = typer.Typer(help="Alerts raised by the warning rules.", no_args_is_help=True)
links_app = typer.Typer(help="How every delivered row was tied to a person.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Delivered files and what became of them.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rows set aside, with reasons, for the departments to fix.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
app.add_typer(links_app, name="links")
app.add_typer(deliveries_app, name="deliveries")
households_app = typer.Typer(help="Households with live signals: their risk profile.", no_args_is_help=True)
rules_app = typer.Typer(help="The warning rules: what they are, what a change would do.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(households_app, name="households")
app.add_typer(rules_app, name="rules")
compare_app = typer.Typer(
    help="Cross-department comparison results (比对结果): what each department should correct.", no_args_is_help=True
)
app.add_typer(compare_app, name="compare")
users_app = typer.Typer(help="Casework users: caseworkers, county officers, administrators.", no_args_is_help=True)
casework_app = typer.Typer(help="The caseworkers' store (the web application's database).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(casework_app, name="casework")
policy_app = typer.Typer(help="Region policy files: a county's figures and townships.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

CaseworkOpt = Annotated[
    str | None,
    typer.Option(
        "--casework",
        envvar="DOUDI_CASEWORK_DB",
        help="casework store: sqlite:///var/casework.sqlite3 or postgresql://user:pw@host/db [env DOUDI_CASEWORK_DB]",
    ),
]

# 120 columns when not on a terminal (CI logs, pipes), else the terminal's width
console = Console(width=shutil.get_terminal_size((120, 24)).columns)
err = Console(stderr=True)


class AlertFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"


class LinkFormat(StrEnum):
    csv = "csv"
    json = "json"


class QuarantineFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class CompareFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"
    json = "json"


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


@app.command()
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


@policy_app.command("init")
def policy_init(
    county: Annotated[str, typer.Option(help="6-digit county code, e.g. 220221")],
    warehouse: WarehouseOpt = None,
    policy: Annotated[
        Path | None, typer.Option(help="policy folder whose regions/ receives the file [env DOUDI_POLICY]")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="file to write [default <policy>/regions/<county>.yaml]")] = None,
    year: Annotated[int | None, typer.Option(help="the year of the figures [default: the last night's]")] = None,
    force: Annotated[bool, typer.Option(help="write over an existing file")] = False,
) -> None:
    """Write a county's region file to complete: the townships found in the warehouse, figures left to the defaults.

    Every figure is written null with its default, year and source beside it: until the office writes
    the county's own figure, the night keeps using the default and says so in each alert and its summary.
    """
    from pipelines.policy.region_init import write_region_file

    policy_dir = policy or (Path(os.environ["DOUDI_POLICY"]) if os.environ.get("DOUDI_POLICY") else None)
    target = out or (policy_dir or Path(".")) / "regions" / f"{county}.yaml"
    try:
        written = write_region_file(warehouse or _warehouse_default(), county, target, year, force, policy_dir)
    except DoudiError as exc:
        _fail(exc)
    console.print(
        f"写入 {written['path']}：{written['year']} 年，{written['townships']} 个乡镇（街道）；"
        "请填写本县的低保标准和人均可支配收入（null 处），核对乡镇名称和城乡属性",
        soft_wrap=True,
        highlight=False,
    )


@app.command()
def run(
    landing: Annotated[Path, typer.Option(help="landing area: <landing>/<feed>/<YYYY-MM-DD>/<file>")],
    as_of: Annotated[str, typer.Option("--as-of", help="the night's date (YYYY-MM-DD)")],
    warehouse: WarehouseOpt = None,
    policy: Annotated[Path | None, typer.Option(help="policy folder (rules.yaml, regions/) [env DOUDI_POLICY]")] = None,
    exports: Annotated[Path | None, typer.Option(help="folder for the night's exports")] = None,
    casework: CaseworkOpt = None,
) -> None:
    """Run one night: ingest, validate, standardize, link, rules, publish; print the summary.

    With --casework (or DOUDI_CASEWORK_DB) the night ends by publishing its alerts to the casework store.

    Exit status: 0 when every delivery was loaded (quarantined rows allowed; a night without a new
    delivery too, and the summary says so); 3 when a delivery was rejected or held (the night is still
    completed for every usable feed); 2 for a usage, path or policy error (nothing was changed); 5 when
    another process holds the warehouse (nothing was changed: run it again when that one has ended);
    6 when the night's data was saved but its exports could not be written (run the same night again).
    """
    from pipelines.night import run_night
    from pipelines.policy import load_policy

    warehouse = warehouse or _warehouse_default()
    try:
        summary = run_night(landing, _parse_date(as_of), warehouse, load_policy(policy), exports, casework)
    except DoudiError as exc:
        _fail(exc)
    _print_summary(summary)
    if summary.nothing_delivered:
        console.print(f"[yellow]{escape(summary.nothing_delivered)}[/]", soft_wrap=True, highlight=False)
    raise typer.Exit(summary.exit_code)


EXIT_SOURCE_LATE = 4


@app.command()
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
    from pipelines.counties import load_counties
    from pipelines.sources import SourceError, env_connection
    from pipelines.sources import pull as pull_feed

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


@app.command()
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
    from pipelines.exchange import exchange as run_exchange

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


def _shown(text: object) -> str:
    """Outside text (a file name, a reason quoting a header) as plain text on the terminal: control
    characters escaped (no forged lines, no ANSI colours) and Rich markup ([green]...) taken literally."""
    from rich.markup import escape

    from pipelines.safe_text import printable

    return escape(printable(text))


def _print_summary(summary) -> None:
    table = Table(title=f"night {summary.as_of} (run {summary.run_id})")
    for col in ["feed", "files", "rows delivered", "loaded", "quarantined", "linked", "unlinked"]:
        table.add_column(col, justify="left" if col == "feed" else "right", no_wrap=col == "feed")
    for f in summary.feeds:
        table.add_row(
            f["feed"],
            str(f["files"]),
            f"{f['delivered']:,}",
            f"{f['loaded']:,}",
            f"{f['quarantined']:,}",
            f"{f['linked']:,}",
            f"{f['unlinked']:,}",
        )
    console.print(table)
    console.print("  rows delivered/loaded/quarantined: this night's new files; linked/unlinked: all rows in force")
    if summary.files_skipped:
        console.print(f"  {summary.files_skipped} file(s) already loaded on an earlier night: skipped")
    for p in summary.problems:  # names and reasons come from outside: no markup, no control characters
        console.print(
            f"  [red]{p['outcome']}[/] {_shown(p['source_file'])} ({p['rows']:,} rows): {_shown(p['reason'])}",
            soft_wrap=True,
            highlight=False,
        )
    if summary.data_docs:
        fails = summary.validation_failures
        console.print(
            f"  feed contracts (Great Expectations): {fails} expectation(s) failed; Data Docs: {summary.data_docs}",
            soft_wrap=True,
        )
    for line in summary.policy_defaults:
        console.print(f"  [yellow]地区政策[/] {line}", soft_wrap=True, highlight=False)
    for path in summary.ignored_paths:
        why = summary.ignored_reasons.get(path, "not a delivery: expected <feed>/<YYYY-MM-DD>/<file>")
        console.print(f"  [yellow]ignored[/] {_shown(path)}: {_shown(why)}", soft_wrap=True, highlight=False)
    a = summary.alerts
    console.print(
        f"alerts: {a.get('new', 0)} new, {a.get('updated', 0)} updated, "
        f"{a.get('unchanged', 0)} unchanged, {a.get('cleared', 0)} cleared; {summary.alerts_open} open"
    )
    for r in summary.rules_skipped:
        console.print(
            f"  [yellow]rule {r['rule_id']} skipped[/] (its alerts left as they were): {r['reason']}",
            soft_wrap=True,
            highlight=False,
        )
    console.print("seconds per phase: " + ", ".join(f"{k} {v:.1f}" for k, v in summary.phase_seconds.items()))
    console.print(f"exports: {summary.exports['alerts']}  {summary.exports['links']}")
    if summary.casework:
        console.print(summary.casework)


@alerts_app.command("export")
def alerts_export(
    out: Annotated[Path, typer.Option(help="file to write")],
    format: Annotated[AlertFormat, typer.Option("--format", help="csv, xlsx or json")] = AlertFormat.csv,
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers and names")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """One row per alert: rule, subject (masked), household, township, figure, threshold, evidence."""
    from pipelines.exports import export_alerts

    n = _with_warehouse(warehouse, lambda con: export_alerts(con, out, format.value, reveal_ids))
    console.print(f"{n:,} alerts written to {out}" + ("" if reveal_ids else " (IDs and names masked)"))


@links_app.command("export")
def links_export(
    out: Annotated[Path, typer.Option(help="file to write")],
    format: Annotated[LinkFormat, typer.Option("--format", help="csv or json")] = LinkFormat.csv,
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """One row per delivered feed row: its file and row, the person it is linked to, method and score."""
    from pipelines.exports import export_links

    n = _with_warehouse(warehouse, lambda con: export_links(con, out, format.value, reveal_ids))
    console.print(f"{n:,} rows written to {out}" + ("" if reveal_ids else " (IDs masked)"))


def _with_warehouse(warehouse: Path | None, fn):
    from pipelines.warehouse import open_warehouse

    path = warehouse or _warehouse_default()
    if not path.exists():
        _fail(DoudiError(f"no warehouse at {path}: run `doudi run` first or pass --warehouse"))
    try:
        with open_warehouse(path) as con:
            return fn(con)
    except DoudiError as exc:  # another process holding the file is one too (WarehouseBusy, exit 5)
        _fail(exc)


@links_app.command("explain")
def links_explain(
    row_key: Annotated[str, typer.Argument(help="<source_file>#<row_number> or <feed>:<record_key>")],
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Why a row is linked (method, score, the weight of each comparison) or not."""
    from matchers.explain import explain_row, find_rows, format_explanation

    def run(con):
        return [format_explanation(explain_row(con, *r, reveal=reveal_ids)) for r in find_rows(con, row_key)]

    for text in _with_warehouse(warehouse, run):  # delivered text inside is escaped by format_explanation
        console.print(text, highlight=False, soft_wrap=True, markup=False)


@links_app.command("review")
def links_review(
    out: Annotated[Path, typer.Option(help="file to write (csv)")],
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers and names")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Export the pairs between the thresholds for a data officer to confirm or reject."""
    from pipelines.exports import export_review

    n = _with_warehouse(warehouse, lambda con: export_review(con, out, reveal_ids))
    console.print(
        f"{n:,} candidate pairs written to {out}; decide with `doudi links confirm|reject ROW_KEY --person-id N`"
    )


def _decide(row_key: str, person_id: int, decision: str, by: str | None, warehouse: Path | None) -> None:
    from matchers.explain import find_rows

    def run(con):
        rows = find_rows(con, row_key)
        if len(rows) != 1:
            raise DoudiError(f"{row_key!r} names {len(rows)} rows: use <source_file>#<row_number>")
        feed, delivery_id, row_number = rows[0]
        if not con.execute("select 1 from int.person_key where person_id = ?", [person_id]).fetchall():
            raise DoudiError(f"no person {person_id}")
        con.execute(
            "insert or replace into int.link_decision values (?, ?, ?, ?, ?, ?, now())",
            [feed, delivery_id, row_number, person_id, decision, by],
        )
        if decision == "confirmed":  # one person per row: a confirmation overrules other confirmations
            con.execute(
                "delete from int.link_decision where feed = ? and delivery_id = ? and row_number = ? "
                "and person_id <> ? and decision = 'confirmed'",
                [feed, delivery_id, row_number, person_id],
            )

    _with_warehouse(warehouse, run)
    console.print(f"{row_key} – person {person_id}: {decision}; the next night applies it")


@links_app.command("confirm")
def links_confirm(
    row_key: Annotated[str, typer.Argument(help="<source_file>#<row_number>")],
    person_id: Annotated[int, typer.Option("--person-id", help="the person the row belongs to")],
    by: Annotated[str | None, typer.Option(help="who decides, for the record")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Confirm a pair: the row belongs to this person, whatever the model says on later nights."""
    _decide(row_key, person_id, "confirmed", by, warehouse)


@links_app.command("reject")
def links_reject(
    row_key: Annotated[str, typer.Argument(help="<source_file>#<row_number>")],
    person_id: Annotated[int, typer.Option("--person-id", help="the person the row does not belong to")],
    by: Annotated[str | None, typer.Option(help="who decides, for the record")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Reject a pair: the row is never linked to this person again."""
    _decide(row_key, person_id, "rejected", by, warehouse)


@deliveries_app.command("export")
def deliveries_export(
    out: Annotated[Path, typer.Option(help="file to write")],
    format: Annotated[LinkFormat, typer.Option("--format", help="csv or json")] = LinkFormat.csv,
    warehouse: WarehouseOpt = None,
) -> None:
    """One row per delivered file: feed, as_of, source_file, sha256, rows delivered/loaded/quarantined, outcome."""
    from pipelines.exports import export_deliveries

    n = _with_warehouse(warehouse, lambda con: export_deliveries(con, out, format.value))
    console.print(f"{n:,} deliveries written to {out}")


@deliveries_app.command("accept")
def deliveries_accept(
    delivery_id: Annotated[int, typer.Argument(help="the held delivery (see `doudi deliveries export`)")],
    by: Annotated[str | None, typer.Option(help="who accepts it, for the record")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Accept a held snapshot deliberately: the next night uses it and infers its departures."""
    from pipelines.ingest import accept_delivery

    source = _with_warehouse(warehouse, lambda con: accept_delivery(con, delivery_id, by))
    console.print(f"delivery {delivery_id} ({_shown(source)}) accepted: the next `doudi run` uses it", highlight=False)


@quarantine_app.command("export")
def quarantine_export(
    out: Annotated[Path, typer.Option(help="file to write")],
    format: Annotated[QuarantineFormat, typer.Option("--format", help="csv or xlsx")] = QuarantineFormat.csv,
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers and names")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """One row per quarantined row: feed, source_file, row_number, reason_code, reason, raw (JSON)."""
    from pipelines.exports import export_quarantine

    n = _with_warehouse(warehouse, lambda con: export_quarantine(con, out, format.value, reveal_ids))
    console.print(f"{n:,} quarantined rows written to {out}" + ("" if reveal_ids else " (IDs and names masked)"))


@app.command()
def report(
    month: Annotated[str, typer.Option("--month", help="the month (YYYY-MM)")],
    county: Annotated[str | None, typer.Option("--county", help="one county's code (6 digits); default: all")] = None,
    out: Annotated[Path, typer.Option("--out", help="folder to write the report into")] = Path("var/reports"),
    format: Annotated[
        list[str] | None, typer.Option("--format", help="html, xlsx, pdf (repeat the option; default: all three)")
    ] = None,
    warehouse: WarehouseOpt = None,
    policy: Annotated[Path | None, typer.Option(help="policy folder (casework deadlines) [env DOUDI_POLICY]")] = None,
    trend_months: Annotated[int, typer.Option("--trend-months", min=1, help="months of trend, this one included")] = 6,
    top: Annotated[int, typer.Option("--top", min=0, help="highest-scoring households listed")] = 20,
) -> None:
    """The monthly low-income population monitoring report (低收入人口动态监测月报): HTML, XLSX and PDF.

    Per county and township: the monitored population by category at the month's end, entries and
    exits, alerts raised / cleared / closed by rule and outcome, overdue alerts, the households with
    the highest risk score (masked), each department's comparison results with their trend, and the
    quarantine reasons. The PDF is printed by headless Chromium (Debian's chromium: make system-deps).
    """
    from pipelines.policy import load_policy
    from pipelines.report import REPORT_FORMATS, build_report, write_report

    formats = tuple(format or REPORT_FORMATS)
    if unknown := sorted(set(formats) - set(REPORT_FORMATS)):
        _fail(DoudiError(f"unknown report format(s) {', '.join(unknown)}: choose from html, xlsx, pdf"))

    def make(con):
        report = build_report(con, month, county, load_policy(policy), trend_months=trend_months, top_households=top)
        return write_report(report, out, formats)

    written = _with_warehouse(warehouse, make)
    for kind, path in written.items():
        console.print(f"{kind}: {path} ({path.stat().st_size / 1024:,.0f} KiB)", soft_wrap=True)


@compare_app.command("export")
def compare_export(
    feed: Annotated[str, typer.Option("--feed", help="the department's feed, e.g. medical_settlements")],
    format: Annotated[CompareFormat, typer.Option("--format", help="xlsx, csv or json")] = CompareFormat.xlsx,
    out: Annotated[
        Path | None, typer.Option(help="file to write; default 比对结果_<feed>_<month>.<format> here")
    ] = None,
    month: Annotated[
        str | None, typer.Option("--month", help="deliveries of this month (YYYY-MM); default: the feed's latest")
    ] = None,
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers and names")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """A department's rows that matched nobody, conflict with another department, or were quarantined.

    Columns: feed, delivered_on, source_file, row_number, record_key, raw_id_number, problem
    (unmatched | identity_conflict | low_income_disagreement | quarantined | file_not_used), reason_code,
    reason, raw (JSON);
    the XLSX has Chinese headers.
    """
    from pipelines.exports import compare_month, export_compare

    def write(con):
        chosen = month or compare_month(con, feed)
        path = out or Path(f"比对结果_{feed}_{chosen}.{format.value}")
        return path, export_compare(con, feed, path, format.value, chosen, reveal_ids)

    path, n = _with_warehouse(warehouse, write)
    console.print(f"{n:,} rows written to {path}" + ("" if reveal_ids else " (IDs and names masked)"))


@households_app.command("show")
def households_show(
    code: Annotated[str, typer.Argument(help="家庭编号 (civil-affairs household code) or 户号 (hukou number)")],
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers and names")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """A household's risk profile: score and its parts, members, live signals with their evidence."""
    from pipelines.households import household_profile

    p = _with_warehouse(warehouse, lambda con: household_profile(con, code, reveal_ids))
    console.print(
        f"[bold]{p['household_key']}[/]  {p.get('category') or ''}  {p.get('township') or ''}  "
        f"region {p.get('region_code') or '-'}",
        highlight=False,
    )
    if p.get("live_alerts"):
        console.print(
            f"score [bold]{p['score']}[/] = signals {p['rule_points']:g} + category {p['category_points']:g} "
            f"+ members {p['member_points']:g} + days open {p['age_points']:g}  "
            f"({p['live_alerts']} live alert(s), oldest raised {p['oldest_raised_on']})",
            highlight=False,
        )
    else:
        console.print("no live signals", highlight=False)
    members = Table("ID number", "name", "relation", "sex", "age", "category", "source", title="members")
    for m in p["members_list"]:
        members.add_row(*(str(m[k]) if m[k] is not None else "" for k in members_keys))
    console.print(members)
    signals = Table("#", "rule", "v", "period", "figure", "threshold", "status", "raised", "person", title="signals")
    for n, a in enumerate(p["signals"], start=1):
        signals.add_row(
            str(n), a["rule_id"], str(a["rule_version"]), a["period"], str(a["figure"] or ""),
            str(a["threshold"] or ""), a["status"], str(a["first_raised_on"]), a["id_number"] or "",
        )  # fmt: skip
    signals.columns[1].no_wrap = True
    console.print(signals)
    for n, a in enumerate(p["signals"], start=1):
        for e in a["evidence"]:
            score = f" {e['score']:.3f}" if isinstance(e.get("score"), int | float) else ""
            detail = f" — {e['detail']}" if e.get("detail") else ""
            console.print(
                f"  [{n}] {e.get('feed')}: {_shown(e.get('source_file'))}#{e.get('row_number')} "
                f"{_shown(e.get('record_key') or '')} ({e.get('method') or 'unlinked'}{score}){_shown(detail)}",
                highlight=False,
                soft_wrap=True,
            )
        if a.get("evidence_omitted"):
            console.print(f"  [{n}] 另有 {a['evidence_omitted']} 条证据未列出", highlight=False)


members_keys = ("id_number", "name", "relation", "sex", "age", "category", "feed")


@rules_app.command("list")
def rules_list(
    policy: Annotated[Path | None, typer.Option(help="policy folder (rules.yaml, regions/) [env DOUDI_POLICY]")] = None,
    warehouse: Annotated[
        Path | None, typer.Option("--warehouse", help="also show the version each rule last ran as there")
    ] = None,
) -> None:
    """Every rule with its version, whether it runs, its subject, parameters and source section."""
    import json

    from pipelines.policy import load_policy
    from pipelines.rules import rule_fingerprint

    try:
        loaded = load_policy(policy)
    except DoudiError as exc:
        _fail(exc)
    ran: dict[str, int] = {}
    if warehouse is not None:
        rows = _with_warehouse(
            warehouse, lambda con: con.execute("select rule_id, fingerprint, version from meta.rule_version").fetchall()
        )
        ran = {(r, f): v for r, f, v in rows}
    table = Table("rule", "version", "on", "subject", "parameters", "source", title=f"rules ({loaded.source})")
    for rule in loaded.rules.values():
        version = str(rule.version)
        if (rule.id, rule_fingerprint(rule)) in ran:
            version = f"{ran[(rule.id, rule_fingerprint(rule))]} (run)"
        elif ran:
            version += " (not run yet)"
        params = "\n".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in rule.parameters.items())
        source = rule.seed.split(": ")[0]  # the section; the quoted wording stays in rules.yaml
        table.add_row(rule.id, version, "yes" if rule.enabled else "no", rule.subject, params or "-", source)
    table.columns[0].no_wrap = True
    console.print(table)


@rules_app.command("simulate")
def rules_simulate(
    set_: Annotated[
        list[str],
        typer.Option("--set", help="RULE.param=value (YAML value: 3000, [C, D], true); repeat for more"),
    ],
    policy: Annotated[Path | None, typer.Option(help="policy folder (rules.yaml, regions/) [env DOUDI_POLICY]")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """What-if: per rule and township, the alerts a parameter change would add and remove tonight.

    Runs the rules twice (as they stand, and changed) on the warehouse's last night inside a
    transaction that is rolled back: nothing is written.
    """
    from pipelines.policy import load_policy
    from pipelines.simulate import apply_settings, parse_settings, simulate

    try:
        current = load_policy(policy)
        changed = apply_settings(current, parse_settings(set_))
    except DoudiError as exc:
        _fail(exc)
    as_of, rows = _with_warehouse(warehouse, lambda con: simulate(con, current, changed))
    title = f"what-if on the night {as_of}"
    table = Table("rule", "township", "now", "with change", "appear", "disappear", title=title)
    for r in rows:
        if r.appear or r.disappear:
            table.add_row(r.rule_id, r.township, str(r.current), str(r.simulated), f"+{r.appear}", f"-{r.disappear}")
    appear, disappear = sum(r.appear for r in rows), sum(r.disappear for r in rows)
    console.print(table if appear or disappear else "no alert would appear or disappear")
    console.print(f"total: +{appear} / -{disappear} (nothing written)", highlight=False)


@app.command()
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
        console.print(f"generating a synthetic county of {persons:,} persons into {county} ...")
        generate_county(county, persons=persons, seed=seed, as_of=night)
    casework = f"sqlite:///{(out / 'casework.sqlite3').resolve()}"
    try:
        summary = run_night(county / "landing", night, out / "warehouse.duckdb", casework_db=casework)
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


def _casework(db: str | None) -> None:
    import webapp

    try:
        webapp.setup(db)
        webapp.migrate()
    except DoudiError as exc:
        _fail(exc)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="caseworker | county | admin")] = "caseworker",
    township: Annotated[str | None, typer.Option(help="caseworker's township: 9-digit code or name")] = None,
    county: Annotated[str | None, typer.Option(help="county officer's county: 6-digit code")] = None,
    name: Annotated[str, typer.Option(help="the person's name, shown in the audit trail")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    casework: CaseworkOpt = None,
) -> None:
    """Add a user (or update their role, scope and password). The password is hashed (PBKDF2)."""
    _casework(casework)
    from webapp.casework.accounts import AccountError, add_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    try:
        user = add_user(username, password, role=role, township=township, county=county, full_name=name)
    except AccountError as exc:
        _fail(exc)
    scope = (f", {user.township.name}" if user.township else "") + (
        f", county {user.county_code}" if user.county_code else ""
    )
    console.print(f"user {user.username}: {user.role}{scope}")


@users_app.command("unlock")
def users_unlock(
    username: Annotated[str, typer.Argument(help="login name paused after too many failed logins")],
    casework: CaseworkOpt = None,
) -> None:
    """Lift the login pause of a username (too many failed logins, casework.yaml login:) from every address."""
    _casework(casework)
    from axes.utils import reset

    console.print(f"user {username}: {reset(username=username)} failed-login record(s) cleared; they may log in again")


@users_app.command("list")
def users_list(casework: CaseworkOpt = None) -> None:
    """Every user with role and scope (no passwords)."""
    _casework(casework)
    from webapp.casework.models import User

    table = Table()
    for col in ["username", "name", "role", "township", "county", "active", "last login"]:
        table.add_column(col)
    for u in User.objects.select_related("township").order_by("username"):
        table.add_row(u.username, u.get_full_name(), u.role, u.township.name if u.township else "", u.county_code,
                      "yes" if u.is_active else "no", f"{u.last_login:%Y-%m-%d %H:%M}" if u.last_login else "")
    console.print(table)


@casework_app.command("publish")
def casework_publish(
    warehouse: WarehouseOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="the night (default: the warehouse's last)")] = None,
    casework: CaseworkOpt = None,
    policy: Annotated[Path | None, typer.Option(help="policy folder [env DOUDI_POLICY]")] = None,
) -> None:
    """Publish the warehouse's alerts to the casework store (what a night with --casework does last)."""
    from pipelines.night import step_casework
    from pipelines.policy import load_policy
    from pipelines.warehouse import open_warehouse

    warehouse = warehouse or _warehouse_default()
    _casework(casework)
    try:
        if as_of is None:
            with open_warehouse(warehouse) as con:
                last = con.execute("select max(as_of) from int.night").fetchall()[0][0]
            if last is None:
                raise DoudiError(f"{warehouse} has no night yet: run `doudi run` first")
        night = _parse_date(as_of) if as_of else last
        console.print(step_casework(warehouse, night, casework or os.environ.get("DOUDI_CASEWORK_DB", ""),
                                    load_policy(policy)))
    except DoudiError as exc:
        _fail(exc)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes")] = 2,
    threads: Annotated[int, typer.Option(help="threads per worker")] = 8,
    keep_alive: Annotated[
        int, typer.Option(help="seconds an idle connection is kept open (gunicorn's default of 2 s races clients "
                          "reusing it: a request sent as the server closes it gets 'connection reset')")
    ] = 30,
    casework: CaseworkOpt = None,
) -> None:
    """Start the caseworkers' web application (gunicorn) on the casework store, migrating it first."""
    _casework(casework)
    if casework:
        os.environ["DOUDI_CASEWORK_DB"] = casework
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    if host not in ("127.0.0.1", "localhost"):
        os.environ.setdefault("DOUDI_ALLOWED_HOSTS", f"{host},localhost,127.0.0.1")
    console.print(f"casework web application on http://{host}:{port}/ (Ctrl-C to stop)")
    sys.stdout.flush()
    args = [sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
            "--keep-alive", str(keep_alive), "--access-logfile", "-", "--graceful-timeout", "5"]
    os.execv(sys.executable, args)


def main() -> None:  # pragma: no cover
    sys.exit(app())


if __name__ == "__main__":  # python -m pipelines.cli (tests run the CLI as a separate process this way)
    main()

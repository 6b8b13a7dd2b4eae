"""``doudi alerts|links|deliveries|quarantine|compare``: the exports, and the data officer's link decisions."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import WarehouseOpt, _shown, _with_warehouse, console
from pipelines.core.errors import DoudiError

MASKED = "（身份证号和姓名已遮蔽）"

alerts_app = typer.Typer(help="Alerts raised by the warning rules.", no_args_is_help=True)
links_app = typer.Typer(help="How every delivered row was tied to a person.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Delivered files and what became of them.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rows set aside, with reasons, for the departments to fix.", no_args_is_help=True)
compare_app = typer.Typer(
    help="Cross-department comparison results (比对结果): what each department should correct.", no_args_is_help=True
)


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


@alerts_app.command("export")
def alerts_export(
    out: Annotated[Path, typer.Option(help="file to write")],
    format: Annotated[AlertFormat, typer.Option("--format", help="csv, xlsx or json")] = AlertFormat.csv,
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers and names")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """One row per alert: rule, subject (masked), household, township, figure, threshold, evidence."""
    from pipelines.outputs.exports import export_alerts

    n = _with_warehouse(warehouse, lambda con: export_alerts(con, out, format.value, reveal_ids))
    console.print(f"已写出 {n:,} 条预警：{out}" + ("" if reveal_ids else MASKED), highlight=False, soft_wrap=True)


@links_app.command("export")
def links_export(
    out: Annotated[Path, typer.Option(help="file to write")],
    format: Annotated[LinkFormat, typer.Option("--format", help="csv or json")] = LinkFormat.csv,
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """One row per delivered feed row: its file and row, the person it is linked to, method and score."""
    from pipelines.outputs.exports import export_links

    n = _with_warehouse(warehouse, lambda con: export_links(con, out, format.value, reveal_ids))
    masked = "" if reveal_ids else "（身份证号已遮蔽）"
    console.print(f"已写出 {n:,} 行匹配结果：{out}{masked}", highlight=False, soft_wrap=True)


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
    from pipelines.outputs.exports import export_review

    n = _with_warehouse(warehouse, lambda con: export_review(con, out, reveal_ids))
    console.print(
        f"已写出 {n:,} 对待人工核对的匹配：{out}；"
        "核对后用 `doudi links confirm|reject ROW_KEY --person-id N` 确认或否决",
        highlight=False,
        soft_wrap=True,
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
    said = {"confirmed": "已确认为此人", "rejected": "已否决"}[decision]
    console.print(f"{_shown(row_key)} – 人员 {person_id}：{said}；下一晚起生效", highlight=False, soft_wrap=True)


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
    from pipelines.outputs.exports import export_deliveries

    n = _with_warehouse(warehouse, lambda con: export_deliveries(con, out, format.value))
    console.print(f"已写出 {n:,} 个交付文件的结果：{out}", highlight=False, soft_wrap=True)


@deliveries_app.command("accept")
def deliveries_accept(
    delivery_id: Annotated[int, typer.Argument(help="the held delivery (see `doudi deliveries export`)")],
    by: Annotated[str | None, typer.Option(help="who accepts it, for the record")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Accept a held snapshot deliberately: the next night uses it and infers its departures."""
    from pipelines.ingest.deliveries import accept_delivery

    source = _with_warehouse(warehouse, lambda con: accept_delivery(con, delivery_id, by))
    text = f"交付 {delivery_id}（{_shown(source)}）已接受：下一次 `doudi run` 起使用"
    console.print(text, highlight=False, soft_wrap=True)


@quarantine_app.command("export")
def quarantine_export(
    out: Annotated[Path, typer.Option(help="file to write")],
    format: Annotated[QuarantineFormat, typer.Option("--format", help="csv or xlsx")] = QuarantineFormat.csv,
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers and names")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """One row per quarantined row: feed, source_file, row_number, reason_code, reason, raw (JSON)."""
    from pipelines.outputs.exports import export_quarantine

    n = _with_warehouse(warehouse, lambda con: export_quarantine(con, out, format.value, reveal_ids))
    console.print(f"已写出 {n:,} 条隔离行：{out}" + ("" if reveal_ids else MASKED), highlight=False, soft_wrap=True)


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
    from pipelines.outputs.exports import compare_month, export_compare

    def write(con):
        chosen = month or compare_month(con, feed)
        path = out or Path(f"比对结果_{feed}_{chosen}.{format.value}")
        return path, export_compare(con, feed, path, format.value, chosen, reveal_ids)

    path, n = _with_warehouse(warehouse, write)
    console.print(f"已写出 {n:,} 行比对结果：{path}" + ("" if reveal_ids else MASKED), highlight=False, soft_wrap=True)

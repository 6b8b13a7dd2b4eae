"""``doudi report``: the monthly report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import WarehouseOpt, _fail, _with_warehouse, console
from pipelines.core.errors import DoudiError


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
    from pipelines.outputs.report.build import REPORT_FORMATS, build_report, write_report
    from pipelines.policy import load_policy

    formats = tuple(format or REPORT_FORMATS)
    if unknown := sorted(set(formats) - set(REPORT_FORMATS)):
        _fail(DoudiError(f"unknown report format(s) {', '.join(unknown)}: choose from html, xlsx, pdf"))

    def make(con):
        report = build_report(con, month, county, load_policy(policy), trend_months=trend_months, top_households=top)
        return write_report(report, out, formats)

    written = _with_warehouse(warehouse, make)
    for kind, path in written.items():
        console.print(f"{kind}: {path} ({path.stat().st_size / 1024:,.0f} KiB)", soft_wrap=True)

"""``doudi generate`` and ``doudi demo``: a synthetic county, and the whole demonstration on it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import ProgressOpt, _bad_county, _fail, _parse_date, console
from pipelines.core.errors import DoudiError


class _Bars:
    """The generator's stages as rich progress bars, one per stage, each with its time."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.table import Column

        from synthetic.progress import STAGES

        self._labels = STAGES
        self._bars = Progress(
            TextColumn("{task.description}", table_column=Column(width=18)),
            BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[seconds]}"),
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
        self._task = self._bars.add_task(self._labels[key], total=max(total, 1), seconds="")

    def advance(self, units: int = 1) -> None:
        if self._task is not None:
            self._bars.advance(self._task, units)

    def close(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._task is not None:
            task = self._bars.tasks[self._task]
            self._bars.update(self._task, completed=task.total, seconds=f"{task.elapsed or 0:.1f} 秒")
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
    from synthetic import generate_county

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
    progress: ProgressOpt = None,
) -> None:
    """Generate a county into OUT/county, run its night into OUT/warehouse.duckdb, then a second night
    (AS_OF + 1 day) whose deliveries carry the messy cases (a held snapshot, a rejected file, quarantined,
    unlinked and review rows; exports in their own folder), publish the alerts to the casework store
    OUT/casework.sqlite3 and create demo users for two townships (printed). Exit status: the first night's
    (the second night's held and rejected files are deliberate)."""
    from pipelines.orchestration.night import run_night
    from pipelines.outputs.summary import print_night_summary
    from synthetic import generate_county
    from synthetic.messy import messy_night

    night = _parse_date(as_of)
    second = night + timedelta(days=1)
    county, warehouse = out / "county", out / "warehouse.duckdb"
    if not (county / "truth" / "manifest.json").exists():
        console.print(f"生成合成县 ({persons:,} 人) 到 {county} ...", highlight=False)
        with _Bars() as bars:
            generate_county(county, persons=persons, seed=seed, as_of=night, progress=bars)
    casework = f"sqlite:///{(out / 'casework.sqlite3').resolve()}"
    from pipelines.cli.progress import night_progress

    summary = None
    try:
        last = _last_night(warehouse)
        if last is None or last <= night:
            with night_progress(progress) as shown:
                summary = run_night(county / "landing", night, warehouse, casework_db=casework, progress=shown)
            print_night_summary(summary, console)
        else:  # a demo run again: its nights are there; the first is not run after the second
            console.print(f"{warehouse} 已有 {last} 的比对结果：{night} 这一晚不再重跑", highlight=False)
    except DoudiError as exc:
        _fail(exc)
    console.print(f"合成县的真值（每行的真实身份、植入的预警案例）：{county / 'truth'}", highlight=False)
    from pipelines.orchestration.night import step_report

    monthly = step_report(warehouse, night, out_dir=out / "reports", force=True)
    console.print(f"月报 {night:%Y-%m}：" + "  ".join(monthly["report"].values()), soft_wrap=True, highlight=False)
    if monthly.get("reason"):
        console.print(f"  {monthly['reason']}")

    console.print(
        f"\n[bold]第二晚 {second}[/]：这一晚的交付带有需要处理的情况（缩水的名册快照被暂扣、缺列的文件被拒收、"
        "日期错误的行被隔离、查无此人的行、待人工核对的匹配），演示各项命令", highlight=False, soft_wrap=True,
    )  # fmt: skip
    if not (county / "landing" / "medical_settlements" / second.isoformat()).exists():
        messy_night(county / "landing", second, seed=seed)
    try:
        with night_progress(progress) as shown:
            messy = run_night(county / "landing", second, warehouse, casework_db=casework, progress=shown)
    except DoudiError as exc:
        _fail(exc)
    print_night_summary(messy, console)
    _try_these(messy, warehouse)

    from webapp.casework.accounts import seed_demo_users

    logins = seed_demo_users()
    console.print("\n[bold]个案工作网页应用[/]（演示账号；每次 make demo 都生成新密码）：")
    for login in logins:
        console.print(f"  {login['username']:<14} {login['password']:<14} {login['role']}", highlight=False)
    console.print(f"启动：  DOUDI_CASEWORK_DB={casework} .venv/bin/doudi serve --port {port}", highlight=False)
    console.print(f"然后打开：http://127.0.0.1:{port}/", highlight=False)
    raise typer.Exit(summary.exit_code if summary else 0)


def _last_night(warehouse: Path):
    """The warehouse's last completed night, None when it has none (or does not exist yet)."""
    if not warehouse.is_file():
        return None
    from pipelines.core.warehouse import open_warehouse

    with open_warehouse(warehouse, read_only=True) as con:
        return con.execute("select max(as_of) from meta.run where status = 'succeeded'").fetchall()[0][0]


def _try_these(messy, warehouse: Path) -> None:
    """The commands that show the second night's messy cases, with their keys filled in."""
    env = "" if warehouse == Path("var/warehouse.duckdb") else f"DOUDI_WAREHOUSE={warehouse} "
    held = next((p["delivery_id"] for p in messy.problems if p["outcome"] == "held"), None)
    settlements = f"medical_settlements/{messy.as_of}/settlements_{messy.as_of:%Y%m%d}.csv"
    lines = [
        ("每个交付文件的结果（暂扣、拒收、未读取）", "doudi deliveries export --format csv --out deliveries.csv"),
        ("退回部门的隔离行", "doudi quarantine export --format csv --out quarantine.csv"),
        ("每行的匹配结果（含未匹配的原因）", "doudi links export --format csv --out links.csv"),
        ("一行为何匹配到此人（按概率匹配）", f'doudi links explain "{settlements}#4"'),
        ("待人工核对的匹配", "doudi links review --out review.csv"),
        ("医保的比对结果（未匹配、隔离）", "doudi compare export --feed medical_settlements --format csv"),
    ]
    if held is not None:
        lines.append(("核实后接受暂扣的名册快照（下一晚起使用）", f"doudi deliveries accept {held}"))
    console.print("\n试试这些命令：", highlight=False)
    for what, command in lines:
        console.print(f"  {what}：{env}.venv/bin/{command}", soft_wrap=True, highlight=False)

"""``doudi policy``: region policy files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import WarehouseOpt, _fail, _warehouse_default, console
from pipelines.core.errors import DoudiError

policy_app = typer.Typer(help="Region policy files: a county's figures and townships.", no_args_is_help=True)


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

"""``doudi households`` and ``doudi rules``: a household's risk profile; the rules and their what-if."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import WarehouseOpt, _fail, _shown, _with_warehouse, console
from pipelines.core.errors import DoudiError

households_app = typer.Typer(help="Households with live signals: their risk profile.", no_args_is_help=True)
rules_app = typer.Typer(help="The warning rules: what they are, what a change would do.", no_args_is_help=True)


@households_app.command("show")
def households_show(
    code: Annotated[str, typer.Argument(help="家庭编号 (civil-affairs household code) or 户号 (hukou number)")],
    reveal_ids: Annotated[bool, typer.Option("--reveal-ids", help="full ID numbers and names")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """A household's risk profile: score and its parts, members, live signals with their evidence."""
    from pipelines.transform.households import household_profile

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
    from pipelines.rules.engine import rule_fingerprint

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
    from pipelines.rules.whatif import apply_settings, parse_settings, simulate

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

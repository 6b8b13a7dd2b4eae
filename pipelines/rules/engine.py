"""Rules: evaluate the enabled warning rules in SQL and upsert their alerts.

Each rule is a folder ``warehouse/rules/<RULE_ID>/`` (pipelines/policy/rule_folders.py) whose
``hit.sql`` reads its parameters as ``getvariable('<variable_prefix>_<parameter>')`` and writes
``marts.hit__<rule>`` (rule_id, subject_type,
person_id, household_key, period, figure, threshold, evidence). The hits of all rules are routed
to a township and merged into ``marts.alert`` by ``alert_upsert.sql``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from pipelines.core.errors import PolicyError
from pipelines.core.warehouse import run_sql_file, set_variables
from pipelines.policy import REGION_FIGURES, Policy, Rule
from pipelines.policy.rule_folders import check_rule_folder, rule_catalog

__all__ = [
    "check_rule_parameters",
    "compute_hits",
    "evaluate_rules",
    "household_profiles",
    "region_default_notes",
    "rule_fingerprint",
    "rule_versions",
    "run_rule",
    "feeds_in_force",
    "skipped_rules",
]

log = logging.getLogger(__name__)


def check_rule_parameters(policy: Policy) -> None:
    """Every rule folder's SQL reads only its declared parameters and the engine's variables, and
    reads every one it declares; the policy sets exactly the declared parameters of each rule.

    The policy itself is validated against the generated parameter models when loaded (file and
    line in the message); this guards the code: ``getvariable`` of an unknown name is NULL in
    DuckDB, so a parameter the SQL misspells would silently switch a clause off.
    """
    catalog = rule_catalog()
    for rule_id, folder in catalog.items():
        if rule_id not in policy.rules:
            raise PolicyError(f"{policy.source}: rule {rule_id} is missing (to switch it off: enabled: false)")
        if problems := check_rule_folder(folder):
            raise PolicyError(f"{folder.folder}: " + "; ".join(problems))
        declared, configured = set(folder.parameters), set(policy.rules[rule_id].parameters)
        if declared != configured:
            raise PolicyError(
                f"rule {rule_id}: {folder.folder}/rule.yaml declares {sorted(declared)}, "
                f"{policy.source} sets {sorted(configured)}"
            )


def run_rule(con: duckdb.DuckDBPyConnection, rule_id: str, as_of: date, parameters: dict[str, Any]) -> None:
    """Run one rule's folder on ``con`` with the given parameters: its prepare step (if any), then
    its ``hit.sql`` into ``marts.hit__<rule_id in lower case>``. The inputs (``fct_settlement``,
    ``dim_roster_member``, ... and the night's variables) are the caller's; ``compute_hits`` builds
    them for a night, a unit test writes them by hand."""
    folder = rule_catalog()[rule_id]
    set_variables(con, as_of=as_of, **folder.variables(parameters))
    if prepare := folder.prepare_step():
        prepare(con)
    run_sql_file(con, str(folder.folder / "hit.sql"))


def rule_fingerprint(rule: Rule) -> str:
    """What a rule's version stands for: its parameters (key order and number formatting aside)."""
    canonical = json.dumps(rule.parameters, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def rule_versions(con: duckdb.DuckDBPyConnection, policy: Policy, as_of: date, record: bool = True) -> dict[str, int]:
    """The version each rule runs as tonight; a parameter change bumps it.

    ``meta.rule_version`` remembers every (rule, version, parameters) the warehouse ran. Parameters
    it has run before keep their version; new ones take the file's version if that is higher than
    any used so far, else the next number, and are recorded (with a warning naming the change).
    """
    versions = {}
    for rule in policy.rules.values():
        fp = rule_fingerprint(rule)
        known = con.execute(
            "select max(version) filter (where fingerprint = ? and version >= ?), max(version) "
            "from meta.rule_version where rule_id = ?",
            [fp, rule.version, rule.id],
        ).fetchone()
        same, latest = known
        if same is not None:
            versions[rule.id] = same
            continue
        version = rule.version if latest is None or rule.version > latest else latest + 1
        versions[rule.id] = version
        if not record:  # a what-if: nothing is remembered
            continue
        if latest is not None:
            log.warning(
                "rule %s: parameters differ from version %s; running as version %s "
                "(set version: %s in its rule.yaml, or in %s/rules.yaml where the county keeps one)",
                rule.id,
                latest,
                version,
                version,
                policy.source,
            )
        con.execute(
            "insert into meta.rule_version values (?, ?, ?, ?, ?, ?)",
            [rule.id, version, fp, json.dumps(rule.parameters, ensure_ascii=False, default=str), rule.version, as_of],
        )
    return versions


def _home_counties(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The counties whose people the warehouse holds: the area codes of the roster and the household
    registry (a patient from elsewhere is in neither, and their county's figures are not ours)."""
    rows = con.execute(
        "select distinct substr(region_code, 1, 6) from int.household_member "
        "where regexp_full_match(substr(region_code, 1, 6), '[1-9][0-9]{5}') order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def _load_region_policy(con: duckdb.DuckDBPyConnection, policy: Policy, as_of: date) -> None:
    """Townships (routing, urban or rural) and the region figures per county and year, as tables.

    A year without its own figures takes the latest earlier one (standards hold until changed):
    every year from 2000 to the year after the night is written out so that SQL joins on the year.
    The counties of the warehouse's own people that have no region file, and every figure a file
    leaves out, run on the dated, sourced defaults of region_defaults.yaml: ``meta.region_default``
    holds one row per county, year and figure so taken, with the sentence the alert and the
    summary carry (DOMAIN.md "Region policy").
    """
    townships = [
        (region.county_code + t.code, t.name, t.urban) for region in policy.regions.values() for t in region.townships
    ]
    con.execute("create or replace table meta.township (code9 varchar primary key, name varchar, urban boolean)")
    if townships:
        con.executemany("insert into meta.township values (?, ?, ?)", townships)
    counties = sorted(set(policy.regions) | set(_home_counties(con)))
    for code in counties:
        if code not in policy.regions:
            log.warning(
                "county %s has no region file (%s/regions/%s.yaml): its rules run on the defaults of "
                "region_defaults.yaml; `doudi policy init --county %s` writes one to complete",
                code, policy.source, code, code,
            )  # fmt: skip
    figures = [policy.figures(code, year) for code in counties for year in range(2000, as_of.year + 2)]
    years = [(f.county_code, f.year, *(f.values[name] for name in REGION_FIGURES)) for f in figures]
    columns = ", ".join(f"{f} decimal(14, 2)" for f in REGION_FIGURES)
    con.execute(f"create or replace table meta.region_year (county_code varchar, year integer, {columns})")
    if years:
        con.executemany(f"insert into meta.region_year values ({', '.join('?' * (2 + len(REGION_FIGURES)))})", years)
    con.execute(
        "create or replace table meta.region_default "
        "(county_code varchar, year integer, figure varchar, has_file boolean, note varchar)"
    )
    defaults = [
        (f.county_code, f.year, name, f.has_file, policy.region_defaults.note(name))
        for f in figures
        for name in f.defaulted
    ]
    if defaults:
        con.executemany("insert into meta.region_default values (?, ?, ?, ?, ?)", defaults)


def region_default_notes(con: duckdb.DuckDBPyConnection, as_of: date) -> list[str]:
    """One line per county running on default figures in the night's year, naming them (for the summary)."""
    order = "[" + ", ".join(f"'{f}'" for f in REGION_FIGURES) + "]"
    rows = con.execute(
        f"select county_code, bool_or(has_file), list(note order by list_position({order}, figure), note) "
        "from meta.region_default where year = ? group by county_code order by county_code",
        [as_of.year],
    ).fetchall()
    lines = []
    for county, has_file, notes in rows:
        why = (
            f"未填写以下数字（regions/{county}.yaml）"
            if has_file
            else f"没有本县地区政策文件（regions/{county}.yaml），请运行 doudi policy init --county {county} 生成后填写"
        )
        lines.append(f"县（区）{county}{why}，相关预警按默认值计算：" + "；".join(notes))
    return lines


def household_profiles(con: duckdb.DuckDBPyConnection, policy: Policy) -> int:
    """Rebuild ``marts.household_profile`` from the live alerts with the configured score weights."""
    risk = policy.risk
    weights = (
        [("rule", k, v) for k, v in risk.rule_weights.items()]
        + [("category", k, v) for k, v in risk.category_weights.items()]
        + [("member", k, v) for k, v in risk.member_weights.items()]
        + [("per_day_open", "", risk.per_day_open), ("cap_days", "", float(risk.cap_days))]
    )
    con.execute("create or replace table meta.risk_weight (kind varchar, key varchar, weight double)")
    con.executemany("insert into meta.risk_weight values (?, ?, ?)", weights)
    run_sql_file(con, "marts/household_profile.sql")
    return con.execute("select count(*) from marts.household_profile").fetchone()[0]


def feeds_in_force(con: duckdb.DuckDBPyConnection, as_of: date, policy: Policy) -> dict[str, dict]:
    """Per feed, its latest usable delivery on or before ``as_of`` and whether it is in force.

    Usable: loaded (an accepted held snapshot included) with at least one row in force, or the same
    bytes delivered again on a later date (a duplicate: the department confirms them). In force:
    ``as_of`` minus its date is at most the feed's ``freshness_days`` (delivery.yaml). Returns
    ``{feed: {"last_delivered_on", "freshness_days", "reason"}}``; ``reason`` is None when in force,
    else ``never_delivered`` or ``stale``.
    """
    from pipelines.core.feeds import FEED_NAMES

    # a snapshot delivered again unchanged (recorded as a duplicate of a loaded one) is as fresh as its date
    last = dict(
        con.execute(
            """
            with usable as (
                select feed, file_hash from meta.delivery
                where outcome in ('loaded', 'loaded_with_quarantine') and rows_loaded > 0 and delivered_on <= $1
            )
            select d.feed, max(d.delivered_on) from meta.delivery d
            where d.delivered_on <= $1
              and (d.outcome in ('loaded', 'loaded_with_quarantine') and d.rows_loaded > 0
                   or d.outcome = 'duplicate' and (d.feed, d.file_hash) in (select (feed, file_hash) from usable))
            group by d.feed
            """,
            [as_of],
        ).fetchall()
    )
    status = {}
    for feed in FEED_NAMES:
        limit = policy.delivery.freshness_days[feed]
        day = last.get(feed)
        reason = "never_delivered" if day is None else "stale" if (as_of - day).days > limit else None
        status[feed] = {"last_delivered_on": day, "freshness_days": limit, "reason": reason}
    return status


def _record_skips(con: duckdb.DuckDBPyConnection, as_of: date, policy: Policy, status: dict[str, dict]) -> set[str]:
    """``meta.rule_skip`` for the night: every enabled rule with a needed feed not in force (rewritten
    on a rerun of the night); returns the rules to skip."""
    rows = [
        (as_of, rule.id, feed, *(status[feed][k] for k in ("reason", "last_delivered_on", "freshness_days")))
        for rule in policy.rules.values()
        if rule.enabled
        for feed in rule.needed_feeds
        if status[feed]["reason"] is not None
    ]
    con.execute("delete from meta.rule_skip where as_of = ?", [as_of])
    if rows:
        con.executemany("insert into meta.rule_skip values (?, ?, ?, ?, ?, ?)", rows)
    for rule_id in sorted({r[1] for r in rows}):
        feeds = [f"{r[2]} ({r[3]})" for r in rows if r[1] == rule_id]
        log.warning("rule %s skipped: %s not in force; its alerts are left as they were", rule_id, ", ".join(feeds))
    return {r[1] for r in rows}


def skipped_rules(con: duckdb.DuckDBPyConnection, as_of: date) -> list[dict]:
    """The rules the night ``as_of`` skipped and why: one entry per rule, its feeds not in force."""
    rows = con.execute(
        "select rule_id, feed, reason, last_delivered_on, freshness_days from meta.rule_skip "
        "where as_of = ? order by rule_id, feed",
        [as_of],
    ).fetchall()
    out: dict[str, dict] = {}
    for rule_id, feed, reason, last, limit in rows:
        entry = out.setdefault(rule_id, {"rule_id": rule_id, "feeds": []})
        entry["feeds"].append(
            {"feed": feed, "reason": reason, "last_delivered_on": last.isoformat() if last else None,
             "freshness_days": limit}
        )  # fmt: skip
    for entry in out.values():
        entry["reason"] = "; ".join(_skip_text(f) for f in entry["feeds"])
    return list(out.values())


def _skip_text(feed: dict) -> str:
    if feed["reason"] == "never_delivered":
        return f"{feed['feed']} never delivered"
    return f"{feed['feed']} last delivered {feed['last_delivered_on']}, older than its {feed['freshness_days']} days"


def _load_referrals(con: duckdb.DuckDBPyConnection, as_of: date) -> int:
    """``int.referral``: the receipts of the province exchange up to ``as_of`` beside this warehouse."""
    from pipelines.outputs.exchange import referrals_dir

    con.execute("delete from int.referral")
    path = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchall()
    files = sorted(referrals_dir(Path(path[0][0])).glob("*/to_*.parquet")) if path and path[0][0] else []
    files = [f for f in files if f.parent.name <= as_of.isoformat()]
    if files:
        con.execute(
            "insert into int.referral select settlement_id, source_file, row_number, referred_to, exchanged_on "
            "from read_parquet(?)",
            [[str(f) for f in files]],
        )
    return len(files)


def compute_hits(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    policy: Policy,
    timings: dict[str, float] | None = None,
    record_versions: bool = True,
) -> list[str]:
    """Run every enabled rule for the night ``as_of`` into ``marts.rule_hit`` (routed, not yet alerts).

    A rule with a needed feed (``sources``) not in force (never delivered, or older than its
    freshness limit) does not run: it is recorded in ``meta.rule_skip`` and left out of the rules
    that ran, so that the upsert neither raises, updates nor clears its alerts.

    Returns the rules that ran; ``timings`` (if given) receives seconds per rule and shared step.
    """
    timings = {} if timings is None else timings
    check_rule_parameters(policy)
    set_variables(con, as_of=as_of, evidence_max_items=policy.delivery.max_evidence_items)
    _load_region_policy(con, policy, as_of)
    _load_referrals(con, as_of)
    for shared in ("fct_settlement", "dim_roster_member", "dim_certificate"):  # medical / roster / disability
        started = time.perf_counter()
        run_sql_file(con, f"marts/{shared}.sql")
        timings[shared] = time.perf_counter() - started
    run_sql_file(con, "marts/low_income.sql")  # "low-income person": one definition, read by the rules needing it
    versions = rule_versions(con, policy, as_of, record_versions)
    skipped = _record_skips(con, as_of, policy, feeds_in_force(con, as_of, policy))
    ran: list[tuple[str, int]] = []
    for rule in policy.rules.values():
        if not rule.enabled or rule.id in skipped:
            continue
        started = time.perf_counter()
        run_rule(con, rule.id, as_of, rule.parameters)
        ran.append((rule.id, versions[rule.id]))
        timings[rule.id] = time.perf_counter() - started
        log.debug("rule %s: %.2f s", rule.id, timings[rule.id])
    if ran:
        union = " union all ".join(_capped_hits(con, rule_id, version) for rule_id, version in ran)
    else:
        union = (
            "select null::varchar rule_id, null::integer rule_version, null::varchar subject_type, "
            "null::bigint person_id, null::varchar household_key, null::varchar period, "
            "null::decimal(14,2) figure, null::decimal(14,2) threshold, null::json evidence, "
            "null::integer evidence_omitted where false"
        )
    con.execute(f"create or replace table marts.rule_hit_raw as {union}")
    run_sql_file(con, "marts/rule_hit.sql")
    return [rule_id for rule_id, _ in ran]


def _capped_hits(con: duckdb.DuckDBPyConnection, rule_id: str, version: int) -> str:
    """A rule's hits with at most ``evidence_max_items`` evidence items each (delivery.yaml) and the
    count of the items left out: nothing after the rules (alerts, exports, casework) sees more.

    A rule whose items can be many (one ID's settlements) keeps its largest ones itself and says how
    many it left out in an ``evidence_omitted`` column; for every other rule the first items of its
    own (totally ordered) list are kept.
    """
    table = f"hit__{rule_id.lower()}"
    own = con.execute(
        "select count(*) from duckdb_columns() where schema_name = 'marts' and table_name = ? "
        "and column_name = 'evidence_omitted'",
        [table],
    ).fetchall()[0][0]
    omitted = "coalesce(evidence_omitted, 0)" if own else "0"
    cap = "getvariable('evidence_max_items')"
    return (
        f"select rule_id, {version} as rule_version, subject_type, person_id, household_key, period, "
        f"figure, threshold, to_json(list_slice(evidence, 1, {cap})) as evidence, "
        f"({omitted} + greatest(coalesce(len(evidence), 0) - {cap}, 0))::integer as evidence_omitted "
        f"from marts.{table}"
    )


def evaluate_rules(
    con: duckdb.DuckDBPyConnection, as_of: date, policy: Policy, timings: dict[str, float] | None = None
) -> dict[str, int]:
    """Run every enabled rule for the night ``as_of`` and upsert the alerts; returns changes by kind."""
    ran = compute_hits(con, as_of, policy, timings)
    set_variables(con, rules_run=ran or [""])
    run_sql_file(con, "marts/alert_upsert.sql")
    counts = dict(con.execute("select change, count(*) from alert_change group by change").fetchall())
    household_profiles(con, policy)
    return {k: counts.get(k, 0) for k in ("new", "updated", "unchanged", "cleared")}

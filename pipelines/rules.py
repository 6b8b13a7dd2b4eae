"""Rules: evaluate the enabled warning rules in SQL and upsert their alerts.

Each rule is a SQL file ``warehouse/marts/hit__<rule>.sql`` that reads its parameters as
``getvariable('<prefix>_<parameter>')`` and writes ``marts.hit__<rule>`` (rule_id, subject_type,
person_id, household_key, period, figure, threshold, evidence). The hits of all rules are routed
to a township and merged into ``marts.alert`` by ``alert_upsert.sql``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from datetime import date
from pathlib import Path

import duckdb

from pipelines.core.incremental import changed, remember, remembered, sql_fingerprint
from pipelines.errors import PolicyError
from pipelines.policy import REGION_FIGURES, Policy, Rule
from pipelines.policy.params import RULE_PARAMETERS
from pipelines.warehouse import SQL_DIR, run_sql_file, set_variables

__all__ = [
    "RULE_SQL",
    "check_rule_parameters",
    "compute_hits",
    "evaluate_rules",
    "household_profiles",
    "region_default_notes",
    "rule_fingerprint",
    "rule_versions",
    "feeds_in_force",
    "skipped_rules",
]

log = logging.getLogger(__name__)

# rule id -> (SQL file under warehouse/, variable prefix of its parameters)
RULE_SQL: dict[str, tuple[str, str]] = {
    "MED_OOP_SINGLE": ("marts/hit__med_oop_single.sql", "mos"),
    "REVIEW_OVERDUE": ("marts/hit__review_overdue.sql", "ro"),
    "PHASE_OUT_ENDING": ("marts/hit__phase_out_ending.sql", "poe"),
    "MINOR_AGE_OUT": ("marts/hit__minor_age_out.sql", "mao"),
    "RECIPIENT_DECEASED": ("marts/hit__recipient_deceased.sql", "rd"),
    "ZERO_EMPLOYMENT": ("marts/hit__zero_employment.sql", "ze"),
    "NEW_DISABILITY": ("marts/hit__new_disability.sql", "nd"),
    "INS_NOT_ENROLLED": ("marts/hit__ins_not_enrolled.sql", "ine"),
    "EDU_AID_MISSING": ("marts/hit__edu_aid_missing.sql", "eam"),
    "DISABILITY_SUBSIDY_GAP": ("marts/hit__disability_subsidy_gap.sql", "dsg"),
    "MED_OOP_ANNUAL": ("marts/hit__med_oop_annual.sql", "moa"),
    "EDU_DISABLED_OUT_OF_SCHOOL": ("marts/hit__edu_disabled_out_of_school.sql", "edo"),
    "HOUSING_UNSAFE": ("marts/hit__housing_unsafe.sql", "hu"),
    "SINGLE_PERSON_DIBAO": ("marts/hit__single_person_dibao.sql", "spd"),
    "IDENTITY_CONFLICT": ("marts/hit__identity_conflict.sql", "ic"),
}


def _judge_names(con: duckdb.DuckDBPyConnection) -> None:
    """IDENTITY_CONFLICT's input: which differing (name, reference name) pairs are the same name.

    Only the distinct pairs that differ after SQL normalisation are judged (a few per cent of the
    rows), in SQL: names folded (traditional to simplified, full width) and characters' readings
    come from ``int.name_reading`` and ``int.char_reading``, filled in Python only for names and
    characters not seen before; homophones are compared character by character, every reading of
    a polyphone counting, the surname (compound ones whole) alike.
    """
    from matchers.names import COMPOUND_SURNAMES, char_readings, name_readings

    _identity_rows(con)
    con.execute(
        "create or replace table marts.name_pair as select distinct name_norm as name, reference_name "
        "from marts.identity_row where name_norm <> reference_name"
    )
    name_readings(con, "select name from marts.name_pair union all select reference_name from marts.name_pair")
    folded = (
        "select r.folded from int.name_reading r semi join "
        "(select name as n from marts.name_pair union select reference_name from marts.name_pair) p on p.n = r.name"
    )
    char_readings(con, folded)
    compound = "[" + ", ".join(f"'{c}'" for c in COMPOUND_SURNAMES) + "]"
    con.execute(
        f"""
        create or replace table marts.name_judgement as
        with pairs as (
            select p.name, p.reference_name, a.folded as a, b.folded as b
            from marts.name_pair p
            left join int.name_reading a on a.name = p.name
            left join int.name_reading b on b.name = p.reference_name
        ),
        candidates as (
            -- a homophone needs two names of one length with the same surname
            select * from pairs
            where a <> '' and b <> '' and length(a) = length(b)
              and (case when list_contains({compound}, left(a, 2)) then left(a, 2) else left(a, 1) end)
                  = (case when list_contains({compound}, left(b, 2)) then left(b, 2) else left(b, 1) end)
        ),
        positions as (
            select name, reference_name, substr(a, i, 1) as x, substr(b, i, 1) as y
            from (select *, unnest(range(1, length(a) + 1)) as i from candidates)
        ),
        alike as (
            select p.name, p.reference_name,
                   bool_and(p.x = p.y or len(list_intersect(rx.readings, ry.readings)) > 0) as homophone
            from positions p
            left join int.char_reading rx on rx.ch = p.x
            left join int.char_reading ry on ry.ch = p.y
            group by p.name, p.reference_name
        )
        select p.name, p.reference_name, coalesce(p.a = p.b, false) as folded_same,
               coalesce(h.homophone, false) as homophone
        from pairs p
        left join alike h using (name, reference_name)
        """
    )


def _identity_rows(con: duckdb.DuckDBPyConnection) -> None:
    """``marts.identity_row``: the rows of the persons the last linkage run changed replaced, when
    the table reflects the run before; otherwise (another run in between, every person changed,
    other methods, ``DOUDI_FULL_REBUILD``) rebuilt. A rerun after the same linkage run changes nothing."""
    sql = (SQL_DIR / "marts" / "identity_row.sql").read_text(encoding="utf-8")
    methods = con.execute("select getvariable('ic_methods')").fetchall()[0][0]
    fingerprint = sql_fingerprint(sql, params=[methods])
    run, _, persons = (remembered(con, "link:run") or "0:all").partition(":")
    current, previous = f"{fingerprint}:{run}", f"{fingerprint}:{int(run) - 1}"
    if not changed(con, "identity_row", current, table="marts.identity_row"):
        return
    if persons == "some" and not changed(con, "identity_row", previous, table="marts.identity_row"):
        con.execute(
            "create or replace temp view identity_links as "
            "select * from int.link where person_id in (select person_id from int.person_change)"
        )
        con.execute("delete from marts.identity_row where person_id in (select person_id from int.person_change)")
        con.execute(f"insert into marts.identity_row\n{sql}")
        log.info("marts.identity_row: rows of the persons linkage changed replaced")
    else:
        con.execute("create or replace temp view identity_links as select * from int.link")
        con.execute(f"create or replace table marts.identity_row as\n{sql}")
        log.info("marts.identity_row rebuilt")
    remember(con, "identity_row", current)


# SQL a rule reads before its own file (its parameters may appear there too), and Python steps
_RULE_INPUTS: dict[str, tuple[str, ...]] = {"IDENTITY_CONFLICT": ("marts/identity_row.sql",)}
_RULE_PREPARE = {"IDENTITY_CONFLICT": _judge_names}


def check_rule_parameters(policy: Policy) -> None:
    """Every parameter a rule's SQL reads is one its parameter model declares, and the other way round.

    The policy file itself is validated against the models when loaded (file and line in the
    message); this guards the code: ``getvariable`` of an unknown name is NULL in DuckDB, so a
    parameter the SQL misspells would silently switch a clause off.
    """
    for rule_id, (sql_file, prefix) in RULE_SQL.items():
        if rule_id not in policy.rules:
            raise PolicyError(
                f"{policy.source}/rules.yaml: rule {rule_id} is missing (to switch it off: enabled: false)"
            )
        sql = "\n".join((SQL_DIR / f).read_text(encoding="utf-8") for f in (*_RULE_INPUTS.get(rule_id, ()), sql_file))
        read = set(re.findall(rf"getvariable\('{prefix}_(\w+)'\)", sql))
        declared = set(RULE_PARAMETERS[rule_id].model_fields)
        configured = set(policy.rules[rule_id].parameters)
        if not read == declared == configured:
            raise PolicyError(
                f"rule {rule_id}: its SQL reads {sorted(read)}, its model declares {sorted(declared)}, "
                f"{policy.source}/rules.yaml sets {sorted(configured)}"
            )


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
                "rule %s: parameters differ from version %s; running as version %s (set version: %s in %s/rules.yaml)",
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
    from pipelines.feeds import FEED_NAMES

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
    from pipelines.exchange import referrals_dir

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
        sql_file, prefix = RULE_SQL[rule.id]
        set_variables(con, **{f"{prefix}_{k}": v for k, v in rule.parameters.items()})
        if prepare := _RULE_PREPARE.get(rule.id):
            prepare(con)
        run_sql_file(con, sql_file)
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

"""Rule unit tests as given/expect rows on tiny tables (the way dbt unit tests do it).

A case names the rows of the tables a rule reads (staging tables, the night's shared marts,
``int.person``, ...), a night and parameter overrides; the harness creates a fresh in-memory
warehouse with the real schema, inserts the rows (every column a case leaves out takes its
table's default from ``defaults.yaml``, else null), runs the rule as the engine does and returns
its hits. Cases live in ``cases/<RULE_ID>.yaml``; ``test_rule_cases.py`` runs them all.

Conveniences, each standing for what the layers before the rules would have made:

* a row of a staging table ``stg.<feed>`` may carry ``source_file`` (its delivery, made once per
  file in ``meta.delivery``) and ``person_id`` (with ``method``, ``score``: its row in
  ``int.link``); ``row_number`` counts from 1 per file when not given;
* every ``person_id`` a case mentions has a row in ``int.person`` (its defaults) unless the case
  gives one; the person's sex and birth date are those of its ``id_number`` when not given;
* a date may be written relative to the night: ``as_of``, ``as_of+30d``, ``as_of-6m``,
  ``as_of-18y+1d``;
* the tables the engine derives while running a rule (``fct_settlement``, ``dim_roster_member``,
  ``dim_certificate``) are built from the staging tables as a night builds them, unless the case
  gives their rows itself; the region tables (``meta.township``, ``meta.region_year``,
  ``meta.region_default``) come from the shipped policy, rows a case gives are added.

Every call into the engine is in the section "The engine" below (the schema of the input tables,
the shipped parameters and their validation, the empty warehouse, and :func:`run_rule_sql`, which
does for one rule what ``compute_hits`` does): after the rule-folder restructuring only that
section needs repointing; the cases do not say where a rule's SQL lives. Each case runs in a
transaction on one empty in-memory warehouse per process, rolled back at its end.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

__all__ = ["Case", "load_cases", "run_case", "relative_date", "check_hits"]

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
DEFAULTS = yaml.safe_load((HERE / "defaults.yaml").read_text(encoding="utf-8"))

# the night's shared inputs a case may give directly (else built from the staging tables)
SHARED_MARTS = ("fct_settlement", "dim_roster_member", "dim_certificate")
# tables the engine (re)creates while preparing the rules: a case's rows for them are added after
REGION_TABLES = ("meta.township", "meta.region_year", "meta.region_default")
# pseudo-columns of a staging row (its delivery and its link), not columns of the table
LINK_FIELDS = ("source_file", "person_id", "method", "score")


# =============================================================================================
# The engine: the only place that knows how a rule is run (repoint here after the rule folders)
# =============================================================================================
@functools.cache
def _template_warehouse() -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
    """The column types of every table a rule can read, taken from the real pipeline run on an
    empty warehouse (staging, linkage and the shared marts): ``(kind, name, ((column, type), ...))``
    with kind ``table`` or ``temp``."""
    from pipelines.core.warehouse import connect, run_sql_file, set_variables
    from pipelines.transform.link import link
    from pipelines.transform.standardize import standardize

    con = connect(":memory:")
    set_variables(con, as_of=date(2000, 1, 1))
    standardize(con, full=True)
    link(con, date(2000, 1, 1), matchers=[], full=True)
    for shared in SHARED_MARTS:
        run_sql_file(con, f"marts/{shared}.sql")
    out = []
    created = con.execute(
        "select schema_name, table_name, temporary from duckdb_tables() "
        "where (schema_name = 'stg' or (schema_name = 'int' and table_name in ('person', 'household_member'))) "
        f"or (temporary and table_name in ({', '.join(repr(t) for t in SHARED_MARTS)})) order by all"
    ).fetchall()
    for schema, table, temporary in created:
        columns = con.execute(
            "select column_name, data_type from duckdb_columns() where schema_name = ? and table_name = ? "
            "order by column_index",
            [schema, table],
        ).fetchall()
        out.append(("temp" if temporary else "table", table if temporary else f"{schema}.{table}", tuple(columns)))
    con.close()
    return tuple(out)


@functools.cache
def _policy():
    from pipelines.policy import load_policy

    return load_policy()


def rule_parameters(rule_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The rule's shipped parameters with ``overrides``, validated as the policy file would be."""
    from pipelines.policy.rule_folders import rule_catalog

    params = {**_policy().rules[rule_id].parameters, **overrides}
    rule_catalog()[rule_id].parameter_model.model_validate(params)
    return params


_REGION_MEMO: dict[tuple, dict] = {}


def _region_policy(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """The region tables as ``pipelines.rules.engine`` loads them for the night (townships, figures per
    county and year, defaults taken); they depend on the night's year and the counties of the
    warehouse's people only, so the engine's tables are kept per process and copied for a case
    that repeats both (the load is most of a case's time otherwise)."""
    from pipelines.core.warehouse import scan_frame
    from pipelines.rules import engine

    key = (as_of.year, tuple(engine._home_counties(con)))
    if key not in _REGION_MEMO:
        engine._load_region_policy(con, _policy(), as_of)
        _REGION_MEMO[key] = {t: con.sql(f"select * from {t}").to_arrow_table() for t in REGION_TABLES}
        return
    for table, frame in _REGION_MEMO[key].items():
        scan_frame(con, frame, "_region", f"create or replace table {table} as select * from _region")


def run_rule_sql(con: duckdb.DuckDBPyConnection, rule_id: str, as_of: date, params: dict[str, Any],
                 evidence_max_items: int, given: set[str], late_rows: Callable[[], None]) -> list[dict]:  # fmt: skip
    """What ``pipelines.rules.engine.compute_hits`` does for one rule, on the rows already inserted:
    night variables, region policy, the shared marts (those the case did not give), the
    low-income definition, the rule's prefixed parameters, its Python preparation, its SQL.
    Returns ``marts.hit__<rule>`` as dicts (evidence parsed)."""
    from pipelines.core.warehouse import run_sql_file, set_variables
    from pipelines.rules import engine

    set_variables(con, as_of=as_of, evidence_max_items=evidence_max_items)
    _region_policy(con, as_of)
    late_rows()
    for shared in SHARED_MARTS:
        if shared not in given:
            run_sql_file(con, f"marts/{shared}.sql")
    run_sql_file(con, "marts/low_income.sql")
    engine.run_rule(con, rule_id, as_of, params)  # the rule's folder: prefixed parameters, prepare step, hit.sql
    table = f"marts.hit__{rule_id.lower()}"
    cur = con.execute(f"select * exclude (evidence), to_json(evidence)::varchar as evidence from {table}")
    names = [d[0] for d in cur.description]
    return [{**dict(zip(names, r, strict=True)), "evidence": json.loads(r[-1] or "null")} for r in cur.fetchall()]


@functools.cache
def _empty_warehouse() -> duckdb.DuckDBPyConnection:
    """One in-memory warehouse per test process: schema.sql, the macros, the staging and int tables
    and the shared marts' tables, all empty. Each case runs in a transaction rolled back at its end
    (temp tables and macros included), so cases see nothing of each other and pay no set-up."""
    from pipelines.core.warehouse import connect

    con = connect(":memory:")
    for kind, name, columns in _template_warehouse():
        cols = ", ".join(f'"{c}" {t}' for c, t in columns)
        con.execute(f"create or replace {'temp ' if kind == 'temp' else ''}table {name} ({cols})")
    return con


@contextmanager
def _fresh_warehouse(as_of: date) -> Iterator[duckdb.DuckDBPyConnection]:
    """The empty warehouse inside a transaction, with the night's ``int.feed_row`` view (as linkage
    makes it); everything the case does is rolled back afterwards."""
    from pipelines.core.warehouse import run_sql_file, set_variables

    con = _empty_warehouse()
    con.execute("begin transaction")
    try:
        set_variables(con, as_of=as_of)
        run_sql_file(con, "intermediate/int_feed_row.sql")
        yield con
    finally:
        con.execute("rollback")


# =============================================================================================
# Cases
# =============================================================================================
@dataclass
class Case:
    rule_id: str
    name: str
    as_of: date
    given: dict[str, list[dict]]
    expect: list[dict]
    params: dict[str, Any] = field(default_factory=dict)
    evidence_max_items: int = 200
    doubt: str | None = None  # a strict xfail: the answer the wording suggests, which the SQL does not give

    @property
    def id(self) -> str:
        return f"{self.rule_id}::{self.name}"


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    """Every case of every ``<RULE_ID>.yaml``; a file's ``as_of``, ``params`` and ``given`` are the
    defaults of its cases (a case's own ``given`` rows are added to the file's)."""
    cases = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        rule_id = path.stem
        # rows: named rows for YAML anchors (&name ... *name), not read otherwise
        unknown = set(doc) - {"as_of", "params", "given", "cases", "evidence_max_items", "rows"}
        if unknown:
            raise ValueError(f"{path.name}: unknown keys {sorted(unknown)}")
        names = set()
        for raw in doc["cases"]:
            unknown = set(raw) - {"name", "as_of", "params", "given", "expect", "evidence_max_items", "doubt"}
            if unknown or "expect" not in raw:
                raise ValueError(f"{path.name}: case {raw.get('name')}: unknown keys {sorted(unknown)} or no expect")
            if raw["name"] in names:
                raise ValueError(f"{path.name}: case {raw['name']} twice")
            names.add(raw["name"])
            given: dict[str, list[dict]] = {}
            for part in (doc.get("given") or {}, raw.get("given") or {}):
                for table, rows in part.items():
                    given.setdefault(table, []).extend(rows)
            cases.append(
                Case(
                    rule_id=rule_id,
                    name=str(raw["name"]),
                    as_of=raw.get("as_of", doc.get("as_of")),
                    given=given,
                    expect=raw["expect"] or [],
                    params={**(doc.get("params") or {}), **(raw.get("params") or {})},
                    evidence_max_items=raw.get("evidence_max_items", doc.get("evidence_max_items", 200)),
                    doubt=raw.get("doubt"),
                )
            )
    return cases


_RELATIVE = re.compile(r"as_of((?:[+-]\d+[dmy])*)")
_STEP = re.compile(r"([+-]\d+)([dmy])")


def _add_months(day: date, months: int) -> date:
    """Calendar months, as DuckDB's ``date + interval``: the 31st of a shorter month is its last day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return min(day.replace(year=year, month=month, day=1) + timedelta(days=day.day - 1),
               following - timedelta(days=1))  # fmt: skip


def relative_date(text: str, as_of: date) -> date | None:
    """``as_of``, ``as_of+30d``, ``as_of-6m``, ``as_of-18y+1d`` (applied left to right); None when
    ``text`` is not such an expression."""
    match = _RELATIVE.fullmatch(text)
    if not match:
        return None
    day = as_of
    for number, unit in _STEP.findall(match.group(1)):
        n = int(number)
        day = day + timedelta(days=n) if unit == "d" else _add_months(day, n * (12 if unit == "y" else 1))
    return day


def _value(value: Any, as_of: date) -> Any:
    if isinstance(value, str):
        day = relative_date(value, as_of)
        return day if day is not None else value
    if isinstance(value, list):
        return [_value(v, as_of) for v in value]
    return value


class _Known(dict):
    """A default's named columns: one the row leaves empty reads as empty text."""

    def __missing__(self, key: str) -> str:
        return ""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return "" if value is None else value


def _filled(table: str, row: dict, as_of: date, counter: dict) -> dict:
    """A given row with its table's defaults (``{column}`` in a default names another column of the
    row, ``{as_of}`` the night) and relative dates resolved."""
    defaults = DEFAULTS.get(table, {})
    out = {k: _value(v, as_of) for k, v in row.items()}
    for column, default in defaults.items():
        if column in out or column == "_derive":
            continue
        if column == "row_number" and default == "auto":
            key = (table, out.get("source_file"))
            counter[key] = counter.get(key, 0) + 1
            out[column] = counter[key]
        elif isinstance(default, str) and "{" in default:
            out[column] = _value(default.format_map(_Known({**out, "as_of": as_of})), as_of)
        else:
            out[column] = _value(default, as_of)
    return out


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """One statement per table (the rows' columns united, a column a row lacks null); then the
    table's derived columns (defaults.yaml ``_derive``)."""
    if not rows:
        return
    columns = list(dict.fromkeys(c for row in rows for c in row))
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    con.execute(
        f"insert into {table} ({', '.join(columns)}) values {', '.join([placeholders] * len(rows))}",
        [row.get(c) for row in rows for c in columns],
    )
    for sql in DEFAULTS.get(table, {}).get("_derive", []):
        con.execute(sql)


def run_case(case: Case) -> list[dict]:
    """The hits of ``case``'s rule on its given rows."""
    params = rule_parameters(case.rule_id, case.params)
    known = {name for _, name, _ in _template_warehouse()} | {"int.referral", "int.link", "meta.delivery"}
    unknown = set(case.given) - known - set(REGION_TABLES)
    if unknown:
        raise ValueError(f"{case.id}: no such input table {sorted(unknown)} (known: {sorted(known)})")
    with _fresh_warehouse(case.as_of) as con:
        counter: dict = {}
        deliveries: dict[tuple[str, str, date], int] = {}
        persons: set[int] = set()
        for table, rows in case.given.items():
            if table in REGION_TABLES:
                continue
            filled = [_filled(table, r, case.as_of, counter) for r in rows]
            if table.startswith("stg."):
                feed = table.removeprefix("stg.")
                for row in filled:
                    key = (feed, row["source_file"], row["delivered_on"])
                    if key not in deliveries:
                        deliveries[key] = len(deliveries) + 1
                        _insert(con, "meta.delivery", [_filled("meta.delivery", {
                            "delivery_id": deliveries[key], "feed": feed, "source_file": key[1],
                            "file_name": Path(key[1]).name, "delivered_on": key[2]}, case.as_of, counter)])  # fmt: skip
                    row["delivery_id"] = deliveries[key]
                    if row.get("person_id") is not None:
                        persons.add(row["person_id"])
                        _insert(con, "int.link", [_filled("int.link", {
                            "feed": feed, "delivery_id": row["delivery_id"], "row_number": row["row_number"],
                            "person_id": row["person_id"], "method": row.get("method", "exact"),
                            "score": row.get("score", 1.0)}, case.as_of, counter)])  # fmt: skip
                filled = [{k: v for k, v in r.items() if k not in LINK_FIELDS} for r in filled]
            else:
                persons |= {r["person_id"] for r in filled if r.get("person_id") is not None}
            _insert(con, table, filled)
        have = {r[0] for r in con.execute("select person_id from int.person").fetchall()}
        _insert(con, "int.person", [_filled("int.person", {"person_id": p}, case.as_of, counter)
                                    for p in sorted(persons - have)])  # fmt: skip

        def late_rows() -> None:
            for table in REGION_TABLES:
                _insert(con, table, [_filled(table, r, case.as_of, counter) for r in case.given.get(table, [])])

        return run_rule_sql(con, case.rule_id, case.as_of, params, case.evidence_max_items, set(case.given), late_rows)


# =============================================================================================
# Expectations
# =============================================================================================
def _norm(value: Any) -> Any:
    """Figures compare as numbers (``8400.01``, ``"8400.01"`` and Decimal alike), dates as ISO text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return Decimal(value).normalize()
    return value


def _matches(want: Any, got: Any, as_of: date) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _matches(v, got[k], as_of) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(got, list) and len(want) == len(got)
                and all(_matches(w, g, as_of) for w, g in zip(want, got, strict=True)))  # fmt: skip
    return _norm(_value(want, as_of)) == _norm(got)


def check_hits(case: Case, hits: list[dict]) -> None:
    """Exactly the expected hits: each expected row (only the fields it names; ``evidence`` a list
    of items, each naming the fields that matter, in the rule's order) matches one hit, and no hit
    is left over."""
    left = list(hits)
    for want in case.expect:
        found = [h for h in left if _matches(want, h, case.as_of)]
        assert found, f"{case.id}: no hit matches {want}; hits: {json.dumps(left, default=str, ensure_ascii=False)}"
        assert len(found) == 1, f"{case.id}: {len(found)} hits match {want}"
        left.remove(found[0])
    assert not left, f"{case.id}: unexpected hits {json.dumps(left, default=str, ensure_ascii=False)}"

"""The same night gives the same answer: no SQL of the project leaves an order or a pick to chance.

"Incremental = rebuilt" and "the same night twice = the same bytes" hold only if every aggregate or
window whose result depends on the order of its input rows has a total order. A 2026-12 incident: the
second night of a county gave another ``alerts.csv`` in 3 runs of 5 because
``arg_max(m.category, m.status_from)`` met two roster spells with the same ``status_from``.

This scan reads every SQL file under ``warehouse/`` and the SQL string literals of the Python under
``pipelines/``, ``matchers/`` and ``webapp/casework/publish/`` and fails on

- ``arg_max``/``arg_min``/``max_by``/``min_by`` whose ordering value is a single expression (use a row
  of the value and its tie-breakers: ``arg_max(x, (status_from, category))``);
- ``any_value``/``arbitrary`` (use ``min``/``max``, or ``arg_max`` with a tie-breaker);
- ``first``/``last``/``list``/``array_agg``/``string_agg``/``group_concat`` without ``order by`` inside
  the call, or ordered by one expression only;
- a row-picking window function (``row_number``, ``first_value``, ``last_value``, ``nth_value``, ``lag``,
  ``lead``, ``ntile``, or an aggregate above used as a window) whose ``over (...)`` has no ``order by`` or
  orders by one expression only;
- ``limit`` (other than ``limit 0``) in a query level without ``order by``.

One expression can be a total order (a primary key, the partition's unique key): such sites are listed
in ``ALLOWED`` with the reason it is unique. Entries no longer found fail the test too, so the list
stays true.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PICK_BY = {"arg_max", "arg_min", "max_by", "min_by", "argmax", "argmin"}
ANY = {"any_value", "arbitrary"}
ORDERED_AGG = {"first", "last", "list", "array_agg", "string_agg", "group_concat", "listagg"}
WINDOW_PICK = {"row_number", "first_value", "last_value", "nth_value", "lag", "lead", "ntile"} | PICK_BY | ORDERED_AGG
CALL = re.compile(r"\b(" + "|".join(sorted(PICK_BY | ANY | ORDERED_AGG)) + r")\s*\(", re.IGNORECASE)
OVER = re.compile(r"\bover\s*\(", re.IGNORECASE)
LIMIT = re.compile(r"\blimit\b\s*([^\s,;)]*)", re.IGNORECASE)
ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
FRAME = re.compile(r"\b(rows|range|groups)\s+(between|unbounded|current|\d)", re.IGNORECASE)

# (file, the call or clause with whitespace collapsed, lower case) -> why one expression is a total order
_SNAPSHOT = "numbered keeps one row per (feed, id_number, household_key, snapshot): snap_idx is unique in a spell"
ALLOWED: dict[tuple[str, str], str] = {
    **{
        ("warehouse/intermediate/int_household_member.sql", f"arg_max({column}, snap_idx)"): _SNAPSHOT
        for column in (
            "dibao_class",
            "region_code",
            "registry_status",
            "relation",
            "support_mode",
            "township",
            "village",
        )
    },
    (
        "warehouse/intermediate/int_household_member.sql",
        "over ( partition by m.feed, m.id_number, m.household_key, m.category order by s.snap_idx )",
    ): _SNAPSHOT,
    (
        "warehouse/intermediate/int_link__candidates.sql",
        "over (partition by feed, delivery_id, row_number, person_id order by block)",
    ): "its rows have the partition's columns and block only: rows tied on block are the same row",
    ("warehouse/intermediate/int_person_key.sql", "over (order by id_number)"): "new holds distinct id_numbers",
    **{
        ("warehouse/report/rpt_rules_skipped.sql", f"arg_max(s.{column}, s.as_of)"): (
            "meta.rule_skip's key is (as_of, rule_id, feed): one row per night in a (rule, feed, reason) group"
        )
        for column in ("last_delivered_on", "freshness_days")
    },
    (
        "pipelines/transform/households.py",
        "select 1 from marts.household_profile where household_key = ? union all "
        "select 1 from int.household_member where household_key = ? limit 1",
    ): "an existence test: every row is the constant 1",
}


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _close(text: str, open_at: int) -> int:
    """The index of the parenthesis closing the one at ``open_at`` (quotes respected)."""
    depth, quote = 0, None
    for i in range(open_at, len(text)):
        c = text[i]
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return len(text) - 1


def _top_level(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside parentheses, brackets, braces and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _depth_zero_order_by(text: str) -> str | None:
    """What follows ``order by`` at the top level of ``text`` (up to a window frame), if any."""
    depth, quote = 0, None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
            continue
        if c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and (m := ORDER_BY.match(text, i)) and (i == 0 or not text[i - 1].isalnum()):
            rest = text[m.end() :]
            frame = FRAME.search(rest)
            return rest[: frame.start()] if frame else rest
    return None


def _is_row(expr: str) -> bool:
    """A row/struct of several values: ``(a, b)``, ``{k: a, l: b}``, ``row(a, b)``, ``struct_pack(...)``."""
    expr = expr.strip()
    for opener in ("(", "{", "row(", "struct_pack(", "[", "list_value("):
        if expr.lower().startswith(opener) and _close(expr, len(opener) - 1) == len(expr) - 1:
            return len(_top_level(expr[len(opener) : -1])) > 1
    return False


def _keys(order: str) -> int:
    """How many expressions an ORDER BY list (possibly a row) orders by."""
    keys = _top_level(order)
    if len(keys) == 1:
        bare = re.sub(r"\s+(asc|desc)?\s*(nulls\s+(first|last))?\s*$", "", keys[0], flags=re.IGNORECASE)
        if _is_row(bare):
            return 2
    return len(keys)


def _orders_by_itself(args: str, order: str) -> bool:
    """``list(x order by x)``, ``string_agg(distinct x, ', ' order by x)``: ordered by the listed value
    itself, so items tied in the order are equal and the result is one whatever the scan order."""
    value = _top_level(re.split(r"\border\s+by\b", args, maxsplit=1, flags=re.IGNORECASE)[0])[0]
    value = re.sub(r"^distinct\s+", "", value.strip(), flags=re.IGNORECASE)
    key = re.sub(r"\s+(asc|desc)?\s*(nulls\s+(first|last))?\s*$", "", order.strip(), flags=re.IGNORECASE)
    return _norm(value) == _norm(key)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def findings(sql: str) -> list[tuple[str, str]]:
    """(problem, the call or clause) for every order left to chance in ``sql``."""
    sql = _strip_comments(sql)
    found = []
    for m in CALL.finditer(sql):
        if m.start() > 0 and sql[m.start() - 1] in "._":
            continue  # list_contains(, x.first( ...: another name
        name = m.group(1).lower()
        open_at = m.end() - 1
        end = _close(sql, open_at)
        call = sql[m.start() : end + 1]
        args = sql[open_at + 1 : end]
        if name in PICK_BY:
            parts = _top_level(args)
            if len(parts) >= 2 and not _is_row(parts[1]):
                found.append((f"{name} ordered by one value", call))
        elif name in ANY:
            found.append((f"{name} picks any row", call))
        else:
            order = _depth_zero_order_by(args)
            if order is None:
                found.append((f"{name} without order by", call))
            elif _keys(order) < 2 and not _orders_by_itself(args, order):
                found.append((f"{name} ordered by one expression", call))
    for m in OVER.finditer(sql):
        open_at = m.end() - 1
        clause = sql[m.start() : _close(sql, open_at) + 1]
        # the function the window applies to: the call just before `over`
        before = sql[: m.start()].rstrip()
        if not before.endswith(")"):
            continue  # a named window
        depth, i = 0, len(before) - 1
        while i >= 0:
            depth += {")": 1, "(": -1}.get(before[i], 0)
            if depth == 0:
                break
            i -= 1
        fn = re.search(r"(\w+)\s*$", before[:i])
        if fn is None or fn.group(1).lower() not in WINDOW_PICK:
            continue
        order = _depth_zero_order_by(clause[clause.index("(") + 1 : -1])
        if order is None:
            found.append((f"{fn.group(1).lower()} over a window without order by", clause))
        elif _keys(order) < 2:
            found.append((f"{fn.group(1).lower()} over a window ordered by one expression", clause))
    for m in LIMIT.finditer(sql):
        if m.group(1) == "0":
            continue
        # the query level of this limit: back to the parenthesis that opens it, or the statement's start
        depth, i = 0, m.start() - 1
        while i >= 0 and sql[i] != ";":
            if sql[i] in ")]}":
                depth += 1
            elif sql[i] in "([{":
                if depth == 0:
                    break
                depth -= 1
            i -= 1
        if _depth_zero_order_by(sql[i + 1 : m.start()]) is None:
            found.append(("limit without order by", sql[i + 1 : m.end()]))
    return found


def _python_sql(path: Path) -> list[str]:
    """The SQL string literals of a Python file (f-strings with their holes as ``_``); docstrings skipped."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            texts.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            texts.append("".join(v.value if isinstance(v, ast.Constant) else "_" for v in node.values))
    return [t for t in texts if re.search(r"\bselect\b", t, re.I) and re.search(r"\bfrom\b|\bover\b", t, re.I)]


def _sources() -> list[tuple[str, str]]:
    out = [
        (str(p.relative_to(REPO)), p.read_text(encoding="utf-8")) for p in sorted((REPO / "warehouse").rglob("*.sql"))
    ]
    py = sorted((REPO / "pipelines").rglob("*.py")) + sorted((REPO / "matchers").rglob("*.py"))
    py += sorted((REPO / "webapp" / "casework" / "publish").rglob("*.py"))
    out += [(str(p.relative_to(REPO)), sql) for p in py for sql in _python_sql(p)]
    return out


def scan() -> dict[tuple[str, str], str]:
    return {(path, _norm(site)): problem for path, sql in _sources() for problem, site in findings(sql)}


def test_no_order_left_to_chance():
    found = scan()
    unexplained = sorted(
        f"{path}: {problem}: {site}" for (path, site), problem in found.items() if (path, site) not in ALLOWED
    )
    assert not unexplained, (
        "orders left to chance (add a tie-breaker, or to ALLOWED with why it is unique):\n" + "\n".join(unexplained)
    )
    stale = sorted(f"{path}: {site}" for path, site in ALLOWED if (path, site) not in found)
    assert not stale, "ALLOWED entries no longer found:\n" + "\n".join(stale)


@pytest.mark.parametrize(
    ("sql", "problems"),
    [
        # the incident's own line, and its fix
        ("select arg_max(m.category, m.status_from) from m", ["arg_max ordered by one value"]),
        ("select arg_max(m.category, (m.status_from, m.category)) from m", []),
        ("select max_by(x, {a: a, b: b}) from t", []),
        ("select any_value(region_code) from t group by k", ["any_value picks any row"]),
        ("select list(x) from t", ["list without order by"]),
        ("select list(x order by a) from t", ["list ordered by one expression"]),
        ("select list(x order by a desc, b) from t", []),
        ("select list(distinct m.source order by m.source) from t", []),
        ("select string_agg(distinct substr(c, 1, 6), ', ' order by substr(c, 1, 6) desc) from t", []),
        ("select list(distinct a order by b) from t", ["list ordered by one expression"]),
        ("select list({a: 1, b: [1, 2]} order by (a, b)) filter (where x) from t", []),
        ("select string_agg(name, ',' order by name, id) from t", []),
        ("select list_contains(l, x), list_transform(l, lambda e: e) from t", []),
        ("select row_number() over (partition by k) from t", ["row_number over a window without order by"]),
        (
            "select row_number() over (partition by k order by d) from t",
            ["row_number over a window ordered by one expression"],
        ),
        ("select row_number() over (partition by k order by d desc, id) from t", []),
        ("select sum(x) over (partition by k), rank() over (order by d) from t", []),
        ("select lag(x) over (order by d, id rows between 1 preceding and current row) from t", []),
        ("select * from t limit 5", ["limit without order by"]),
        ("select * from t order by a, b limit 5", []),
        ("select * from (select * from t order by a, b limit 5) s", []),
        ("select * from (select * from t limit 5) s order by a", ["limit without order by"]),
        ("select * from t limit 0", []),
        ("select 1 -- any_value(x) in a comment\nfrom t", []),
    ],
)
def test_the_scan_itself(sql, problems):
    assert [p for p, _ in findings(sql)] == problems

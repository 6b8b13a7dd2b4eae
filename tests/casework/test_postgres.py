"""The casework application on PostgreSQL, served by gunicorn as a county runs it.

- ``test_concurrent_updates_postgres``: 50 concurrent clients (25 on one alert, 25 on an alert each) through the
  JSON API; afterwards the database shows no lost update, exactly one audit event per successful change (none for
  a 409), and only legal states. The figures (requests, conflicts, throughput, latency) are printed.
- ``test_postgres_publish_and_isolation``: a caseworker of township B gets 403/404 on every route with township A's
  ids and changes nothing; the audit table refuses UPDATE, DELETE and TRUNCATE in PostgreSQL itself.

Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
import pytest

CLIENTS_PER_GROUP = 25
TRANSITION_ACTIONS = ("assigned", "status", "closed")
# new → assigned → verifying → closed; re-assigning keeps a case assigned (webapp.casework.lifecycle.TRANSITIONS)
LEGAL = {("new", "assigned"), ("assigned", "assigned"), ("assigned", "verifying"), ("verifying", "closed")}
OUTCOMES = {"assisted", "referred", "not_eligible", "false_alarm"}


def _db(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _new_alerts(db: psycopg.Connection, township: str, n: int) -> list[int]:
    """``n`` new alerts of ``township``: the published ones, topped up with copies of them (new ``alert_id``) when
    the generated county has fewer (its busiest township has about ten)."""
    sql = (
        "select a.id from casework_alert a join casework_township t on t.id = a.township_id "
        "where t.code = %s and a.status = 'new' order by a.id"
    )
    published = [pk for (pk,) in db.execute(sql, (township,))]
    assert published, f"township {township} has no new alert"
    missing = n - len(published)
    if missing > 0:
        columns = [
            c
            for (c,) in db.execute(
                "select column_name from information_schema.columns where table_name = 'casework_alert' "
                "and column_name not in ('id', 'alert_id') order by ordinal_position"
            )
        ]
        cols = ", ".join(columns)
        db.execute(
            f"insert into casework_alert (alert_id, {cols}) "  # noqa: S608 - column names from the catalog
            f"select left(a.alert_id, 24) || '-c' || k, {', '.join('a.' + c for c in columns)} "
            "from generate_series(1, %s) k join casework_alert a on a.id = (%s::bigint[])[1 + (k - 1) %% %s]",
            (missing, published, len(published)),
        )
    return [pk for (pk,) in db.execute(sql, (township,))][:n]


@dataclass
class Tally:
    """What the clients saw, shared by all threads (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    # alert id -> [(username, action)] for every 200 answer to a change; action as the audit trail names it
    changes: dict[int, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    transitions_ok: Counter = field(default_factory=Counter)  # alert id -> 200 answers to transitions
    conflicts: Counter = field(default_factory=Counter)  # group -> 409 answers
    unexpected: list[str] = field(default_factory=list)

    def note(self, started: float, status: int) -> None:
        with self.lock:
            self.latencies.append(time.perf_counter() - started)
            self.statuses[status] += 1


class Client:
    def __init__(self, server, session, username: str, group: str, tally: Tally):
        self.server, self.s, self.username, self.group, self.tally = server, session, username, group, tally

    def get(self, pk: int) -> dict:
        t = time.perf_counter()
        r = self.s.get(f"{self.server.url}/api/alerts/{pk}/", timeout=60)
        self.tally.note(t, r.status_code)
        assert r.status_code == 200, r.text[:300]
        return r.json()

    def post(self, pk: int, body: dict) -> tuple[int, dict]:
        t = time.perf_counter()
        r = self.s.post(f"{self.server.url}/api/alerts/{pk}/", json=body, timeout=60)
        self.tally.note(t, r.status_code)
        data = r.json() if r.headers.get("content-type", "").startswith("application/json") else {"raw": r.text[:300]}
        return r.status_code, data

    def comment(self, pk: int, text: str) -> None:
        status, data = self.post(pk, {"action": "comment", "comment": text})
        with self.tally.lock:
            if status == 200:
                self.tally.changes[pk].append((self.username, "comment"))
            else:
                self.tally.unexpected.append(f"{self.username} comment on {pk}: {status} {data}")

    def move(self, pk: int, current: dict, to: str, allowed_from: set[str], **extra) -> dict:
        """Try ``to`` until it succeeds or the case is no longer in ``allowed_from``; retry on 409 with the fresh
        version. Returns the last known state of the case."""
        while current["status"] in allowed_from:
            body = {"to": to, "version": current["version"]} | extra
            status, data = self.post(pk, body)
            if status == 200:
                action = {"assigned": "assigned", "closed": "closed"}.get(to, "status")
                with self.tally.lock:
                    self.tally.changes[pk].append((self.username, action))
                    self.tally.transitions_ok[pk] += 1
                return data
            if status == 409:
                with self.tally.lock:
                    self.tally.conflicts[self.group] += 1
                current = data["current"]
                continue
            with self.tally.lock:
                self.tally.unexpected.append(f"{self.username} {body} on {pk} (seen {current}): {status} {data}")
            return self.get(pk)
        return current

    def assignee(self, i: int) -> str:
        # a caseworker may only assign to themselves; the county assigns to either caseworker of township A
        return self.username if self.username != "county" else ("a1", "a2")[i % 2]


def same_alert(client: Client, pk: int, i: int) -> None:
    cur = client.get(pk)
    cur = client.move(pk, cur, "assigned", {"new", "assigned"}, assignee=client.assignee(i))
    client.comment(pk, f"客户端{i}：已电话联系")
    cur = client.move(pk, cur, "verifying", {"assigned"})
    client.comment(pk, f"客户端{i}：入户核查安排")


def own_alert(client: Client, pk: int, i: int) -> None:
    cur = client.get(pk)
    cur = client.move(pk, cur, "assigned", {"new"}, assignee=client.assignee(i), comment="分派")
    client.comment(pk, f"客户端{i}：已电话联系")
    cur = client.move(pk, cur, "verifying", {"assigned"})
    cur = client.move(
        pk, cur, "closed", {"verifying"}, outcome=sorted(OUTCOMES)[i % 4], comment=f"客户端{i}：入户核查完毕"
    )
    assert cur["status"] == "closed", cur


def test_concurrent_updates_postgres(casework_server, postgres_url):
    server = casework_server(db_url=postgres_url, workers=2, threads=8)
    township_a = server.users["a1"]["township"]
    with _db(postgres_url) as db:
        new_alerts = _new_alerts(db, township_a, 1 + CLIENTS_PER_GROUP)
        events_before = db.execute("select count(*) from casework_auditevent").fetchone()[0]
    shared, own = new_alerts[0], new_alerts[1:]

    names = ["a1", "a2", "county"]
    plan = [("same", i, names[i % 3], shared) for i in range(CLIENTS_PER_GROUP)] + [
        ("different", i, names[i % 3], own[i]) for i in range(CLIENTS_PER_GROUP)
    ]
    with ThreadPoolExecutor(10) as pool:  # every client logs in with a session of its own
        sessions = list(pool.map(lambda p: server.login(p[2]), plan))
    tally = Tally()
    clients = [Client(server, s, user, group, tally) for (group, _, user, _), s in zip(plan, sessions, strict=True)]
    barrier = threading.Barrier(len(plan))
    errors: list[BaseException] = []

    def run(k: int) -> None:
        group, i, _, pk = plan[k]
        barrier.wait()
        try:
            (same_alert if group == "same" else own_alert)(clients[k], pk, i)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the thread's client
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(plan))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    wall = time.perf_counter() - started
    assert not any(t.is_alive() for t in threads), "clients did not finish"
    assert not errors, errors[:3]
    assert not tally.unexpected, tally.unexpected[:5]

    total = sum(tally.statuses.values())
    ok = tally.statuses[200]
    print(
        f"\nconcurrency on PostgreSQL (gunicorn 2 workers × 8 threads, {len(plan)} clients): "
        f"{total} requests, {ok} successes (200), {tally.statuses[409]} conflicts (409: "
        f"same alert {tally.conflicts['same']}, different alerts {tally.conflicts['different']}), "
        f"{wall:.2f} s wall, {total / wall:.0f} requests/s, "
        f"latency p50 {_percentile(tally.latencies, 0.5) * 1000:.0f} ms, "
        f"p95 {_percentile(tally.latencies, 0.95) * 1000:.0f} ms, max {max(tally.latencies) * 1000:.0f} ms"
    )
    assert set(tally.statuses) <= {200, 409}, tally.statuses
    assert tally.conflicts["same"] > 0, "no contention on the shared alert"

    touched = [shared, *own]
    with _db(postgres_url) as db:
        users = {
            pk: (username, (f"{first} {last}".strip() or username))
            for pk, username, first, last in db.execute("select id, username, first_name, last_name from casework_user")
        }
        alerts = {
            row[0]: row
            for row in db.execute(
                "select a.id, a.status, a.version, a.outcome, a.closed_at, u.username, ut.code "
                "from casework_alert a left join casework_user u on u.id = a.assignee_id "
                "left join casework_township ut on ut.id = u.township_id where a.id = any(%s)",
                (touched,),
            )
        }
        events = db.execute(
            "select alert_id, action, actor_id, actor_name, from_status, to_status, comment, details "
            "from casework_auditevent where alert_id = any(%s) and actor_id is not null order by id",
            (touched,),
        ).fetchall()
        events_after = db.execute("select count(*) from casework_auditevent").fetchone()[0]

    # no lost update: every alert's version is the number of 200 answers to its transitions
    for pk in touched:
        assert alerts[pk][2] == tally.transitions_ok[pk], (pk, alerts[pk], tally.transitions_ok[pk])

    # exactly one event per successful change, with its actor; nothing for a 409 (and nothing else was written)
    seen = defaultdict(list)
    for alert_id, action, actor_id, actor_name, *_ in events:
        username, display = users[actor_id]
        assert actor_name == display and actor_name, (actor_id, actor_name)
        seen[alert_id].append((username, action))
    for pk in touched:
        assert Counter(seen[pk]) == Counter(tally.changes[pk]), pk
    assert events_after - events_before == sum(len(v) for v in tally.changes.values())

    # the transition events of each alert form one legal chain, versions 1..n without a gap or a duplicate
    for pk in touched:
        chain = sorted((e for e in events if e[0] == pk and e[1] in TRANSITION_ACTIONS), key=lambda e: e[7]["version"])
        assert [e[7]["version"] for e in chain] == list(range(1, alerts[pk][2] + 1)), pk
        state = "new"
        for e in chain:
            assert (e[4], e[5]) in LEGAL and e[4] == state, (pk, e)
            state = e[5]
        assert state == alerts[pk][1], pk

    # every final state is a legal one
    for pk, status, _version, outcome, closed_at, assignee, assignee_township in alerts.values():
        assert status in {"assigned", "verifying", "closed"}, (pk, status)
        assert assignee in {"a1", "a2"} and assignee_township == township_a, (pk, assignee)
        if status == "closed":
            assert outcome in OUTCOMES and closed_at is not None, pk
        else:
            assert outcome == "" and closed_at is None, pk
    assert alerts[shared][1] == "verifying"
    assert all(alerts[pk][1] == "closed" and alerts[pk][2] == 3 for pk in own)
    print(
        f"shared alert {shared}: version {alerts[shared][2]} after {tally.transitions_ok[shared]} successful "
        f"transitions and {tally.conflicts['same']} conflicts; {len(events)} audit events by people on "
        f"{len(touched)} alerts"
    )


def _snapshot(db: psycopg.Connection) -> dict:
    return {
        "alerts": db.execute(
            "select md5(string_agg(concat_ws('|', id, status, version, assignee_id, outcome, closed_at), ',' "
            "order by id)) from casework_alert"
        ).fetchone()[0],
        "events": db.execute("select count(*), max(id) from casework_auditevent").fetchone(),
        "proposals": db.execute(
            "select count(*), md5(string_agg(concat_ws('|', id, decision, decided_by_id), ',' order by id)) "
            "from casework_proposal"
        ).fetchone(),
    }


def test_postgres_publish_and_isolation(casework_server, postgres_url):
    server = casework_server(db_url=postgres_url, workers=1, threads=4)
    code_a, code_b = server.users["a1"]["township"], server.users["b1"]["township"]
    a1, b1 = server.login("a1"), server.login("b1")
    with _db(postgres_url) as db:
        # the publish reached PostgreSQL: townships, households, people, alerts and the night's audit events
        for table in ("casework_township", "casework_household", "casework_person", "casework_alert"):
            assert db.execute(f"select count(*) from {table}").fetchone()[0] > 0, table  # noqa: S608
        assert db.execute("select count(*) from casework_auditevent where action = 'created'").fetchone()[0] > 0

        def township_ids(sql: str, code: str, n: int = 3) -> list[int]:
            return [r[0] for r in db.execute(sql, (code, n))]

        alerts_a = township_ids(
            "select a.id from casework_alert a join casework_township t on t.id = a.township_id "
            "where t.code = %s order by a.score desc, a.id limit %s",
            code_a,
        )
        households_a = township_ids(
            "select h.id from casework_household h join casework_township t on t.id = h.township_id "
            "where t.code = %s and exists (select 1 from casework_person p where p.household_id = h.id) "
            "order by h.id limit %s",
            code_a,
        )
        people_a = db.execute(
            "select p.id, p.id_number, p.name from casework_person p "
            "join casework_household h on h.id = p.household_id where h.id = any(%s) order by p.id",
            (households_a,),
        ).fetchall()
        alert_b = township_ids(
            "select a.id from casework_alert a join casework_township t on t.id = a.township_id "
            "where t.code = %s order by a.id limit %s",
            code_b,
            1,
        )[0]
        household_codes_a = [
            r[0]
            for r in db.execute("select household_code from casework_household where id = any(%s)", (households_a,))
        ]
        alert_keys_a = [r[0] for r in db.execute("select alert_id from casework_alert where id = any(%s)", (alerts_a,))]
    assert alerts_a and households_a and people_a

    # a proposal of township A, so that the decision route has an id of A's to try too
    r = a1.post(f"{server.url}/alerts/{alerts_a[0]}/propose", data={"amount": "300", "reason": "测试"}, timeout=30)
    assert r.status_code == 200
    with _db(postgres_url) as db:
        proposal_a = db.execute("select max(id) from casework_proposal").fetchone()[0]
        assert proposal_a is not None
        version_a = db.execute("select version from casework_alert where id = %s", (alerts_a[0],)).fetchone()[0]
        before = _snapshot(db)

    # controls: the session of b1 works in its own township, and township A's pages exist for a1
    assert b1.get(f"{server.url}/api/alerts/{alert_b}/", timeout=30).status_code == 200
    assert a1.get(f"{server.url}/alerts/{alerts_a[0]}/", timeout=30).status_code == 200

    attempts: list[tuple[str, str, dict | None]] = []
    for pk in alerts_a:
        attempts += [
            ("GET", f"/alerts/{pk}/", None),
            ("POST", f"/alerts/{pk}/transition", {"to": "assigned", "version": str(version_a)}),
            ("POST", f"/alerts/{pk}/comment", {"comment": "越权备注"}),
            ("POST", f"/alerts/{pk}/propose", {"amount": "100", "reason": "越权申请"}),
            ("GET", f"/api/alerts/{pk}/", None),
            ("POST_JSON", f"/api/alerts/{pk}/", {"to": "assigned", "version": version_a, "assignee": "b1"}),
            ("POST_JSON", f"/api/alerts/{pk}/", {"to": "assigned", "version": 0}),
            ("POST_JSON", f"/api/alerts/{pk}/", {"action": "comment", "comment": "越权备注"}),
        ]
    for pk in households_a:
        attempts += [("GET", f"/households/{pk}/", None), ("GET", f"/households/{pk}/export.xlsx", None)]
    for pk, _, _ in people_a:
        attempts.append(("POST", f"/people/{pk}/reveal", {"reason": "越权查看"}))
    attempts.append(("POST", f"/proposals/{proposal_a}/decide", {"decision": "approve", "note": "越权审批"}))

    secrets = [idn for _, idn, _ in people_a] + [n for _, _, n in people_a if len(n) > 1] + alert_keys_a
    secrets += [c for c in household_codes_a if c]
    answers = []
    for method, path, body in attempts:
        url = server.url + path
        if method == "GET":
            r = b1.get(url, timeout=30, allow_redirects=False)
        elif method == "POST":
            r = b1.post(url, data=body, timeout=30, allow_redirects=False)
        else:
            r = b1.post(url, json=body, timeout=30, allow_redirects=False)
        answers.append((method, path, r.status_code))
        assert r.status_code in (403, 404), (method, path, r.status_code, r.text[:200])
        text = r.content.decode("utf-8", "replace")
        leaked = [s for s in secrets if s in text]
        assert not leaked, (path, leaked)
    print(f"\nisolation: {len(answers)} requests of b1 on township A's ids: {Counter(s for *_, s in answers)}")

    # the lists filtered by A's code show nothing of A either
    r = b1.get(f"{server.url}/api/alerts/", params={"township": code_a, "status": "all"}, timeout=30)
    assert r.status_code == 200 and r.json()["count"] == 0
    r = b1.get(f"{server.url}/", params={"township": code_a, "status": "all"}, timeout=30)
    assert r.status_code == 200 and not [s for s in secrets if s in r.text]

    with _db(postgres_url) as db:
        assert _snapshot(db) == before, "a request outside the user's scope changed the store"

        # append-only in PostgreSQL itself, whatever the client
        event = db.execute("select min(id) from casework_auditevent").fetchone()[0]
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            db.execute("update casework_auditevent set comment = 'rewritten' where id = %s", (event,))
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            db.execute("delete from casework_auditevent where id = %s", (event,))
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            db.execute("truncate casework_auditevent")
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"), db.transaction():
            db.execute("update casework_auditevent set actor_name = 'x'")
        assert db.execute("select count(*), max(id) from casework_auditevent").fetchone() == before["events"]

"""A caseworker of township A reaches nothing of township B by any URL or API (in-process, SQLite)."""

from __future__ import annotations

import io
import logging
import re
import shutil

import openpyxl
import pytest
from conftest import AS_OF
from django.db.models import Count
from django.test import Client

from pipelines.core.warehouse import open_warehouse
from pipelines.policy import load_policy
from webapp.casework.models import Alert, AuditEvent, Member, Person, Proposal, Role, Township, User
from webapp.casework.publish import publish_night

pytestmark = pytest.mark.django_db
PW = "isolation-pw-123"


@pytest.fixture
def store(county_warehouse, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(county_warehouse, path)
    with open_warehouse(path) as con:
        con.execute("begin transaction")
        publish_night(con, AS_OF, load_policy())
        con.execute("commit")
    a, b = Township.objects.annotate(n=Count("alerts")).filter(n__gt=0).order_by("-n", "code")[:2]
    users = {
        "a": User.objects.create_user("a", password=PW, role=Role.CASEWORKER, township=a, first_name="甲"),
        "a2": User.objects.create_user("a2", password=PW, role=Role.CASEWORKER, township=a),
        "b": User.objects.create_user("b", password=PW, role=Role.CASEWORKER, township=b),
        "county": User.objects.create_user("county", password=PW, role=Role.COUNTY, county_code=a.county_code),
        "admin": User.objects.create_user("admin", password=PW, role=Role.ADMIN),
        "nobody": User.objects.create_user("nobody", password=PW, role=Role.CASEWORKER),  # no township yet
    }
    return {"A": a, "B": b, "users": users}


def client(user: User) -> Client:
    c = Client(enforce_csrf_checks=False)
    c.force_login(user)
    return c


def queue_ids(c: Client) -> set[int]:
    ids, page = set(), 1
    while True:
        body = c.get("/api/alerts/", {"status": "all", "page": page}).json()
        ids |= {r["id"] for r in body["results"]}
        if len(ids) >= body["count"] or not body["results"]:
            return ids
        page += 1


def test_each_user_sees_exactly_their_scope(store):
    a, b = store["A"], store["B"]
    users = store["users"]
    assert queue_ids(client(users["a"])) == set(Alert.objects.filter(township=a).values_list("pk", flat=True))
    assert queue_ids(client(users["b"])) == set(Alert.objects.filter(township=b).values_list("pk", flat=True))
    assert queue_ids(client(users["county"])) == set(
        Alert.objects.filter(township__county_code=a.county_code).values_list("pk", flat=True)
    )
    assert queue_ids(client(users["nobody"])) == set()
    # the queue page lists only own-township alerts
    html = client(users["a"]).get("/", {"status": "all"}).content.decode()
    listed = {int(x) for x in re.findall(r'data-alert="(\d+)"', html)}
    assert listed and listed <= set(Alert.objects.filter(township=a).values_list("pk", flat=True))


def routes_of(alert: Alert) -> list[tuple[str, str, dict]]:
    person = Member.objects.filter(household=alert.household).first().person
    proposal = Proposal.objects.create(
        alert=alert,
        amount=100,
        tier="township",
        basis="test",
        reason="test",
        proposed_by=User.objects.get(username="a2"),
    )
    return [
        ("get", f"/alerts/{alert.pk}/", {}),
        ("post", f"/alerts/{alert.pk}/transition", {"to": "assigned", "version": alert.version}),
        ("post", f"/alerts/{alert.pk}/comment", {"comment": "看看"}),
        ("post", f"/alerts/{alert.pk}/propose", {"amount": "500", "reason": "看看"}),
        ("get", f"/households/{alert.household_id}/", {}),
        ("get", f"/households/{alert.household_id}/export.xlsx", {}),
        ("post", f"/people/{person.pk}/reveal", {"reason": "看看"}),
        ("post", f"/proposals/{proposal.pk}/decide", {"decision": "approve"}),
        ("get", f"/api/alerts/{alert.pk}/", {}),
        ("post", f"/api/alerts/{alert.pk}/", {"to": "assigned", "version": alert.version}),
    ]


def test_a_caseworker_of_township_b_gets_404_on_every_route_of_township_a(store):
    alert = Alert.objects.filter(township=store["A"]).order_by("-score", "pk").first()
    routes = routes_of(alert)
    before = (Alert.objects.get(pk=alert.pk).version, AuditEvent.objects.count(), Proposal.objects.count())
    for user in ("b", "nobody"):
        c = client(store["users"][user])
        for method, url, data in routes:
            if url.startswith("/api/") and method == "post":
                r = c.post(url, data, content_type="application/json")
            else:
                r = getattr(c, method)(url, data)
            assert r.status_code in (403, 404), (user, method, url, r.status_code)
            body = r.content.decode(errors="replace")
            assert alert.alert_id not in body and alert.household.household_code not in body
            assert not re.search(r"\d{6}\*+\d{3}[\dX]", body), f"{url} shows an ID number"
    assert (Alert.objects.get(pk=alert.pk).version, AuditEvent.objects.count(), Proposal.objects.count()) == before


def test_the_same_routes_answer_for_the_own_caseworker(store):
    alert = Alert.objects.filter(township=store["A"]).order_by("-score", "pk").first()
    c = client(store["users"]["a"])
    for method, url, _data in routes_of(alert):
        if method == "get":
            assert c.get(url).status_code == 200, url


def test_the_queue_export_holds_only_the_users_township(store):
    c = client(store["users"]["b"])
    r = c.get("/queue/export.xlsx", {"status": "all"})
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:4] == ("序号", "预警编号", "规则", "规则名称")
    exported = {row[1] for row in rows[1:]}
    assert exported == set(Alert.objects.filter(township=store["B"]).values_list("alert_id", flat=True))
    # masked IDs and names only, and the export is audited
    assert all(re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", row[9]) for row in rows[1:] if row[9])
    assert AuditEvent.objects.filter(action="export", actor__username="b").count() == 1


def test_household_export_for_visits(store):
    alert = Alert.objects.filter(township=store["A"], household__key__startswith="CA:").first()
    r = client(store["users"]["a"]).get(f"/households/{alert.household_id}/export.xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["家庭", "家庭成员", "预警信号", "证据", "办理记录"]
    members = list(wb["家庭成员"].iter_rows(values_only=True))
    assert members[0] == ("姓名", "身份证号", "与户主关系", "性别", "出生日期", "救助类别")
    assert len(members) - 1 == Member.objects.filter(household=alert.household).count()
    text = " ".join(str(c) for ws in wb for row in ws.iter_rows(values_only=True) for c in row if c)
    assert not re.search(r"\d{17}[\dX]", text), "a full ID number in the visit workbook"
    assert alert.alert_id in text


def test_revealing_an_id_is_audited_and_limited_to_roles_that_need_it(store, caplog):
    alert = Alert.objects.filter(township=store["A"], household__key__startswith="CA:").first()
    person = Member.objects.filter(household=alert.household).first().person
    caplog.set_level(logging.DEBUG)
    c = client(store["users"]["a"])
    page = c.get(f"/households/{alert.household_id}/").content.decode()
    assert person.id_number not in page and person.name not in page  # masked on the page
    assert c.post(f"/people/{person.pk}/reveal", {"reason": ""}).status_code == 302  # a reason is required
    form = {"alert": alert.pk, "reason_choice": "入户核查核对身份", "reason": "入户核对身份"}
    r = c.post(f"/people/{person.pk}/reveal", form)
    assert r.status_code == 200 and person.id_number in r.content.decode()
    event = AuditEvent.objects.get(action="reveal")
    assert (event.actor.username, event.person_id, event.alert_id, event.comment) == (
        "a", person.pk, alert.pk, "入户核查核对身份：入户核对身份"
    )
    # the administrator runs the system; they do not need anyone's ID number
    assert client(store["users"]["admin"]).post(f"/people/{person.pk}/reveal", {"reason": "x"}).status_code == 403
    # and nothing logged the ID or the name, at any level
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert person.id_number not in logged and person.name not in logged


def test_no_log_line_carries_an_id_number_or_a_name(county_warehouse, tmp_path, caplog):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(county_warehouse, path)
    caplog.set_level(logging.DEBUG)
    with open_warehouse(path) as con:
        con.execute("begin transaction")
        publish_night(con, AS_OF, load_policy())
        con.execute("commit")
    alert = Alert.objects.order_by("pk").first()
    user = User.objects.create_user("w", password=PW, role=Role.CASEWORKER, township=alert.township)
    c = client(user)
    for url in ("/", f"/alerts/{alert.pk}/", f"/households/{alert.household_id}/", "/queue/export.xlsx"):
        assert c.get(url).status_code == 200
    c.post(f"/alerts/{alert.pk}/transition", {"to": "assigned", "version": 0})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # the night and the requests did log
    for p in Person.objects.all():
        assert p.id_number not in logged
        assert len(p.name) < 2 or p.name not in logged

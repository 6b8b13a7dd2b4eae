"""The web application's doors (issue 20): login throttle, password rules, TLS settings, full-ID reveals
(daily limit, a real reason, tied to an alert, the county's list), no-store, the API's 401, assignee
answers that tell nothing about other townships, and decimal amounts refused rather than rounded."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal

import pytest
from conftest import REPO
from django.test import Client
from django.utils import timezone

from webapp.casework import lifecycle
from webapp.casework.accounts import AccountError, add_user
from webapp.casework.models import (
    Alert,
    AuditEvent,
    Household,
    Member,
    Person,
    Proposal,
    RegionYear,
    Role,
    Township,
    User,
)

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 20)
PW = "doors-test-pw-2026"
ID_A, ID_B, ID_C = "520302198001011234", "52030219820202222X", "520302199003033333"


@pytest.fixture
def town():
    """Township A with two households (an alert each), township B of the same county with one, their users."""
    a = Township.objects.create(code="520302001", name="老城街道", county_code="520302")
    b = Township.objects.create(code="520302100", name="深溪镇", county_code="520302")
    RegionYear.objects.create(
        county_code="520302", year=2026, dibao_standard_urban_monthly=Decimal("546.00"),
        township_multiple_of_urban_dibao=Decimal("5"), county_bureau_max=Decimal("15000"),
    )  # fmt: skip
    out: dict = {"A": a, "B": b}
    for key, township, id_number, name in (("h1", a, ID_A, "王小明"), ("h2", a, ID_B, "李红"), ("hb", b, ID_C, "赵刚")):
        hh = Household.objects.create(key=f"CA:{key}", household_code=key, township=township, last_night=TODAY)
        person = Person.objects.create(
            person_id=len(out), household=hh, id_number=id_number, name=name, township=township, last_night=TODAY
        )
        Member.objects.create(household=hh, person=person, relation="户主")
        out[key] = Alert.objects.create(
            alert_id=f"alert-{key}", rule_id="MED_OOP_SINGLE", rule_version=1, subject_type="person", person=person,
            household=hh, township=township, period="2026-11", condition="open", first_raised_on=TODAY,
            last_seen_on=TODAY, last_night=TODAY, deadline=TODAY + timedelta(days=30),
        )  # fmt: skip
    out["users"] = {
        "a": User.objects.create_user("a", password=PW, role=Role.CASEWORKER, township=a, first_name="张三"),
        "a2": User.objects.create_user("a2", password=PW, role=Role.CASEWORKER, township=a),
        "b": User.objects.create_user("b", password=PW, role=Role.CASEWORKER, township=b),
        "county": User.objects.create_user("county", password=PW, role=Role.COUNTY, county_code="520302"),
        "other_county": User.objects.create_user("oc", password=PW, role=Role.COUNTY, county_code="520303"),
        "admin": User.objects.create_user("admin", password=PW, role=Role.ADMIN),
    }
    return out


def client(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


# ---- 8. the login door ------------------------------------------------------------------------------------


def login(c: Client, username: str, password: str, addr: str = "10.0.0.1", **headers):
    return c.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=addr, **headers)


def logged_in(c: Client) -> bool:
    return c.get("/").status_code == 200


def test_failed_logins_pause_that_username_from_that_address(town, settings):
    limit = settings.CASEWORK_POLICY.login.failure_limit
    assert limit == 5  # casework.yaml's default
    c = Client()
    for _ in range(limit - 1):
        assert login(c, "a", "wrong-password").status_code == 200  # the form again, "用户名或密码错误"
    assert login(c, "a", PW).status_code == 302 and logged_in(c)  # under the limit; success forgets the failures
    c = Client()
    for i in range(limit):
        r = login(c, "a", "wrong-password")
        assert r.status_code == (429 if i == limit - 1 else 200)
    # paused: even the right password is refused, in Chinese, and forging X-Forwarded-For does not help
    for headers in ({}, {"HTTP_X_FORWARDED_FOR": "10.9.9.9"}):
        r = login(c, "a", PW, **headers)
        assert r.status_code == 429 and "登录失败次数过多" in r.content.decode() and "15 分钟" in r.content.decode()
        assert not logged_in(c)
    # another username from the same address, and the same username from another address, still log in
    assert login(Client(), "a2", PW).status_code == 302
    other = Client()
    assert login(other, "a", PW, addr="10.0.0.2").status_code == 302 and logged_in(other)


def test_an_administrator_lifts_a_pause_with_doudi_users_unlock(town, monkeypatch):
    from typer.testing import CliRunner

    import webapp
    from pipelines.cli import app

    monkeypatch.setattr(webapp, "migrate", lambda *a, **k: None)  # the test database is migrated already
    c = Client()
    for _ in range(5):
        login(c, "a", "wrong-password")
    assert login(c, "a", PW).status_code == 429
    done = CliRunner().invoke(app, ["users", "unlock", "a"])
    assert done.exit_code == 0 and "user a: 1 failed-login record(s) cleared" in done.output, done.output
    assert login(c, "a", PW).status_code == 302 and logged_in(c)


def test_fifty_wrong_passwords_are_not_fifty_tries(town):
    c = Client()
    codes = [login(c, "county", f"guess-{i}").status_code for i in range(50)]
    assert codes.count(200) == 4 and codes[4:] == [429] * 46
    assert login(c, "county", PW).status_code == 429


def test_a_typed_username_never_reaches_a_log(town, caplog):
    caplog.set_level(logging.DEBUG)
    c = Client()
    for _ in range(6):  # people type their ID number as username; the throttle's log lines mask it
        login(c, ID_A, "wrong-password")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "AXES" in logged and "5*****************" in logged
    assert ID_A not in logged and ID_A[:10] not in logged


@pytest.mark.parametrize(
    ("username", "password", "name", "why"),
    [
        ("wangfang", "wangfang", "", "相似"),  # the username itself
        ("wangfang", "wangfang1", "", "相似"),
        ("zhaoli2026", "Zhaoli2026", "", "相似"),
        ("clerk", "20261207", "", "只包含数字"),  # all digits
        ("clerk", "13800138000", "", "只包含数字"),
        ("clerk", "abc12", "", "密码太短，至少需要 8 个字符"),
        ("clerk", "password123", "", "太常见"),
        ("clerk", "liuyang888", "liuyang888", "相似"),  # the person's name given with --name
    ],
)
def test_weak_passwords_are_refused_for_users_add(town, username, password, name, why):
    with pytest.raises(AccountError, match=why):
        add_user(username, password, role=Role.CASEWORKER, township="520302001", full_name=name)
    assert not User.objects.filter(username=username).exists()


def test_a_good_password_is_accepted(town):
    user = add_user("wangfang", "县城-暖冬-4731", role=Role.CASEWORKER, township="520302001", full_name="王芳")
    assert user.check_password("县城-暖冬-4731")


def _settings_in_a_process(env: dict[str, str], store) -> dict:
    code = (
        "import json, webapp.settings as s; print(json.dumps({k: getattr(s, k, None) for k in ("
        "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', "
        "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_PROXY_SSL_HEADER', 'AXES_IPWARE_META_PRECEDENCE_ORDER')}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOUDI_TLS", "DOUDI_PROXY", "DOUDI_HSTS"))}
    base["DOUDI_CASEWORK_DB"] = f"sqlite:///{store / 'casework.sqlite3'}"  # its secret key beside it, not in var/
    done = subprocess.run(
        [sys.executable, "-c", code], env=base | env | {"PYTHONPATH": str(REPO)}, cwd=REPO,
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"SESSION_COOKIE_SECURE": None, "SECURE_HSTS_SECONDS": None, "SECURE_PROXY_SSL_HEADER": None,
              "AXES_IPWARE_META_PRECEDENCE_ORDER": ["REMOTE_ADDR"]}),
        ({"DOUDI_TLS": "1"}, {"SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_SSL_REDIRECT": True,
                              "SECURE_HSTS_SECONDS": 31536000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
                              "SECURE_PROXY_SSL_HEADER": None}),
        ({"DOUDI_TLS": "1", "DOUDI_PROXY": "1", "DOUDI_HSTS_SECONDS": "600"},
         {"SESSION_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 600,
          "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
          "AXES_IPWARE_META_PRECEDENCE_ORDER": ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]}),
    ],
)  # fmt: skip
def test_tls_and_proxy_switches(env, expected, tmp_path):
    got = _settings_in_a_process(env, tmp_path)
    assert {k: got[k] for k in expected} == expected


def test_django_deployment_check_over_tls_leaves_only_the_opt_ins(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOUDI_TLS", "DOUDI_PROXY", "DOUDI_HSTS"))}
    env["DOUDI_CASEWORK_DB"] = f"sqlite:///{tmp_path / 'casework.sqlite3'}"
    env |= {"DOUDI_TLS": "1", "DOUDI_PROXY": "1", "DOUDI_SECRET_KEY": "k" * 20 + "-deploy-check-" + "x" * 30}
    code = "import webapp; webapp.setup(); import django.core.management as m; m.call_command('check', '--deploy')"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env | {"PYTHONPATH": str(REPO)}, cwd=REPO,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = set(re.findall(r"\(security\.(W\d+)\)", done.stdout + done.stderr))
    assert found == {"W005", "W021"}, done.stdout + done.stderr  # HSTS for subdomains and preload: opt-in


def test_served_over_tls_the_cookies_are_secure_and_hsts_is_sent(town, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    c = Client()
    r = c.post("/accounts/login/", {"username": "a", "password": PW}, secure=True)
    assert r.status_code == 302 and r.cookies["sessionid"]["secure"] and r.cookies["sessionid"]["httponly"]
    assert r["Strict-Transport-Security"] == "max-age=31536000"


# ---- 9. full-ID reveals -----------------------------------------------------------------------------------


def reveal(c: Client, alert: Alert, choice: str = "入户核查核对身份", reason: str = "入户时核对户主身份", **kw):
    data = {"alert": alert.pk, "reason_choice": choice, "reason": reason} | kw
    return c.post(f"/people/{alert.person_id}/reveal", data)


@pytest.mark.parametrize(
    ("choice", "reason", "which_alert", "message"),
    [
        ("入户核查核对身份", "", "own", "请写明具体事由"),
        ("入户核查核对身份", ".", "own", "请写明具体事由"),
        ("入户核查核对身份", "。。。。！？", "own", "请写明具体事由"),
        ("入户核查核对身份", "  …  ", "own", "请写明具体事由"),
        ("入户核查核对身份", "看看", "own", "至少 4 个"),
        ("", "入户时核对户主身份", "own", "请选择查看事由"),
        ("好奇", "入户时核对户主身份", "own", "请选择查看事由"),
        ("入户核查核对身份", "入户时核对户主身份", "none", "请选择与此人有关的预警"),
        ("入户核查核对身份", "入户时核对户主身份", "other_household", "请选择与此人有关的预警"),
        ("入户核查核对身份", "入户时核对户主身份", "other_township", "请选择与此人有关的预警"),
    ],
)
def test_a_reveal_needs_a_real_reason_and_an_alert(town, choice, reason, which_alert, message):
    alert = town["h1"]
    alert_pk = {"own": alert.pk, "none": "", "other_household": town["h2"].pk, "other_township": town["hb"].pk}
    c = client(town["users"]["a"])
    r = c.post(
        f"/people/{alert.person_id}/reveal",
        {"alert": alert_pk[which_alert], "reason_choice": choice, "reason": reason},
        follow=True,
    )
    body = r.content.decode()
    assert message in body and ID_A not in body
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_a_reveal_is_tied_to_its_alert_and_shown_where_the_case_is(town):
    alert = town["h1"]
    r = reveal(client(town["users"]["a"]), alert, "办理救助核对身份", "申请临时救助核对")
    assert r.status_code == 200 and ID_A in r.content.decode()
    event = AuditEvent.objects.get(action="reveal")
    assert (event.alert_id, event.person_id, event.household_id, event.actor.username) == (
        alert.pk,
        alert.person_id,
        alert.household_id,
        "a",
    )
    assert event.comment == "办理救助核对身份：申请临时救助核对"
    for url in (f"/alerts/{alert.pk}/", f"/households/{alert.household_id}/"):
        page = client(town["users"]["a2"]).get(url).content.decode()
        assert "查看完整身份证号" in page and "申请临时救助核对" in page and "王**" in page
        assert ID_A not in page and "王小明" not in page


def test_the_county_sees_every_reveal_of_its_county_masked(town):
    reveal(client(town["users"]["a"]), town["h1"])
    reveal(client(town["users"]["b"]), town["hb"], "跨部门核实信息", "医保结算人员核实")
    r = client(town["users"]["county"]).get("/reveals/")
    page = r.content.decode()
    assert r.status_code == 200
    rows = re.findall(r'<tr data-event="\d+">(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    # newest first: b's reveal of 赵刚, then a's of 王小明; who, township, whom (masked), alert, why
    expected = [
        ("b", "深溪镇", "赵*", "520302********3333", "单次住院自付费用超警戒线 2026-11", "跨部门核实信息：医保结算"),
        ("张三", "老城街道", "王**", "520302********1234", "单次住院自付费用超警戒线 2026-11", "入户时核对户主身份"),
    ]
    for row, texts in zip(rows, expected, strict=True):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert [cells[1], cells[2], cells[3], cells[4], cells[5]] == list(texts[:5]), cells
        assert texts[5] in cells[6] and "MED_OOP_SINGLE" not in row
    assert ID_A not in page and ID_C not in page and "王小明" not in page
    assert client(town["users"]["county"]).get("/reveals/", {"actor": "a"}).content.decode().count("data-event=") == 1
    # nobody else gets the list; another county's officer sees none of this county's reveals
    for who in ("a", "admin"):
        assert client(town["users"][who]).get("/reveals/").status_code == 403
    assert client(town["users"]["other_county"]).get("/reveals/").content.decode().count("data-event=") == 0


def test_reveals_are_limited_per_user_and_day(town, settings, monkeypatch):
    settings.CASEWORK_POLICY = settings.CASEWORK_POLICY.model_copy(
        update={"reveal": settings.CASEWORK_POLICY.reveal.model_copy(update={"daily_limit": 3})}
    )
    c = client(town["users"]["a"])
    codes = [reveal(c, town["h1"]).status_code for _ in range(5)]  # one ID again and again
    assert codes == [200, 200, 200, 429, 429]
    r = reveal(c, town["h2"])  # another person: the limit is the user's
    assert r.status_code == 429 and "今日查看完整身份证号已达上限（3 次）" in r.content.decode()
    assert ID_B not in r.content.decode()
    assert AuditEvent.objects.filter(action="reveal", actor__username="a").count() == 3
    assert reveal(client(town["users"]["a2"]), town["h2"]).status_code == 200  # a colleague has their own
    # the next day, the day before does not count
    tomorrow = timezone.localdate() + timedelta(days=1)
    monkeypatch.setattr(lifecycle.timezone, "localdate", lambda *a: tomorrow)
    assert reveal(c, town["h1"]).status_code == 200


def test_the_reveal_limits_come_from_a_validated_policy(tmp_path):
    from pipelines.core.errors import PolicyError
    from pipelines.policy import DEFAULT_DIR, load_casework_policy

    (tmp_path / "casework.yaml").write_text(
        (DEFAULT_DIR / "casework.yaml").read_text(encoding="utf-8").replace("daily_limit: 20", "daily_limit: 0"),
        encoding="utf-8",
    )
    with pytest.raises(PolicyError, match=r"casework.yaml:\d+: reveal.daily_limit"):
        load_casework_policy(tmp_path)
    # a county's older copy without the new sections still loads, with the shipped defaults
    (tmp_path / "casework.yaml").write_text("version: 1\ndeadline_days: 30\n", encoding="utf-8")
    policy = load_casework_policy(tmp_path)
    assert (policy.login.failure_limit, policy.reveal.daily_limit) == (5, 20)


def test_no_page_with_personal_data_is_cached(town):
    alert = town["h1"]
    c = client(town["users"]["a"])
    county = client(town["users"]["county"])
    answers = {
        "queue": c.get("/"),
        "alert": c.get(f"/alerts/{alert.pk}/"),
        "household": c.get(f"/households/{alert.household_id}/"),
        "household export": c.get(f"/households/{alert.household_id}/export.xlsx"),
        "queue export": c.get("/queue/export.xlsx"),
        "api list": c.get("/api/alerts/"),
        "api alert": c.get(f"/api/alerts/{alert.pk}/"),
        "proposals": c.get("/proposals/"),
        "reveal": reveal(c, alert),
        "reveals": county.get("/reveals/"),
        "404": c.get("/alerts/999999/"),
        "login page": Client().get("/accounts/login/"),
    }
    for what, r in answers.items():
        assert r.status_code in (200, 404), what
        assert "no-store" in r.get("Cache-Control", ""), what
        assert "private" in r["Cache-Control"], what


# ---- 10. the API, assignees, amounts ----------------------------------------------------------------------


def test_the_api_answers_401_to_a_client_not_logged_in(town):
    for url in ("/api/alerts/", f"/api/alerts/{town['h1'].pk}/"):
        r = Client().get(url)
        assert r.status_code == 401 and r.json() == {"error": "未登录或登录已过期，请先登录"}
    r = Client(enforce_csrf_checks=True).post(f"/api/alerts/{town['h1'].pk}/", "{}", content_type="application/json")
    assert r.status_code == 401  # no session: not logged in (before any CSRF check)
    c = Client(enforce_csrf_checks=True)
    c.force_login(town["users"]["a"])
    body = {"to": "assigned", "version": 0}
    assert c.post(f"/api/alerts/{town['h1'].pk}/", body, content_type="application/json").status_code == 403  # CSRF
    assert Alert.objects.get(pk=town["h1"].pk).version == 0
    r = Client().get("/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")  # pages still redirect


def test_an_unknown_and_another_townships_assignee_read_the_same(town):
    alert, county = town["h1"], client(town["users"]["county"])
    answers = {}
    for name in ("b", "nosuch", "admin", "oc"):
        r = county.post(
            f"/api/alerts/{alert.pk}/",
            {"to": "assigned", "version": 0, "assignee": name},
            content_type="application/json",
        )
        answers[name] = (r.status_code, r.content)
    assert len(set(answers.values())) == 1 and answers["b"][0] == 400
    # the page's form too (assignee by id)
    pages = {}
    for pk in (town["users"]["b"].pk, 987654, "x"):
        r = county.post(f"/alerts/{alert.pk}/transition", {"to": "assigned", "version": 0, "assignee": pk}, follow=True)
        pages[pk] = re.findall(r'<li class="error">(.*?)</li>', r.content.decode())
    assert list(pages.values()) == [["没有此经办人"]] * 3
    assert Alert.objects.get(pk=alert.pk).version == 0
    # and the own township's caseworker is assigned
    r = county.post(
        f"/api/alerts/{alert.pk}/", {"to": "assigned", "version": 0, "assignee": "a2"}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["assignee"] == "a2"


@pytest.mark.parametrize(
    ("amount", "stored", "message"),
    [
        ("1500", Decimal("1500.00"), None),
        ("1,500.50", Decimal("1500.50"), None),
        ("2730.5", Decimal("2730.50"), None),
        ("9999999999.99", Decimal("9999999999.99"), None),  # the column's largest
        ("999999999.999", None, "最多保留 2 位小数"),  # was stored as 1,000,000,000.00
        ("1500.005", None, "最多保留 2 位小数"),
        ("0.001", None, "最多保留 2 位小数"),
        ("10000000000", None, "整数部分最多 10 位"),
        ("1e12", None, "整数部分最多 10 位"),
        ("0", None, "金额须大于 0"),
        ("-5", None, "金额须大于 0"),
        ("abc", None, "金额须为数字"),
        ("NaN", None, "金额须为数字"),
        ("", None, "请填写金额"),
    ],
)
def test_amounts_are_validated_not_rounded(town, amount, stored, message):
    c = client(town["users"]["a"])
    r = c.post(f"/alerts/{town['h1'].pk}/propose", {"amount": amount, "reason": "住院自付过高"}, follow=True)
    errors = re.findall(r'<li class="error">(.*?)</li>', r.content.decode())
    if stored is None:
        assert len(errors) == 1 and message in errors[0], errors
        assert not Proposal.objects.exists()
        with pytest.raises(lifecycle.CaseError, match=message):
            lifecycle.parse_amount(amount)
    else:
        assert errors == [] and Proposal.objects.get().amount == stored

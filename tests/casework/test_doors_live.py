"""The doors through ``doudi serve`` (gunicorn, several threads) on both stores: django-axes' tables migrated by
``doudi serve`` and working on SQLite and PostgreSQL, the reveal limit held under parallel requests, the API's 401,
no-store, and ``doudi users add`` refusing a weak password with one line."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import PASSWORD, doudi

from pipelines.policy import DEFAULT_DIR

LIMIT = 3


@pytest.fixture(params=["sqlite", "postgres"])
def server(request, casework_server, tmp_path, monkeypatch):
    policy = tmp_path / "policy"
    shutil.copytree(DEFAULT_DIR, policy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (policy / "casework.yaml").read_text(encoding="utf-8")
    (policy / "casework.yaml").write_text(text.replace("daily_limit: 20", f"daily_limit: {LIMIT}"), encoding="utf-8")
    monkeypatch.setenv("DOUDI_POLICY", str(policy))  # the server's casework.yaml
    db_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return casework_server(db_url=db_url, workers=2, threads=8)


def _post_login(url: str, username: str, password: str) -> requests.Response:
    s = requests.Session()
    s.get(f"{url}/accounts/login/", timeout=60)
    return s.post(
        f"{url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": s.cookies["csrftoken"]},
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=60,
        allow_redirects=False,
    )


def test_doors_on_a_served_store(server):
    url = server.url
    # the login throttle (axes' tables were created by `doudi serve`'s migration)
    codes = [_post_login(url, "a2", "wrong-password").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    locked = _post_login(url, "a2", PASSWORD)
    assert locked.status_code == 429 and "登录失败次数过多" in locked.text
    assert _post_login(url, "b1", PASSWORD).status_code == 302  # another user from the same address

    # the API without a session: 401, not a login page
    r = requests.get(f"{url}/api/alerts/", timeout=60, allow_redirects=False)
    assert r.status_code == 401 and r.json()["error"].startswith("未登录")

    # ten reveals at once with a daily limit of three: exactly three shown, three audit rows
    s = server.login("a1")
    alerts = s.get(f"{url}/api/alerts/", timeout=60).json()["results"]
    alert = next(a for a in alerts if a["subject_id"])
    page = s.get(f"{url}/alerts/{alert['id']}/", timeout=60)
    assert "no-store" in page.headers["Cache-Control"]
    person = re.search(r'action="/people/(\d+)/reveal"', page.text).group(1)
    form = {"alert": alert["id"], "reason_choice": "入户核查核对身份", "reason": "入户时核对户主身份"}

    def one(_):
        return s.post(f"{url}/people/{person}/reveal", data=form, timeout=120).status_code

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(one, range(10)))
    assert sorted(codes) == [200] * LIMIT + [429] * (10 - LIMIT), codes
    page = s.get(f"{url}/alerts/{alert['id']}/", timeout=60).text
    assert page.count("入户时核对户主身份") == LIMIT  # the alert's history shows each reveal
    county = server.login("county").get(f"{url}/reveals/", timeout=60)
    assert county.status_code == 200 and county.text.count("data-event=") == LIMIT

    # doudi users add refuses a weak password with one line, no traceback
    done = doudi(
        "users", "add", "clerk9", "--role", "caseworker", "--township", server.users["a1"]["township"],
        "--password-stdin", db_url=server.db_url, stdin="12345678\n", check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "只包含数字" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr

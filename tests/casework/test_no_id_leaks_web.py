"""The caseworkers' pages, API and workbooks carry no full ID number (in-process, SQLite): only the
reveal action shows one. Record keys in evidence (家庭编号|身份证号, certificate numbers) are masked when
the night publishes them (``mask_ids_in``), the people's IDs by ``mask_id``."""

from __future__ import annotations

import re
import shutil
import zipfile
from io import BytesIO

import pytest
from conftest import AS_OF
from django.test import Client

from pipelines.core.idcard import is_valid
from pipelines.core.warehouse import open_warehouse
from pipelines.policy import load_policy
from webapp.casework.models import Alert, Role, User
from webapp.casework.publish import publish_night

pytestmark = pytest.mark.django_db
_WINDOW = re.compile(r"(?=([0-9]{17}[0-9X]))")


def valid_ids(text: str) -> set[str]:
    return {m.group(1) for m in _WINDOW.finditer(text) if is_valid(m.group(1))}


def _text(response) -> str:
    assert response.status_code == 200, response
    body = response.content
    if body[:2] == b"PK":  # a workbook: its XML parts
        with zipfile.ZipFile(BytesIO(body)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    return body.decode("utf-8", "replace")


def test_no_page_api_or_workbook_carries_a_full_id(county_warehouse, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(county_warehouse, path)
    with open_warehouse(path) as con:
        con.execute("begin transaction")
        publish_night(con, AS_OF, load_policy())
        con.execute("commit")
    admin = User.objects.create_user("admin", password="leak-test-pw-1", role=Role.ADMIN)
    c = Client()
    c.force_login(admin)
    # an alert of every rule, with evidence citing keys of every feed
    alerts: list[Alert] = []
    seen: set[str] = set()
    for a in Alert.objects.order_by("rule_id", "alert_id"):
        if a.rule_id not in seen:
            seen.add(a.rule_id)
            alerts.append(a)
    assert len(alerts) >= 10
    urls = ["/?status=all", "/queue/export.xlsx?status=all", "/api/alerts/?status=all", "/proposals/"]
    for a in alerts:
        urls += [f"/alerts/{a.pk}/", f"/api/alerts/{a.pk}/", f"/households/{a.household_id}/",
                 f"/households/{a.household_id}/export.xlsx"]  # fmt: skip
    leaks = {url: found for url in urls if (found := valid_ids(_text(c.get(url))))}
    assert not leaks, leaks
    # the scan is not blind: a county officer's reveal (with a reason) shows the ID it is asked for
    alert = next(a for a in alerts if a.person is not None)
    officer = User.objects.create_user(
        "county", password="leak-test-pw-1", role=Role.COUNTY, county_code=alert.township.county_code
    )
    c.force_login(officer)
    form = {"alert": alert.pk, "reason_choice": "入户核查核对身份", "reason": "入户核对身份"}
    revealed = _text(c.post(f"/people/{alert.person.pk}/reveal", form))
    assert valid_ids(revealed) == {alert.person.id_number}

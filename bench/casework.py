"""Benchmark: page times of the casework application on a township with 10,000 open alerts.

Creates a casework store (SQLite by default, or PostgreSQL), migrates it, fills one township with synthetic
households, people and open alerts through the ORM (``bulk_create``), creates a caseworker of that township and
a county officer, then times the pages with Django's test client (in process: no network, no gunicorn):
the queue (first page, filtered by rule, overdue only, page 100), the JSON list, the XLSX export of the whole
queue, an alert page and a household page. Median and p95 of ``--repeat`` requests each, in milliseconds.

    .venv/bin/python bench/casework.py                        # SQLite file in a temporary directory
    .venv/bin/python bench/casework.py --db postgresql://user:pw@127.0.0.1:5432/db   # an empty database
    .venv/bin/python bench/casework.py --pg                   # a throwaway database on the local PostgreSQL 15
                                                              # (started with pg_ctlcluster; needs root)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COUNTY = "520302"
TOWNSHIP = COUNTY + "001"
AS_OF = date(2026, 11, 20)


def _psql(sql: str, db: str = "postgres") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", db, "-c", sql],
        capture_output=True,
        text=True,
        timeout=120,
    )


def local_postgres() -> tuple[str, str]:
    """A fresh role and database on the local PostgreSQL 15 (cluster started if needed): (url, name)."""
    if shutil.which("pg_ctlcluster") is None or shutil.which("runuser") is None:
        sys.exit("--pg needs pg_ctlcluster and runuser (PostgreSQL 15 installed, run as root)")
    if _psql("select 1").returncode != 0:
        started = subprocess.run(["pg_ctlcluster", "15", "main", "start"], capture_output=True, text=True, timeout=120)
        if started.returncode != 0 and "already running" not in started.stderr:
            sys.exit(f"cannot start PostgreSQL: {started.stderr.strip()}")
        for _ in range(60):
            if _psql("select 1").returncode == 0:
                break
            time.sleep(0.5)
    port = _psql("show port").stdout.strip() or "5432"
    name, password = f"doudi_bench_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    for sql in (f"create role {name} login password '{password}'", f"create database {name} owner {name}"):
        done = _psql(sql)
        if done.returncode != 0:
            sys.exit(done.stderr.strip())
    return f"postgresql://{name}:{password}@127.0.0.1:{port}/{name}", name


def drop_local_postgres(name: str) -> None:
    from django.db import connections

    connections.close_all()
    _psql(f"drop database if exists {name} with (force)")
    _psql(f"drop role if exists {name}")


def fill(n_alerts: int, seed: int = 7) -> dict:
    """One township of synthetic households (two people each) and ``n_alerts`` open alerts, one per person."""
    from django.db import transaction

    from webapp.casework.models import Alert, Household, Person, RegionYear, Role, Township, User
    from webapp.casework.rules import RULE_NAMES

    rng = random.Random(seed)
    rules = sorted(RULE_NAMES)
    villages = [f"第{i}村" for i in range(1, 21)]
    with transaction.atomic():
        township = Township.objects.create(code=TOWNSHIP, name="测试镇", county_code=COUNTY)
        other = Township.objects.create(code=COUNTY + "002", name="邻镇", county_code=COUNTY)
        RegionYear.objects.create(
            county_code=COUNTY,
            year=AS_OF.year,
            dibao_standard_urban_monthly=Decimal("910"),
            township_multiple_of_urban_dibao=Decimal("3"),
            county_bureau_max=Decimal("15000"),
        )
        n_households = (n_alerts + 1) // 2
        Household.objects.bulk_create(
            [
                Household(
                    key=f"CA:{COUNTY}{h:08d}",
                    household_code=f"{COUNTY}{h:08d}",
                    category=rng.choice(["低保", "特困", "低边", ""]),
                    township=township,
                    village=rng.choice(villages),
                    region_code=TOWNSHIP + "201",
                    members=2,
                    score=Decimal(rng.randint(0, 9000)) / 100,
                    score_parts={"rules": 10, "category": 5},
                    last_night=AS_OF,
                )
                for h in range(n_households)
            ],
            batch_size=2000,
        )
        households = list(Household.objects.filter(township=township).order_by("pk").values_list("pk", "village"))
        Person.objects.bulk_create(
            [
                Person(
                    person_id=1_000_000 + p,
                    household_id=households[p // 2][0],
                    id_number=f"{COUNTY}19{50 + p % 50:02d}0101{p % 10000:04d}"[:18],
                    name=f"测试{p}",
                    sex="男" if p % 2 else "女",
                    birth_date=date(1950 + p % 50, 1 + p % 12, 1 + p % 28),
                    relation="户主" if p % 2 == 0 else "配偶",
                    township=township,
                    last_night=AS_OF,
                )
                for p in range(n_alerts)
            ],
            batch_size=2000,
        )
        people = list(Person.objects.filter(township=township).order_by("pk").values_list("pk", "household_id"))
        alerts = []
        for i, (person_pk, household_pk) in enumerate(people[:n_alerts]):
            raised = AS_OF - timedelta(days=rng.randint(0, 60))
            alerts.append(
                Alert(
                    alert_id=f"bench{i:010d}",
                    rule_id=rules[i % len(rules)],
                    rule_version=1,
                    subject_type="person",
                    person_id=person_pk,
                    household_id=household_pk,
                    township=township,
                    village=households[i // 2][1],
                    period=f"{AS_OF.year}-{1 + i % 11:02d}",
                    figure=Decimal(rng.randint(1000, 90000)),
                    threshold=Decimal("20000"),
                    condition="open",
                    first_raised_on=raised,
                    last_seen_on=AS_OF,
                    evidence=[
                        {
                            "feed": "medical",
                            "source_file": f"medical_{AS_OF:%Y%m}.csv",
                            "row_number": i + 2,
                            "record_key": f"M{i:08d}",
                            "method": "exact",
                            "score": 1.0,
                            "amount": str(rng.randint(1000, 90000)),
                        },
                        {
                            "feed": "civil",
                            "source_file": "roster.csv",
                            "row_number": i + 2,
                            "record_key": f"R{i:08d}",
                            "method": "probabilistic",
                            "score": 0.97,
                        },
                    ],
                    score=Decimal(rng.randint(0, 9000)) / 100,
                    last_night=AS_OF,
                    deadline=raised + timedelta(days=30),  # about half of them past due
                )
            )
        Alert.objects.bulk_create(alerts, batch_size=2000)
        caseworker = User.objects.create_user("bench-cw", password=None, role=Role.CASEWORKER, township=township)
        county = User.objects.create_user("bench-county", password=None, role=Role.COUNTY, county_code=COUNTY)
    first = Alert.objects.filter(township=township).order_by("-score", "pk").first()
    return {
        "caseworker": caseworker,
        "county": county,
        "alert": first.pk,
        "household": first.household_id,
        "rule": first.rule_id,
        "other_township": other.pk,
    }


def measure(client, path: str, repeat: int) -> tuple[float, float, int]:
    times = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        content = response.content
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, content[:300])
        size = len(content)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", help="an empty casework store URL (default: a SQLite file in a temporary directory)")
    where.add_argument("--pg", action="store_true", help="a throwaway database on the local PostgreSQL 15")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="doudi-bench-casework-")
    pg_name = None
    if args.pg:
        url, pg_name = local_postgres()
    else:
        url = args.db or f"sqlite:///{Path(tmp.name) / 'casework.sqlite3'}"
    os.environ.setdefault("DOUDI_SECRET_KEY", "bench-only-secret-key-" + uuid.uuid4().hex)
    os.environ.setdefault("DOUDI_LOG_LEVEL", "WARNING")

    import webapp

    webapp.setup(url)
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # ALLOWED_HOSTS gets "testserver"; no e-mail, no template debug
    try:
        started = time.perf_counter()
        webapp.migrate()
        migrated = time.perf_counter()
        ids = fill(args.alerts)
        filled = time.perf_counter()
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("analyze")
        version = connection.Database.sqlite_version if connection.vendor == "sqlite" else connection.pg_version
        vendor = f"{connection.vendor} {version}"
        print(
            f"store: {vendor} ({url.split('@')[-1] if '@' in url else url}); migrate {migrated - started:.1f} s, "
            f"fill {args.alerts:,} alerts {filled - migrated:.1f} s; {args.repeat} requests per page\n"
        )

        caseworker, county = Client(), Client()
        caseworker.force_login(ids["caseworker"])
        county.force_login(ids["county"])
        pages = [
            ("queue, first page", caseworker, "/"),
            ("queue, filtered by rule", caseworker, f"/?rule={ids['rule']}"),
            ("queue, overdue only", caseworker, "/?overdue=1"),
            ("queue, page 100", caseworker, "/?page=100"),
            ("queue, first page (county)", county, "/"),
            ("API list, first page", caseworker, "/api/alerts/"),
            ("API list, page 50", caseworker, "/api/alerts/?page=50"),
            (f"queue XLSX export ({args.alerts:,})", caseworker, "/queue/export.xlsx"),
            ("alert page", caseworker, f"/alerts/{ids['alert']}/"),
            ("API alert", caseworker, f"/api/alerts/{ids['alert']}/"),
            ("household page", caseworker, f"/households/{ids['household']}/"),
        ]
        print(f"{'page':<36} {'median ms':>10} {'p95 ms':>10} {'bytes':>12}")
        for label, client, path in pages:
            client.get(path)  # warm: templates compiled, connection open
            median, p95, size = measure(client, path, args.repeat)
            print(f"{label:<36} {median:>10.1f} {p95:>10.1f} {size:>12,}")
    finally:
        if pg_name:
            drop_local_postgres(pg_name)
        tmp.cleanup()


if __name__ == "__main__":
    main()

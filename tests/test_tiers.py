"""The test infrastructure: every test's tier from its marks and fixtures, the order xdist queues the
groups in, and a generated county built once however many workers ask for it at the same time."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest
from generated import Generated, shared_root
from tiers import LONG_FIRST, TierError, examples, queue_order, tier_marks


@pytest.mark.parametrize(
    ("marks", "fixtures", "expected"),
    [
        (set(), {"tmp_path"}, {"unit"}),
        ({"parametrize"}, set(), {"parametrize", "unit"}),
        ({"slow"}, set(), {"slow", "unit"}),
        ({"e2e"}, set(), {"e2e"}),
        (set(), {"generated"}, {"e2e"}),
        (set(), {"county_warehouse", "casework_server"}, {"integration"}),  # integration outranks e2e
        (set(), {"postgres_url"}, {"integration", "postgres"}),
        ({"airflow"}, set(), {"airflow", "integration"}),
        ({"browser", "slow"}, {"generated"}, {"browser", "integration", "slow"}),
        ({"remote"}, {"postgres_server"}, {"remote", "postgres", "integration"}),
        ({"property", "slow"}, {"generated"}, {"property", "slow", "e2e"}),
    ],
)
def test_every_test_gets_exactly_one_tier(marks, fixtures, expected):
    got = tier_marks(marks, fixtures)
    assert got == expected
    assert len(got & {"unit", "e2e", "integration"}) == 1


@pytest.mark.parametrize(
    "marks", [{"unit", "e2e"}, {"e2e", "integration"}, {"e2e", "browser"}, {"unit", "postgres"}]
)
def test_two_tiers_on_one_test_is_refused(marks):
    with pytest.raises(TierError, match="two tiers"):
        tier_marks(marks, set())


def test_groups_are_queued_long_first_then_by_tier_then_as_collected():
    collected = [
        ("tests/test_a.py", "unit"),
        ("tests/test_b.py", "e2e"),
        ("tests/test_a.py", "unit"),
        ("tests/test_c.py", "unit"),
        ("tests/test_c.py", "integration"),  # one integration test makes the group an integration group
        (LONG_FIRST[1], "e2e"),
        (LONG_FIRST[0], "integration"),
        ("tests/test_d.py", "e2e"),
    ]
    assert queue_order(collected) == [
        LONG_FIRST[0],
        LONG_FIRST[1],
        "tests/test_c.py",
        "tests/test_b.py",
        "tests/test_d.py",
        "tests/test_a.py",
    ]


def test_the_shared_folder_is_the_workers_common_parent(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert shared_root(tmp_path / "popen-gw1") == tmp_path / "doudi-generated"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert shared_root(tmp_path) == tmp_path / "doudi-generated"


def _ask(root: str, log: str) -> str:
    """One worker asking for the same folder: the build is slow and leaves a line in ``log``."""

    def build(out: Path) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.0)  # long enough that the other worker asks while this one builds
        (out / "landing").mkdir()
        (out / "landing" / "file.csv").write_text("a,b\n", encoding="utf-8")

    return str(Generated(Path(root))._build_once("county-x", build))


def test_a_county_asked_for_by_several_workers_at_once_is_built_once(tmp_path):
    log = tmp_path / "builds.log"
    with multiprocessing.get_context("fork").Pool(3) as pool:
        folders = pool.starmap(_ask, [(str(tmp_path / "shared"), str(log))] * 3)
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1
    assert set(folders) == {str(tmp_path / "shared" / "county-x")}
    assert (tmp_path / "shared" / "county-x" / "landing" / "file.csv").read_text(encoding="utf-8") == "a,b\n"
    assert not (tmp_path / "shared" / "county-x.partial").exists()


def test_copies_are_the_tests_own(tmp_path, monkeypatch):
    shared = Generated(tmp_path / "shared")

    def build(out: Path) -> None:
        for part in ("landing", "truth"):
            (out / part).mkdir()
            (out / part / "f.csv").write_text(part, encoding="utf-8")

    folder = shared._build_once("county-x", build)
    monkeypatch.setattr(Generated, "county", lambda self, *args, **kwargs: folder)  # not generated: built above
    out = shared.copy_county(tmp_path / "mine", persons=700, seed=1, as_of=None)
    (out / "landing" / "f.csv").write_text("changed", encoding="utf-8")
    assert (folder / "landing" / "f.csv").read_text(encoding="utf-8") == "landing"
    assert (out / "truth" / "f.csv").read_text(encoding="utf-8") == "truth"


@pytest.mark.parametrize(("env", "expected"), [(None, 1), ("", 1), ("fewer", 1), ("full", 60)])
def test_property_tests_run_all_their_examples_only_in_the_property_lane(monkeypatch, env, expected):
    if env is None:
        monkeypatch.delenv("DOUDI_PROPERTY", raising=False)
    else:
        monkeypatch.setenv("DOUDI_PROPERTY", env)
    assert examples(full=60, fewer=1) == expected

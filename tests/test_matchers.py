"""Names, and the probabilistic matcher on hand-built neighbours with known answers."""

from __future__ import annotations

from datetime import date

import pytest
from factory import make_id, registry_row, settlement_row, write_csv
from typer.testing import CliRunner

from matchers.names import fold, pinyin
from pipelines.cli import app
from pipelines.core.idcard import check_char
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night


@pytest.mark.parametrize(
    ("raw", "folded", "py"),
    [
        ("张三", "张三", "zhangsan"),
        ("張 三", "张三", "zhangsan"),
        ("曾凡强", "曾凡强", "zengfanqiang"),  # surname reading, not ceng
        ("单田芳", "单田芳", "shantianfang"),
        ("解小东", "解小东", "xiexiaodong"),
        ("歐陽娜娜", "欧阳娜娜", "ouyangnana"),  # traditional compound surname
        ("司马\u3000光", "司马光", "simaguang"),
        ("张立华", "张立华", "zhanglihua"),  # homophone of 张丽华
        ("張麗華", "张丽华", "zhanglihua"),
    ],
)
def test_names(raw, folded, py):
    assert fold(raw) == folded
    assert pinyin(fold(raw)) == py


def typo(id_number: str, pos: int = 14) -> str:  # a sequence digit: the neighbours stay real IDs
    return id_number[:pos] + str((int(id_number[pos]) + 1) % 10) + id_number[pos + 1 :]


def check_neighbour(bad: str) -> str:
    """The valid ID one substitution (the check character) away from an invalid one."""
    return bad[:17] + check_char(bad[:17])


A = make_id("520302", "19700101", "011")
B = make_id("520302", "19800202", "021")
D = make_id("520302", "19900303", "031")
E = make_id("520302", "19850505", "041")
T_A = typo(A)  # a mistyped A: its neighbours are A and check_neighbour(T_A)
T_D = typo(D)
T_E = typo(E)
C = check_neighbour(T_A)  # another real person one substitution away from the typo
F = check_neighbour(T_E)


@pytest.fixture
def county(tmp_path):
    landing = tmp_path / "landing"
    write_csv(
        landing,
        "household_registry",
        "2026-11-01",
        [
            registry_row(A, "张丽华", "H1", sex="女"),
            registry_row(C, "王建国", "H2", sex="男"),
            registry_row(B, "欧阳娜娜", "H3"),
            registry_row(D, "李四", "H4"),
            registry_row(E, "赵敏", "H5"),
            registry_row(F, "赵敏", "H6"),
        ],
    )
    swapped_b = B[:12] + B[13] + B[12] + B[13 + 1 :] if B[12] != B[13] else typo(B, 12)
    rows = [
        settlement_row("S1", T_A, "张立华", "100.00"),  # homophone + typo -> A, not C
        settlement_row("S2", swapped_b, "歐陽 娜娜", "100.00"),  # traditional + swap -> B
        settlement_row("S3", T_D, "周杰", "100.00"),  # the only neighbour is someone else entirely
        settlement_row("S4", T_E, "赵敏", "100.00"),  # two neighbours with the same name: review
    ]
    # the model learns from exact links: give it some department rows with valid IDs
    rows += [
        settlement_row(f"X{i}", make_id("520302", "19600101", f"{100 + i:03d}"), f"甲{i}", "1.00") for i in range(30)
    ]
    write_csv(
        landing,
        "household_registry",
        "2026-11-02",
        [registry_row(make_id("520302", "19600101", f"{100 + i:03d}"), f"甲{i}", f"HX{i}") for i in range(30)],
        name="more.csv",
    )
    write_csv(landing, "medical_settlements", "2026-11-02", rows)
    return landing, tmp_path / "w.duckdb"


def _links(wh):
    with open_warehouse(wh) as con:
        rows = con.execute(
            "select r.record_key, k.id_number, r.method from int.row_link r left join int.person_key k "
            "using (person_id) where r.feed = 'medical_settlements' and r.record_key like 'S%'"
        ).fetchall()
        review = con.execute("select count(distinct row_number), count(*) from int.link_review").fetchall()[0]
    return {k: (i, m) for k, i, m in rows}, review


def test_probabilistic_links_only_when_the_evidence_says_so(county):
    landing, wh = county
    run_night(landing, date(2026, 11, 2), wh)
    links, (review_rows, review_pairs) = _links(wh)
    assert links["S1"] == (A, "probabilistic")
    assert links["S2"] == (B, "probabilistic")
    assert links["S3"] == (None, None)  # 周杰 is not 李四: no link, no merge
    assert links["S4"] == (None, None)  # 赵敏 or 赵敏? a person decides
    assert (review_rows, review_pairs) == (1, 2)


def test_explain_and_decisions_are_remembered(county):
    landing, wh = county
    run_night(landing, date(2026, 11, 2), wh)
    runner = CliRunner()
    r = runner.invoke(app, ["links", "explain", "medical_settlements:S1", "--warehouse", str(wh)])
    assert r.exit_code == 0, r.output
    assert "by probabilistic" in r.output and "name: homophone" in r.output and "probability" in r.output
    assert A not in r.output  # masked
    r = runner.invoke(app, ["links", "review", "--out", str(wh.parent / "review.csv"), "--warehouse", str(wh)])
    assert r.exit_code == 0 and "已写出 2 对待人工核对的匹配" in r.output
    with open_warehouse(wh) as con:
        person_f = con.execute("select person_id from int.person_key where id_number = ?", [F]).fetchall()[0][0]
        person_a = con.execute("select person_id from int.person_key where id_number = ?", [A]).fetchall()[0][0]
        key_s4 = con.execute(
            "select source_file || '#' || row_number from int.row_link where record_key = 'S4'"
        ).fetchall()[0][0]
    assert (
        runner.invoke(
            app,
            ["links", "confirm", key_s4, "--person-id", str(person_f), "--by", "县数据专员", "--warehouse", str(wh)],
        ).exit_code
        == 0
    )
    assert (
        runner.invoke(
            app, ["links", "reject", "medical_settlements:S1", "--person-id", str(person_a), "--warehouse", str(wh)]
        ).exit_code
        == 0
    )
    run_night(landing, date(2026, 11, 3), wh)
    links, _ = _links(wh)
    assert links["S4"] == (F, "confirmed")
    assert links["S1"][0] != A  # rejected: never again this person
    with open_warehouse(wh) as con:
        history = con.execute("select method, valid_to from int.link_history").fetchall()
    assert history == [("probabilistic", date(2026, 11, 3))]
    with open_warehouse(wh) as con:
        spells = con.execute(
            "select method, valid_from, valid_to from int.person_link where person_id = ? and feed = "
            "'medical_settlements'",
            [person_a],
        ).fetchall()
    assert ("probabilistic", date(2026, 11, 2), date(2026, 11, 3)) in spells
    with open_warehouse(wh) as con:  # one link per row, decisions and all (int.link declares no key)
        twice = con.execute(
            "select count(*) from (select 1 from int.link group by feed, delivery_id, row_number having count(*) > 1)"
        ).fetchall()[0][0]
    assert twice == 0


def test_a_valid_id_nobody_has_is_a_new_person_and_a_namesake_goes_to_review(tmp_path):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    # two sequence digits changed and the check character recomputed: a valid ID nobody has
    body = A[:14] + str((int(A[14]) + 1) % 10) + str((int(A[15]) + 1) % 10) + A[16]
    other = body + check_char(body)
    assert other != A
    write_csv(landing, "household_registry", "2026-11-01", [registry_row(A, "张丽华", "H1", sex="女")])
    write_csv(landing, "medical_settlements", "2026-11-02", [settlement_row("S1", other, "张丽华", "100.00")])
    run_night(landing, date(2026, 11, 2), wh)
    links, (review_rows, _) = _links(wh)
    assert links["S1"] == (other, "exact")  # a new person: never merged by the model
    assert review_rows == 1  # but a data officer sees the namesake two digits away


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("张丽华", "张立华", True),
        ("许博长", "许波长", True),  # 长 read chang in 波长 and zhang after 博: any reading counts
        ("高长博", "高长波", True),
        ("王建国", "诸葛晓梅", False),
        ("刘立", "刘立国", False),
        ("陈国华", "陈国强", False),
    ],
)
def test_homophones_compare_each_character_by_any_reading(a, b, same):
    from matchers.names import homophones

    assert homophones(a, b) is same


def test_compare_levels_in_sql_on_pairs_with_known_answers(tmp_path):
    """Each comparison's level for hand-built pairs: folded alike, read alike, pinyin Jaro-Winkler on
    either side of ``pinyin_close`` (0.88: zhanglihui 0.96, zhangwei 0.87 from zhanglihua), a side missing."""
    from matchers.probabilistic import compare, load_settings
    from pipelines.core.warehouse import connect

    con = connect(tmp_path / "w.duckdb")  # the warehouse's schema (int.name_reading, meta.build)
    born = date(1980, 1, 2)
    rows = [  # row number, delivered name, birth, sex; person: name, birth, sex; expected levels
        (1, "張麗華", born, "F", "张丽华", born, "F", ("exact", "same", "same")),
        (2, "张立华", born, "F", "张丽华", date(1980, 1, 3), "F", ("homophone", "different", "same")),
        (3, "张丽辉", None, "M", "张丽华", born, "F", ("close", None, "different")),
        (4, "张伟", born, None, "张丽华", born, "F", ("different", "same", None)),
        (5, "王建国", born, "F", "张丽华", born, "F", ("different", "same", "same")),
        (6, "·", born, "F", "张丽华", born, "F", (None, "same", "same")),  # folds to nothing
    ]
    # the columns compare reads of the rows and persons linkage builds
    con.execute("create table int.feed_row (feed varchar, delivery_id int, row_number bigint, name_norm varchar, "
                "birth_date date, sex varchar)")
    con.execute("create table int.person (person_id bigint, name varchar, birth_date date, sex varchar)")
    con.execute("create temp table link_candidate (feed varchar, delivery_id int, row_number bigint, "
                "person_id bigint, block varchar)")
    for n, name, birth, sex, p_name, p_birth, p_sex, _ in rows:
        con.execute("insert into int.feed_row values ('medical_settlements', 1, ?, ?, ?, ?)", [n, name, birth, sex])
        con.execute("insert into int.person values (?, ?, ?, ?)", [100 + n, p_name, p_birth, p_sex])
        con.execute("insert into link_candidate values ('medical_settlements', 1, ?, ?, 'birth_area')", [n, 100 + n])
    compare(con, load_settings())
    got = con.execute("select row_number, name, birth, sex from link_compared order by row_number").fetchall()
    assert got == [(n, *levels) for n, *_, levels in rows]
    # each of the 7 distinct names (six delivered, one person's) read once and kept; a second
    # comparison reads none again
    assert con.execute("select count(*), count(distinct name) from int.name_reading").fetchall() == [(7, 7)]
    compare(con, load_settings())
    assert con.execute("select count(*) from int.name_reading").fetchall() == [(7,)]

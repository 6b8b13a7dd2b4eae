"""The night's townships, region figures, households, people and memberships, upserted into the store
(the night owns them all)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pandas as pd

from pipelines.policy import Policy
from webapp.casework.models import Household, Member, Person, RegionYear, Township

__all__ = ["StoreKeys", "upsert_people"]


@dataclass(frozen=True)
class StoreKeys:
    """The store's primary keys of what the night published, by the warehouse's keys."""

    township: dict[str, int]
    household: dict[str, int]
    person: dict[int, int]


def _none(value):
    """pandas' missing values as None for the ORM."""
    return None if value is None or value != value else value  # NaN/NaT != itself


def upsert_people(
    townships: pd.DataFrame,
    households: pd.DataFrame,
    people: pd.DataFrame,
    members: pd.DataFrame,
    as_of: date,
    policy: Policy,
) -> StoreKeys:
    """Upsert the night's townships, region years, households and people, and replace the members of
    every household published tonight; inside the caller's transaction."""
    Township.objects.bulk_create(
        [Township(code=r.code, name=r.name or r.code, county_code=r.code[:6]) for r in townships.itertuples()],
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name", "county_code"],
    )
    township_pk = dict(Township.objects.values_list("code", "pk"))

    RegionYear.objects.bulk_create(
        [
            RegionYear(
                county_code=code,
                year=year,
                # a figure the county's file leaves out: the default the night used too
                dibao_standard_urban_monthly=Decimal(
                    str(policy.figures(code, year).values["dibao_standard_urban_monthly"])
                ),
                township_multiple_of_urban_dibao=Decimal(str(y.approval_tiers["township_multiple_of_urban_dibao"])),
                county_bureau_max=Decimal(str(y.approval_tiers["county_bureau_max"])),
            )
            for code, region in policy.regions.items()
            for year, y in region.years.items()
        ]
        # a county of the night's townships without its own region file: the night's year on the
        # dated defaults the rules used too (region_defaults.yaml), so that its proposals get a tier
        + [
            RegionYear(
                county_code=code,
                year=as_of.year,
                dibao_standard_urban_monthly=Decimal(
                    str(policy.figures(code, as_of.year).values["dibao_standard_urban_monthly"])
                ),
                township_multiple_of_urban_dibao=Decimal(
                    str(policy.region_defaults.approval_tiers["township_multiple_of_urban_dibao"])
                ),
                county_bureau_max=Decimal(str(policy.region_defaults.approval_tiers["county_bureau_max"])),
            )
            for code in sorted({c[:6] for c in townships["code"]} - set(policy.regions))
        ],
        update_conflicts=True,
        unique_fields=["county_code", "year"],
        update_fields=["dibao_standard_urban_monthly", "township_multiple_of_urban_dibao", "county_bureau_max"],
    )

    Household.objects.bulk_create(
        [
            Household(
                key=r.key,
                household_code=r.household_code,
                hukou_number=r.hukou_number,
                category=r.category,
                township_id=township_pk[r.township_code],
                village=r.village,
                region_code=r.region_code,
                members=int(r.members),
                score=Decimal(str(r.score)),
                score_parts=json.loads(r.score_parts),
                last_night=as_of,
            )
            for r in households.itertuples()
            if r.township_code in township_pk
        ],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=[
            "household_code",
            "hukou_number",
            "category",
            "township",
            "village",
            "region_code",
            "members",
            "score",
            "score_parts",
            "last_night",
        ],  # fmt: skip
    )
    household_pk = dict(Household.objects.values_list("key", "pk"))

    Person.objects.bulk_create(
        [
            Person(
                person_id=int(r.person_id),
                household_id=household_pk.get(r.household_key),
                id_number=r.id_number,
                name=r.name,
                sex=r.sex,
                birth_date=_none(r.birth_date),
                relation=r.relation,
                category=r.category,
                township_id=township_pk[r.township_code],
                last_night=as_of,
            )
            for r in people.itertuples()
            if r.township_code in township_pk
        ],
        update_conflicts=True,
        unique_fields=["person_id"],
        update_fields=[
            "household",
            "id_number",
            "name",
            "sex",
            "birth_date",
            "relation",
            "category",
            "township",
            "last_night",
        ],
    )
    person_pk = dict(Person.objects.values_list("person_id", "pk"))

    # membership is the night's to say: replaced for every household published tonight
    Member.objects.filter(household_id__in=[household_pk[k] for k in households["key"] if k in household_pk]).delete()
    Member.objects.bulk_create(
        [
            Member(
                household_id=household_pk[r.household_key],
                person_id=person_pk[int(r.person_id)],
                relation=r.relation,
                category=r.category,
            )
            for r in members.itertuples()
            if r.household_key in household_pk and int(r.person_id) in person_pk
        ]
    )
    return StoreKeys(township_pk, household_pk, person_pk)

"""What the publish step reads from the night's warehouse: the households and people the store needs
(those with an alert, and their current members), the alerts, and the links behind their evidence."""

from __future__ import annotations

__all__ = ["HOUSEHOLDS", "PEOPLE", "ALERTS", "ALERT_BATCH", "MEMBERS", "EXPLAIN"]

# the households and people the casework store needs: those with an alert, and their current members
HOUSEHOLDS = """
    with keyed as (
        select coalesce(household_key, 'P:' || person_id) as key, region_code, township, first_raised_on
        from marts.alert
    ),
    home as (  -- the household's township and village: where its latest alert was routed
        select key, arg_max(region_code, (first_raised_on, region_code, township)) as region_code,
               arg_max(township, (first_raised_on, region_code, township)) as township
        from keyed group by key
    ),
    village as (
        select household_key as key, region_code, min(village) as village
        from int.household_member where valid_to is null and village is not null group by all
    ),
    final as (
        select h.key,
               coalesce(hp.household_code, case when h.key like 'CA:%' then substr(h.key, 4) end, '') as household_code,
               coalesce(case when h.key like 'HK:%' then substr(h.key, 4) end, '') as hukou_number,
               coalesce(hp.category, '') as category,
               left(h.region_code, 9) as township_code, h.township as township_name,
               coalesce(v.village, '') as village, coalesce(h.region_code, '') as region_code,
               coalesce(hp.members, 0) as members, coalesce(hp.score, 0) as score,
               json_object('rules', hp.rule_points, 'category', hp.category_points, 'members', hp.member_points,
                           'age', hp.age_points, 'signals', hp.signals) as score_parts
        from home h
        left join marts.household_profile hp on hp.household_key = h.key
        left join village v on v.key = h.key and v.region_code = h.region_code
    )
    select * from final
"""

PEOPLE = """
    with wanted as (
        select person_id, household_key as key, relation, category from int.household_member
        where valid_to is null and household_key in (select key from published_household)
        union all
        select person_id, 'P:' || person_id, null, null from marts.alert where household_key is null
        union all
        select a.person_id, a.household_key, null, null from marts.alert a where a.person_id is not null
    ),
    one as (
        select person_id, arg_max(key, (relation is not null, key)) as key, max(relation) as relation,
               max(category) as category
        from wanted where person_id is not null group by person_id
    ),
    final as (
        select o.person_id, o.key as household_key, p.id_number, coalesce(p.name, '') as name,
               coalesce(p.sex, '') as sex, p.birth_date, coalesce(o.relation, '') as relation,
               coalesce(o.category, p.category, '') as category,
               left(coalesce(ph.region_code, p.region_code), 9) as township_code
        from one o join int.person p using (person_id)
        left join published_household ph on ph.key = o.key
    )
    select * from final where township_code is not null and id_number is not null
"""

ALERTS = """
    with village as (
        select region_code, min(village) as village from int.household_member
        where village is not null group by region_code
    )
    select a.alert_id, a.rule_id, a.rule_version, a.subject_type, a.person_id,
           coalesce(a.household_key, 'P:' || a.person_id) as household_key,
           left(a.region_code, 9) as township_code, coalesce(v.village, '') as village, a.period,
           a.figure, a.threshold, a.status, a.first_raised_on, a.last_seen_on, a.cleared_on,
           mask_ids_in(a.evidence::varchar) as evidence, coalesce(a.evidence_omitted, 0) as evidence_omitted,
           coalesce(hp.score, 0) as score
    from marts.alert a
    left join marts.household_profile hp on hp.household_key = coalesce(a.household_key, 'P:' || a.person_id)
    left join village v on v.region_code = a.region_code
    where a.region_code is not null
    order by a.alert_id
"""
# alerts are read from the warehouse and written to the store this many at a time: a county's alerts
# (and an alert's evidence, up to delivery.yaml max_evidence_items rows) never sit in memory at once
ALERT_BATCH = 500

MEMBERS = """
    select household_key, person_id, coalesce(min(relation), '') as relation,
           coalesce(min(category), '') as category
    from int.household_member
    where valid_to is null and household_key in (select key from published_household)
    group by all
"""

# the link behind each evidence row, for the explanation on the case page (weights, never the compared values);
# evidence itself is stored masked: the only full ID numbers in the store are Person.id_number
EXPLAIN = """
    select source_file, row_number, method, score, compared::varchar as compared
    from int.row_link
    where method not in ('exact') and (source_file, row_number) in (
        select (e ->> 'source_file', (e ->> 'row_number')::bigint)
        from marts.alert, unnest(from_json(evidence, '["json"]')) t(e)
    )
"""

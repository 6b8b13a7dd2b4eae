-- Tonight's hits of every rule that ran, routed to a township: the household's (roster first,
-- then registry), else the person's own area. hit__* tables are unioned by pipelines/rules/engine.py
-- into marts.rule_hit_raw before this runs.
create or replace table marts.rule_hit as
with hits as (
    select * from marts.rule_hit_raw
),
household_region as (
    select household_key, min(region_code) as region_code, arg_min(township, (region_code, township)) as township
    from int.household_member where valid_to is null
    group by household_key
),
routed as (
    select h.*,
           coalesce(h.household_key, p.household_key) as routed_household_key,
           coalesce(hr.region_code, p.region_code) as region_code,
           coalesce(t.name, hr.township, p.roster_township) as township
    from hits h
    left join int.person p using (person_id)
    left join household_region hr on hr.household_key = coalesce(h.household_key, p.household_key)
    left join meta.township t on t.code9 = substr(coalesce(hr.region_code, p.region_code), 1, 9)
),
final as (
    select md5(rule_id || '|' || subject_type || '|'
               || coalesce(person_id::varchar, household_key) || '|' || period) as alert_id,
           rule_id, rule_version, subject_type, person_id,
           routed_household_key as household_key, period,
           figure::decimal(14, 2) as figure, threshold::decimal(14, 2) as threshold,
           region_code, township, evidence, evidence_omitted
    from routed
)
select * from final;

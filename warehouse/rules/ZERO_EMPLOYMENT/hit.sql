-- ZERO_EMPLOYMENT (seeds 001 §10, 003 #11, 004 (十一)): a roster household in which every member of
-- working age (min_age..max_age in whole years on the night) with work ability is unemployed, and
-- there is at least one such member. A member outside the ages, or without work ability, does not
-- count either way. One alert per household and month.
create or replace table marts.hit__zero_employment as
with members as (
    select *, date_part('year', age(getvariable('as_of'), birth_date)) as age_years
    from dim_roster_member
),
able as (
    select * from members
    where age_years between getvariable('ze_min_age') and getvariable('ze_max_age')
      and list_contains(getvariable('ze_able'), labor_ability)
),
households as (
    select household_key,
           count(*) as able_members,
           count(*) filter (where list_contains(getvariable('ze_employed'), employment)) as employed,
           list({feed: 'civil_affairs', source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score, age: age_years, labor_ability: labor_ability,
                 employment: employment} order by row_number, source_file) as evidence
    from able
    group by household_key
),
final as (
    select 'ZERO_EMPLOYMENT' as rule_id, 'household' as subject_type, null::bigint as person_id, household_key,
           strftime(getvariable('as_of'), '%Y-%m') as period,
           able_members::decimal(14, 2) as figure,  -- working-age members able to work, none employed
           0::decimal(14, 2) as threshold,
           evidence
    from households
    where employed = 0
)
select * from final;

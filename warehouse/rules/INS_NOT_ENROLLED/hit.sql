-- INS_NOT_ENROLLED (seeds 001 §7, 004 (八)): a low-income person with no active resident medical
-- insurance (城乡居民, 参保缴费) for the night's year in the latest enrolment snapshot on or before
-- the night (a snapshot feed: 终止 there is not undone by an older snapshot's 参保缴费). Low-income =
-- any one source of low_income_spell (marts/low_income.sql) tonight: on the roster in force, or
-- flagged by the insurer's own 参保身份 on a settlement up to the night (for anyone: DOMAIN.md "any
-- one source is enough"); every source is cited in the evidence. One alert per person and year.
create or replace table marts.hit__ins_not_enrolled as
with low_income as (
    select person_id, source, category as detail, feed, source_file, row_number, record_key, method, score
    from low_income_spell(getvariable('ine_low_income_categories'), getvariable('ine_identity_low_income_values'))
    where valid_from <= getvariable('as_of')
      -- the roster: its rows in force tonight; 参保身份: any settlement up to the night
      and (source = 'insured_identity' or (source_file is not null and valid_to is null))
),
households as (
    select person_id, first(household_key order by snapshot_on desc, household_key) as household_key
    from dim_roster_member
    where list_contains(getvariable('ine_low_income_categories'), category)
    group by person_id
),
people as (
    select person_id, min(h.household_key) as household_key,
           list({feed: feed, source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score, low_income_by: source, detail: detail}
                order by source, source_file nulls first, row_number, record_key) as evidence
    from low_income
    left join households h using (person_id)
    group by person_id
),
active as (
    select distinct l.person_id
    from stg.medical_enrollment e
    join int.link l on l.feed = 'medical_enrollment' and l.delivery_id = e.delivery_id and l.row_number = e.row_number
    where not e.quarantined and e.year = year(getvariable('as_of'))
      and l.person_id in (select person_id from people)  -- the low-income only, not the county's whole roll
      and list_contains(getvariable('ine_active_status'), e.status)
      and list_contains(getvariable('ine_insurance_types'), e.insurance_type)
      and e.delivered_on = (select max(delivered_on) from stg.medical_enrollment
                            where delivered_on <= getvariable('as_of'))
),
final as (
    select 'INS_NOT_ENROLLED' as rule_id, 'person' as subject_type, p.person_id, p.household_key,
           year(getvariable('as_of'))::varchar as period,
           null::decimal(14, 2) as figure, null::decimal(14, 2) as threshold, p.evidence
    from people p
    anti join active a using (person_id)
)
select * from final;

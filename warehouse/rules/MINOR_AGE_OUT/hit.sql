-- MINOR_AGE_OUT (seeds 000 §3, 004 (五)): a 特困 minor turning `age` (18) within `days` (90) days.
-- Still at school per the latest education snapshot (在读, or 送教上门: compulsory education taught at
-- home, 001 §8) means support continues (noted in the evidence); otherwise the household is
-- reassessed. One alert per person and birthday.
create or replace table marts.hit__minor_age_out as
with members as (
    select *, cast(birth_date + to_years(getvariable('mao_age')::integer) as date) as turns_on
    from dim_roster_member
    where category = '特困' and birth_date is not null
),
in_school as (
    select distinct l.person_id
    from stg.education e
    join int.link l on l.feed = 'education' and l.delivery_id = e.delivery_id and l.row_number = e.row_number
    where not e.quarantined and e.status in ('在读', '送教上门')
      and e.delivered_on = (select max(delivered_on) from stg.education where delivered_on <= getvariable('as_of'))
),
final as (
    select 'MINOR_AGE_OUT' as rule_id, 'person' as subject_type, m.person_id, m.household_key,
           strftime(m.turns_on, '%Y-%m-%d') as period,
           (m.turns_on - getvariable('as_of'))::decimal(14, 2) as figure,  -- days until the birthday
           getvariable('mao_days')::decimal(14, 2) as threshold,
           [{feed: 'civil_affairs', source_file: m.source_file, row_number: m.row_number, record_key: m.record_key,
             method: m.method, score: m.score, turns_on: m.turns_on, still_in_school: s.person_id is not null}]
               as evidence
    from members m
    left join in_school s using (person_id)
    where m.turns_on > getvariable('as_of')
      and m.turns_on <= getvariable('as_of') + getvariable('mao_days')::integer
)
select * from final;

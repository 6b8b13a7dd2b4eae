-- REVIEW_OVERDUE (seeds 003 #7, 004 (七)): 特困 and 低保 A households not reviewed for 12 months,
-- 低保 B for 6. Overdue when last review + interval < the night (on the anniversary it is due, not
-- overdue). The household's review date is its latest 最近核查日期; its class is the head's.
-- A 低保 household without an A/B class is reviewed every `months_dibao_unclassified` (12: 001 §5's
-- 低保年度核查); a household with no review date at all is due from its 纳入日期 (enrolled_on).
-- One alert per household and due date (a new review starts a new cycle).
create or replace table marts.hit__review_overdue as
with households as (
    select household_key,
           coalesce(max(last_review_on), min(enrolled_on)) as last_review_on,
           max(last_review_on) is null as never_reviewed,
           arg_max(category, (relation = '户主', -person_id)) as category,
           arg_max(dibao_class, (relation = '户主', -person_id)) as dibao_class,
           list({feed: 'civil_affairs', source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score, last_review_on: last_review_on}
                order by row_number, source_file) filter (where relation = '户主') as evidence
    from dim_roster_member
    group by household_key
),
intervals as (
    select *,
           case when category = '特困' then getvariable('ro_months_tekun')
                when category = '低保' and dibao_class = 'A' then getvariable('ro_months_dibao_a')
                when category = '低保' and dibao_class = 'B' then getvariable('ro_months_dibao_b')
                when category = '低保' then getvariable('ro_months_dibao_unclassified')
           end as months
    from households
),
due as (
    select *, cast(last_review_on + to_months(months) as date) as due_on from intervals
    where months is not null and last_review_on is not null
),
final as (
    select 'REVIEW_OVERDUE' as rule_id, 'household' as subject_type, null::bigint as person_id, household_key,
           strftime(due_on, '%Y-%m-%d') as period,
           (getvariable('as_of') - due_on)::decimal(14, 2) as figure,   -- days overdue
           months::decimal(14, 2) as threshold,                          -- the review interval, months
           coalesce(evidence, []) as evidence
    from due
    where due_on < getvariable('as_of')
)
select * from final;

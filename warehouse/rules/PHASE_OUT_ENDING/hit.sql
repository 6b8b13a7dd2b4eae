-- PHASE_OUT_ENDING (seeds 001 §5, 004 (四)): a household in 渐退期 whose period ends within the
-- next `days` days, the night itself included (ended before the night: not this rule). One alert
-- per household and end date.
create or replace table marts.hit__phase_out_ending as
with households as (
    select household_key, max(phase_out_until) as phase_out_until,
           list({feed: 'civil_affairs', source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score, phase_out_until: phase_out_until} order by row_number, source_file)
               filter (where phase_out_until is not null) as evidence
    from dim_roster_member
    group by household_key
),
final as (
    select 'PHASE_OUT_ENDING' as rule_id, 'household' as subject_type, null::bigint as person_id, household_key,
           strftime(phase_out_until, '%Y-%m-%d') as period,
           (phase_out_until - getvariable('as_of'))::decimal(14, 2) as figure,  -- days left
           getvariable('poe_days')::decimal(14, 2) as threshold,
           evidence
    from households
    where phase_out_until between getvariable('as_of') and getvariable('as_of') + getvariable('poe_days')::integer
)
select * from final;

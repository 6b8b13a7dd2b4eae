-- RECIPIENT_DECEASED (seeds 003 (四), 004 (二十七)): a roster member whose current household-registry
-- status is 死亡: stop payment, verify, recover. 迁出 (moved away) is not this rule. One alert per
-- person and date of death.
create or replace table marts.hit__recipient_deceased as
with registry as (
    select l.person_id, r.status, r.status_on, d.source_file, r.row_number, r.record_key, l.method, l.score
    from stg.household_registry r
    join meta.delivery d using (delivery_id)
    join int.link l on l.feed = 'household_registry' and l.delivery_id = r.delivery_id and l.row_number = r.row_number
    where not r.quarantined
      and r.delivered_on = (select max(delivered_on) from stg.household_registry
                            where delivered_on <= getvariable('as_of'))
),
final as (
    select 'RECIPIENT_DECEASED' as rule_id, 'person' as subject_type, m.person_id, m.household_key,
           coalesce(strftime(g.status_on, '%Y-%m-%d'), 'deceased') as period,
           null::decimal(14, 2) as figure, null::decimal(14, 2) as threshold,
           [{feed: 'household_registry', source_file: g.source_file, row_number: g.row_number,
             record_key: g.record_key, method: g.method, score: g.score, status: g.status, status_on: g.status_on},
            {feed: 'civil_affairs', source_file: m.source_file, row_number: m.row_number, record_key: m.record_key,
             method: m.method, score: m.score, status: null, status_on: null}] as evidence
    from dim_roster_member m
    join registry g using (person_id)
    where g.status = '死亡'
)
select * from final;

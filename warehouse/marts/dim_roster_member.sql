-- The civil-affairs roster (救助对象名册) in force tonight: its latest snapshot on or before the
-- night, each member with the person their row is linked to (by any matcher) and the row it came
-- from, for the roster rules and their evidence.
create or replace temp table dim_roster_member as
with latest as (
    select max(delivered_on) as snapshot_on from stg.civil_affairs
    where delivered_on <= getvariable('as_of')
),
rows as (
    select s.*, d.source_file
    from stg.civil_affairs s
    join meta.delivery d using (delivery_id)
    where s.delivered_on = (select snapshot_on from latest) and not s.quarantined
),
final as (
    select l.person_id, r.household_code, 'CA:' || r.household_code as household_key, r.category, r.dibao_class,
           r.support_mode, r.relation, p.birth_date, r.last_review_on, r.phase_out_until, r.enrolled_on,
           r.region_code, r.township, r.income_per_capita, r.health, r.labor_ability, r.employment,
           r.delivered_on as snapshot_on, r.source_file, r.row_number, r.record_key, l.method, l.score
    from rows r
    join int.link l on l.feed = 'civil_affairs' and l.delivery_id = r.delivery_id and l.row_number = r.row_number
    join int.person p on p.person_id = l.person_id
)
select * from final;

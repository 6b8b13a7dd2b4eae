-- EDU_AID_MISSING (seeds 001 §8, 003 #9, 004 (九)): a student 在读 at a stage from preschool to
-- undergraduate (not postgraduate) whose household is 低保 or 特困 on the roster in force, with no aid
-- recorded (资助项目 empty) in the night's school year (which starts on 1 September), as the latest
-- snapshot of that school year on or before the night has it (aid recorded since then counts).
-- Orphans are in the rule too, but no feed marks an orphan; a 特困 minor is covered by the category.
-- One alert per student and school year.
create or replace table marts.hit__edu_aid_missing as
with school_year as (
    select case when month(getvariable('as_of')) >= 9
                then year(getvariable('as_of'))::varchar || '-' || (year(getvariable('as_of')) + 1)::varchar
                else (year(getvariable('as_of')) - 1)::varchar || '-' || year(getvariable('as_of'))::varchar
           end as sy
),
students as (
    select l.person_id, e.stage, e.status, e.aid_items, e.school_year, d.source_file, e.row_number, e.record_key,
           l.method, l.score
    from stg.education e
    join meta.delivery d using (delivery_id)
    join int.link l on l.feed = 'education' and l.delivery_id = e.delivery_id and l.row_number = e.row_number
    where not e.quarantined and e.delivered_on <= getvariable('as_of')
      and e.school_year = (select sy from school_year)
      and e.delivered_on = (select max(delivered_on) from stg.education
                            where delivered_on <= getvariable('as_of') and school_year = (select sy from school_year))
      and e.status = '在读' and list_contains(getvariable('eam_stages'), e.stage)
      and nullif(trim(coalesce(e.aid_items, '')), '') is null
),
final as (
    select 'EDU_AID_MISSING' as rule_id, 'person' as subject_type, s.person_id, m.household_key,
           s.school_year as period, null::decimal(14, 2) as figure, null::decimal(14, 2) as threshold,
           [{feed: 'education', source_file: s.source_file, row_number: s.row_number, record_key: s.record_key,
             method: s.method, score: s.score, detail: s.stage},
            {feed: 'civil_affairs', source_file: m.source_file, row_number: m.row_number, record_key: m.record_key,
             method: m.method, score: m.score, detail: m.category}] as evidence
    from students s
    join dim_roster_member m using (person_id)
    where list_contains(getvariable('eam_categories'), m.category)
    qualify row_number() over (partition by s.person_id
                               order by s.row_number, s.source_file, m.row_number, m.source_file) = 1
)
select * from final;

-- EDU_DISABLED_OUT_OF_SCHOOL (seeds 001 §8, 003 #9): a child with a valid disability certificate (not
-- 注销), aged `min_age`..`max_age` (6–15, compulsory schooling) in whole years on the night, a member of
-- a low-income household on the roster in force, who in the night's school year (from 1 September) is
-- neither enrolled (在读) nor taught at home (送教上门) per the education feed. A row of another status
-- (辍学, 休学) or no row at all both count as out of school; the statuses that count as schooling are
-- `schooled` in rules.yaml; the latest delivery of the school year that lists the child decides. One alert per child and school year; the figure is the age.
create or replace table marts.hit__edu_disabled_out_of_school as
with certified as (
    select person_id, min(disability_type) as disability_type, min(grade_n) as grade,
           list({feed: 'disability', source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score, detail: disability_type} order by row_number, source_file) as evidence
    from dim_certificate
    group by person_id
),
children as (
    select m.*, age_years(m.birth_date, getvariable('as_of')) as age
    from dim_roster_member m
    where list_contains(getvariable('edo_categories'), m.category)
      and age_years(m.birth_date, getvariable('as_of')) between getvariable('edo_min_age') and getvariable('edo_max_age')
),
candidates as (
    -- the few certified children of the roster: the education feed is read for them only (a county's
    -- whole school roll otherwise goes through the join and the window below)
    select m.person_id from children m join certified c using (person_id)
),
education_rows as (
    -- the latest delivery of the school year that lists the child decides (在读 in September,
    -- 辍学 in November is out of school)
    select l.person_id, e.status, d.source_file, e.row_number, e.record_key, l.method, l.score
    from stg.education e
    join meta.delivery d using (delivery_id)
    join int.link l on l.feed = 'education' and l.delivery_id = e.delivery_id and l.row_number = e.row_number
    where not e.quarantined and e.delivered_on <= getvariable('as_of')
      and e.school_year = school_year(getvariable('as_of'))
      and l.person_id in (select person_id from candidates)
    qualify e.delivered_on = max(e.delivered_on) over (partition by l.person_id)
),
education as (
    select person_id,
           bool_or(list_contains(getvariable('edo_schooled'), status)) as schooled,
           list({feed: 'education', source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score, detail: status} order by row_number, source_file) as evidence
    from education_rows
    group by person_id
),
final as (
    select 'EDU_DISABLED_OUT_OF_SCHOOL' as rule_id, 'person' as subject_type, m.person_id, m.household_key,
           school_year(getvariable('as_of')) as period,
           m.age::decimal(14, 2) as figure, null::decimal(14, 2) as threshold,
           list_concat(
               [{feed: 'civil_affairs', source_file: m.source_file, row_number: m.row_number,
                 record_key: m.record_key, method: m.method, score: m.score, detail: m.category}],
               c.evidence,
               coalesce(e.evidence, [])) as evidence
    from children m
    join certified c using (person_id)
    left join education e using (person_id)
    where not coalesce(e.schooled, false)
    qualify row_number() over (partition by m.person_id order by m.row_number, m.source_file) = 1
)
select * from final;

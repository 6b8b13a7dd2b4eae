-- DISABILITY_SUBSIDY_GAP (seeds 003 #13, 004 (十三)): a person with a valid disability certificate
-- (not 注销) who is a member of a 低保 household without the living subsidy (困难残疾人生活补贴), or of
-- grade 1–2 without the care subsidy (重度残疾人护理补贴). The care subsidy is not means-tested, so
-- that clause applies to any certified person (the stricter reading; `care_grades` in rules.yaml).
-- One alert per person and month.
create or replace table marts.hit__disability_subsidy_gap as
with certificates as (
    select person_id, grade_n as grade, living_subsidy, care_subsidy, source_file, row_number, record_key, method,
           score
    from dim_certificate
),
gaps as (
    select c.*, m.household_key, m.category,
           coalesce(list_contains(getvariable('dsg_living_categories'), m.category), false)
               and coalesce(c.living_subsidy, 0) = 0 as no_living,  -- off the roster: false, not null
           list_contains(getvariable('dsg_care_grades'), c.grade) and coalesce(c.care_subsidy, 0) = 0 as no_care
    from certificates c
    left join dim_roster_member m using (person_id)
),
final as (
    select 'DISABILITY_SUBSIDY_GAP' as rule_id, 'person' as subject_type, person_id, household_key,
           strftime(getvariable('as_of'), '%Y-%m') as period,
           grade::decimal(14, 2) as figure, null::decimal(14, 2) as threshold,
           [{feed: 'disability', source_file: source_file, row_number: row_number, record_key: record_key,
             method: method, score: score, living_subsidy_missing: no_living, care_subsidy_missing: no_care,
             category: category}] as evidence
    from gaps
    where no_living or no_care
    qualify row_number() over (partition by person_id order by row_number, source_file) = 1
)
select * from final;

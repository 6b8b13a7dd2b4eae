-- SINGLE_PERSON_DIBAO (seeds 000 三, 001 §5, 004 (四)): a member of a roster household whose per-capita
-- monthly income is above the local 低保 standard and at most `income_multiple` (1.5) times it (001 §5:
-- "人均收入在当地低保标准150%以内"; 000 says 低于 1.5 倍, the boundary itself is read as inside), who is
-- aged `age` (80) or more in whole years on the night (the 80th birthday counts), holds a valid
-- certificate of grade 1–2 (`severe_grades`) or of an intellectual/mental type (`grade3_types`: 智力,
-- 精神) at grade 3, or whose health is `severe_health` (重病): a candidate for 单人户 低保.
-- The standard is the urban or rural one of the county's region policy for the night's year, by the
-- household's township (a township the policy does not list: by its statistical division code,
-- gbt_urban; where the code cannot say, rural: the lower standard). A county without a standard of its
-- own runs on region_defaults.yaml (meta.region_default) and the evidence says so (policy_default).
-- One alert per person and year; the figure is the household's per-capita income, the threshold the
-- upper end of the band.
create or replace table marts.hit__single_person_dibao as
with certificates as (
    select person_id,
           bool_or(list_contains(getvariable('spd_severe_grades'), grade_n)
                   or (list_contains(getvariable('spd_grade3_types'), disability_type) and grade_n = 3)) as severe,
           list({feed: 'disability', source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score, detail: disability_type || ' ' || grade,
                 policy_default: null::varchar} order by row_number, source_file)
               as evidence
    from dim_certificate
    group by person_id
),
members as (
    select m.*, age_years(m.birth_date, getvariable('as_of')) as age,
           case when a.urban then r.dibao_standard_urban_monthly
                else r.dibao_standard_rural_monthly end as standard,
           nullif(concat_ws('；', d.note, case when a.by_code then
               '城镇/农村按统计用区划代码判定（地区政策未列此乡镇）' end), '') as policy_default
    from dim_roster_member m
    left join meta.township t on t.code9 = substr(m.region_code, 1, 9)
    cross join lateral (select coalesce(t.urban, gbt_urban(m.region_code), false) as urban,
                               t.urban is null and gbt_urban(m.region_code) is not null as by_code) a
    join meta.region_year r on r.county_code = substr(m.region_code, 1, 6) and r.year = year(getvariable('as_of'))
    left join meta.region_default d
        on d.county_code = r.county_code and d.year = r.year
       and d.figure = case when a.urban then 'dibao_standard_urban_monthly' else 'dibao_standard_rural_monthly' end
    where list_contains(getvariable('spd_categories'), m.category)
),
banded as (
    select m.*, round(m.standard * getvariable('spd_income_multiple'), 2) as upper_line, c.severe,
           c.evidence as certificate_evidence
    from members m
    left join certificates c using (person_id)
    where m.income_per_capita > m.standard
      -- against the exact product: 1.5 × 364.33 = 546.495, so 546.50 is above the band (the threshold
      -- shown, rounded to the cent, reads 546.50)
      and m.income_per_capita <= m.standard * getvariable('spd_income_multiple')
),
final as (
    select 'SINGLE_PERSON_DIBAO' as rule_id, 'person' as subject_type, person_id, household_key,
           strftime(getvariable('as_of'), '%Y') as period,
           income_per_capita::decimal(14, 2) as figure, upper_line::decimal(14, 2) as threshold,
           list_concat(
               [{feed: 'civil_affairs', source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score,
                 detail: concat_ws('; ', case when age >= getvariable('spd_age') then 'age ' || age end,
                                   case when list_contains(getvariable('spd_severe_health'), health) then health end,
                                   'income ' || income_per_capita || ' in (' || standard || ', ' || upper_line || ']'),
                 policy_default: policy_default}],
               case when severe then certificate_evidence else [] end) as evidence
    from banded
    where age >= getvariable('spd_age') or coalesce(severe, false)
       or list_contains(getvariable('spd_severe_health'), health)
    qualify row_number() over (partition by person_id order by row_number, source_file) = 1
)
select * from final;

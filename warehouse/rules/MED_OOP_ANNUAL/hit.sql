-- MED_OOP_ANNUAL (national practice beyond the seeds): a person's compliant out-of-pocket
-- (政策范围内个人自付, reversals netted) summed over the calendar year exceeds a share of the local
-- per-capita disposable income (人均可支配收入): `share_low_income` (0.5) for a low-income person,
-- `share_other` (1.0) for anyone else. Strictly greater than.
--
-- Readings (parameters in rules.yaml):
--  * low-income for the year = any one source of low_income_spell (marts/low_income.sql) holding at
--    any time from 1 January to the night: a roster spell of a low-income category (a family that was
--    on the roster this year keeps the lower line), or the insurer's 参保身份 on one of the year's
--    settlements; the sources that said so are in the evidence (low_income_by);
--  * local income = the urban or rural figure of the region policy of the person's county for that
--    year, chosen by the township of the person's household (roster, then registry). A township the
--    county's policy does not list is urban or rural by its statistical division code (gbt_urban),
--    and where the code cannot say, `unknown_township` (rural: the lower line, so that a family is not
--    missed; or urban, or skip). A county without figures of its own runs on region_defaults.yaml
--    (meta.region_default), and the evidence says so (policy_default). A patient from a county whose
--    people the warehouse does not hold (not in its roster or registry) and that has no region file is
--    not compared: their county's income is not ours to know;
--  * one alert per person and calendar year; the figure is the year's total;
--  * a settlement the province exchange sent to the patient's home county is that county's to judge.
create or replace table marts.hit__med_oop_annual as
with settlements as (
    select *, year(settled_on) as settled_year
    from fct_settlement
    where person_id is not null and settled_on <= getvariable('as_of')
      and list_contains(getvariable('moa_insurance_types'), insurance_type)
      and referred_to is null  -- sent to the patient's home county, which judges it (pipelines/outputs/exchange.py)
),
sums as (
    select person_id, settled_year, sum(net_oop_compliant) as total
    from settlements
    group by person_id, settled_year
),
candidates as (
    -- only a year's total above the lowest line any person could have is looked at further (its
    -- evidence is built for these few, not for every patient of the county)
    select person_id, settled_year
    from sums
    where total > (select min(least(disposable_income_urban, disposable_income_rural)) from meta.region_year)
                  * least(getvariable('moa_share_low_income')::decimal(6, 4), getvariable('moa_share_other')::decimal(6, 4))
),
totals as (
    select person_id, settled_year,
           sum(net_oop_compliant) as total,
           -- at most evidence_max_items settlements (delivery.yaml), the largest; the rest counted
           list({feed: 'medical_settlements', source_file: source_file, row_number: row_number,
                 record_key: settlement_id, method: link_method, score: link_score, settled_on: settled_on,
                 net_oop_compliant: net_oop_compliant} order by settled_on, settlement_id, source_file, row_number)
               filter (where evidence_rank <= getvariable('evidence_max_items')) as evidence,
           count(*) filter (where evidence_rank > getvariable('evidence_max_items')) as evidence_omitted
    from (select *, row_number() over (partition by person_id, settled_year
                                       order by net_oop_compliant desc, settled_on, settlement_id,
                                                source_file, row_number) as evidence_rank
          from settlements semi join candidates using (person_id, settled_year))
    group by person_id, settled_year
),
low_income as (
    select t.person_id, t.settled_year,
           list(distinct m.source order by m.source) as low_income_by
    from totals t
    join low_income_spell(getvariable('moa_low_income_categories'), getvariable('moa_identity_low_income_values')) m
        on m.person_id = t.person_id
       and m.valid_from <= least(make_date(t.settled_year, 12, 31), getvariable('as_of'))
       and (m.valid_to is null or m.valid_to > make_date(t.settled_year, 1, 1))
    group by t.person_id, t.settled_year
),
areas as (
    select p.person_id, p.household_key, p.ever_registered or p.ever_on_roster as roster_covers,
           substr(p.region_code, 1, 6) as county_code,
           coalesce(t.urban, gbt_urban(p.region_code),
                    case getvariable('moa_unknown_township') when 'rural' then false
                                                             when 'urban' then true end) as urban,
           t.urban is null and gbt_urban(p.region_code) is not null as urban_by_code
    from int.person p
    left join meta.township t on t.code9 = substr(p.region_code, 1, 9)
),
lined as (
    select t.*, a.household_key, a.urban,
           -- a figure the county has not set (region_defaults.yaml), or its township read from the code
           nullif(concat_ws('；', d.note, case when a.urban_by_code then
               '城镇/农村按统计用区划代码判定（地区政策未列此乡镇）' end), '') as policy_default,
           o.person_id is not null as low_income, coalesce(o.low_income_by, []) as low_income_by,
           case when a.urban then r.disposable_income_urban else r.disposable_income_rural end as income
    from totals t
    join areas a using (person_id)
    join meta.region_year r on r.county_code = a.county_code and r.year = t.settled_year
    left join low_income o using (person_id, settled_year)
    left join meta.region_default d
        on d.county_code = a.county_code and d.year = t.settled_year
       and d.figure = case when a.urban then 'disposable_income_urban' else 'disposable_income_rural' end
    where a.urban is not null
),
thresholds as (
    -- compared exactly (decimal), shown to the cent
    select *,
           income * case when low_income then getvariable('moa_share_low_income')::decimal(6, 4)
                         else getvariable('moa_share_other')::decimal(6, 4) end as exact_threshold
    from lined
),
final as (
    select 'MED_OOP_ANNUAL' as rule_id, 'person' as subject_type, person_id, household_key,
           settled_year::varchar as period, total::decimal(14, 2) as figure,
           round(exact_threshold, 2)::decimal(14, 2) as threshold,
           list_transform(evidence, lambda e: struct_insert(e, low_income := low_income, low_income_by := low_income_by, urban := urban,
                                                       policy_default := policy_default)) as evidence,
           evidence_omitted
    from thresholds
    where total > exact_threshold
)
select * from final;

-- MED_OOP_SINGLE (seed 001 §7): one settlement whose compliant out-of-pocket after all payers
-- (政策范围内个人自付) exceeds the warning line: 4,000 yuan for a low-income person, 10,000 for
-- anyone else insured under resident insurance (城乡居民医保). Strictly greater than.
--
-- Readings (parameters in rules.yaml, written down there too):
--  * low-income on the event date = any one source of low_income_spell (marts/low_income.sql): a
--    roster spell of a low-income category holding on that date (纳入日期 or first snapshot, until
--    the first snapshot without the person), or the settlement's own 参保身份 (identity_fallback:
--    always, DOMAIN.md "any one source is enough"); with outside_roster_coverage the identity field
--    counts only for a person neither registered in the county nor ever on the roster, with never
--    not at all. Where roster and identity disagree the lower line applies and the evidence says so;
--  * reversals cancel what they reverse (net amount), employee insurance is out of scope;
--  * one alert per person and period (month of the event date); the figure is the period's
--    highest single settlement;
--  * a settlement the province exchange sent to the patient's home county (a resident there) is
--    that county's to judge (a referral: int.referral); an alert it raised here clears.
create or replace table marts.hit__med_oop_single as
with settlements as (
    select *,
           case getvariable('mos_event_date')
               when 'discharged_on' then coalesce(discharged_on, settled_on)
               when 'admitted_on' then coalesce(admitted_on, settled_on)
               else settled_on end as event_date
    from fct_settlement
    where person_id is not null
      and list_contains(getvariable('mos_insurance_types'), insurance_type)
      and referred_to is null  -- sent to the patient's home county, which judges it (pipelines/outputs/exchange.py)
),
roster_status as (
    select s.settlement_id,
           arg_max(m.category, (m.valid_from, m.category)) as roster_category
    from settlements s
    -- every listed source (the roster; the rural-monitoring list when it comes): the settlement's
    -- own 参保身份 is judged below, row by row, under identity_fallback
    join low_income_spell(getvariable('mos_low_income_categories'), []) m
        on m.person_id = s.person_id
       and m.valid_from <= s.event_date
       and (m.valid_to is null or s.event_date < m.valid_to)
    group by s.settlement_id
),
evaluated as (
    select s.*,
           r.roster_category,
           p.ever_registered or p.ever_on_roster as roster_covers,
           coalesce(list_contains(getvariable('mos_identity_low_income_values'), s.insured_identity), false)
               as identity_low_income
    from settlements s
    join int.person p using (person_id)
    left join roster_status r using (settlement_id)
),
sourced as (
    select *,
           identity_low_income and (getvariable('mos_identity_fallback') = 'always'
                                    or (getvariable('mos_identity_fallback') = 'outside_roster_coverage'
                                        and not roster_covers)) as identity_counts
    from evaluated
),
judged as (
    select *,
           roster_category is not null or identity_counts as low_income,
           -- the roster and the insurer's 参保身份 say different things (a person the roster covers)
           case when not roster_covers or insured_identity is null then null
                when roster_category is null and identity_low_income
                    then '参保身份为' || insured_identity || '，民政名册当日无此人的低收入身份'
                when roster_category is not null and not identity_low_income
                    then '民政名册为' || roster_category || '，参保身份为' || insured_identity
                when roster_category is not null and roster_category <> insured_identity
                    then '民政名册为' || roster_category || '，参保身份为' || insured_identity
           end as disagreement
    from sourced
),
lined as (
    select *,
           case when low_income then getvariable('mos_warning_line_low_income')
                else getvariable('mos_warning_line_other') end::decimal(14, 2) as warning_line
    from judged
),
hits as (
    select *,
           -- the period's largest settlements are its evidence (at most evidence_max_items, delivery.yaml)
           row_number() over (partition by person_id, case getvariable('mos_period')
                                                          when 'year' then strftime(event_date, '%Y')
                                                          when 'settlement' then settlement_id
                                                          else strftime(event_date, '%Y-%m') end
                              order by net_oop_compliant desc, settled_on, settlement_id, source_file, row_number)
               as evidence_rank
    from lined where net_oop_compliant > warning_line
),
final as (
    select 'MED_OOP_SINGLE' as rule_id,
           'person' as subject_type,
           person_id,
           null::varchar as household_key,
           case getvariable('mos_period')
               when 'year' then strftime(event_date, '%Y')
               when 'settlement' then settlement_id
               else strftime(event_date, '%Y-%m') end as period,
           max(net_oop_compliant) as figure,
           arg_max(warning_line, (net_oop_compliant, -warning_line)) as threshold,  -- two equal settlements: the lower line
           list({
               feed: 'medical_settlements', source_file: source_file, row_number: row_number,
               record_key: settlement_id, method: link_method, score: link_score,
               settled_on: settled_on, event_date: event_date, insurance_type: insurance_type,
               oop_compliant: oop_compliant, reversed_oop_compliant: reversed_oop_compliant,
               net_oop_compliant: net_oop_compliant, warning_line: warning_line,
               low_income: low_income, roster_category: roster_category,
               insured_identity: insured_identity,
               identity_disagrees: disagreement is not null,
               disagreement: disagreement
           } order by settled_on, settlement_id, source_file, row_number)
               filter (where evidence_rank <= getvariable('evidence_max_items')) as evidence,
           count(*) filter (where evidence_rank > getvariable('evidence_max_items')) as evidence_omitted
    from hits
    group by person_id, period
)
select * from final;

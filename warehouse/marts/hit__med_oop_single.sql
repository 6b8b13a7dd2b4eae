-- MED_OOP_SINGLE (seed 001 §7): one settlement whose compliant out-of-pocket after all payers
-- (政策范围内个人自付) exceeds the warning line: 4,000 yuan for a low-income person, 10,000 for
-- anyone else insured under resident insurance (城乡居民医保). Strictly greater than.
--
-- Readings (parameters in rules.yaml, written down there too):
--  * low-income on the event date = in a roster spell of a low-income category whose status
--    holds on that date (纳入日期 or first snapshot, until the first snapshot without the person);
--  * the roster wins over the settlement's own 参保身份 wherever it has a say (the person is in
--    the county's household registry or was ever on the roster); for a patient from outside that
--    coverage, the identity field is the evidence;
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
      and referred_to is null  -- sent to the patient's home county, which judges it (pipelines/exchange.py)
),
roster_status as (
    select s.settlement_id,
           arg_max(m.category, (m.status_from, m.valid_from, m.category, m.household_key)) as roster_category
    from settlements s
    join int.household_member m
        on m.person_id = s.person_id
       and m.feed = 'civil_affairs'
       and list_contains(getvariable('mos_low_income_categories'), m.category)
       and m.status_from <= s.event_date
       and (m.valid_to is null or s.event_date < m.valid_to)
    group by s.settlement_id
),
evaluated as (
    select s.*,
           r.roster_category,
           p.ever_registered or p.ever_on_roster as roster_covers,
           coalesce(list_contains(getvariable('mos_identity_low_income_values'), s.insured_identity), false)
               as identity_low_income,
           case when getvariable('mos_identity_fallback') = 'outside_roster_coverage'
                     and not (p.ever_registered or p.ever_on_roster)
                then coalesce(list_contains(getvariable('mos_identity_low_income_values'), s.insured_identity), false)
                else r.roster_category is not null end as low_income
    from settlements s
    join int.person p using (person_id)
    left join roster_status r using (settlement_id)
),
lined as (
    select *,
           case when low_income then getvariable('mos_warning_line_low_income')
                else getvariable('mos_warning_line_other') end::decimal(14, 2) as warning_line
    from evaluated
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
               identity_disagrees: roster_covers and insured_identity is not null
                                   and low_income <> identity_low_income
           } order by settled_on, settlement_id, source_file, row_number)
               filter (where evidence_rank <= getvariable('evidence_max_items')) as evidence,
           count(*) filter (where evidence_rank > getvariable('evidence_max_items')) as evidence_omitted
    from hits
    group by person_id, period
)
select * from final;

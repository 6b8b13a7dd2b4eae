-- stg_medical_settlements: 医保结算明细 (医保), rendered from warehouse/staging/_stg.sql.j2
-- and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`: do not edit by hand.
-- Input: delivered (the rows of raw.medical_settlements to stage, with delivered_on and needs_txt: whether a
-- value of the row needs txt()'s careful path). Output: one row per delivered row: its key, its ID
-- number normalised and checked once, each value as normalised text (t_<column>), typed, and its
-- delivered length (the quarantine layer judges them).
with src as (
    -- every delivered value read as text once; the typing and every check work on that text
    select r.* exclude (needs_txt),
        case when needs_txt then txt(r.settlement_id) else nullif(r.settlement_id, '') end as t_settlement_id,
        case when needs_txt then txt(r.id_number) else nullif(r.id_number, '') end as t_id_number,
        case when needs_txt then txt(r.name) else nullif(r.name, '') end as t_name,
        case when needs_txt then txt(r.insurance_type) else nullif(r.insurance_type, '') end as t_insurance_type,
        case when needs_txt then txt(r.medical_category) else nullif(r.medical_category, '') end as t_medical_category,
        case when needs_txt then txt(r.hospital) else nullif(r.hospital, '') end as t_hospital,
        case when needs_txt then txt(r.admitted_on) else nullif(r.admitted_on, '') end as t_admitted_on,
        case when needs_txt then txt(r.discharged_on) else nullif(r.discharged_on, '') end as t_discharged_on,
        case when needs_txt then txt(r.settled_on) else nullif(r.settled_on, '') end as t_settled_on,
        case when needs_txt then txt(r.total_cost) else nullif(r.total_cost, '') end as t_total_cost,
        case when needs_txt then txt(r.compliant_cost) else nullif(r.compliant_cost, '') end as t_compliant_cost,
        case when needs_txt then txt(r.fund_paid) else nullif(r.fund_paid, '') end as t_fund_paid,
        case when needs_txt then txt(r.critical_illness_paid) else nullif(r.critical_illness_paid, '') end as t_critical_illness_paid,
        case when needs_txt then txt(r.assistance_paid) else nullif(r.assistance_paid, '') end as t_assistance_paid,
        case when needs_txt then txt(r.other_paid) else nullif(r.other_paid, '') end as t_other_paid,
        case when needs_txt then txt(r.oop_compliant) else nullif(r.oop_compliant, '') end as t_oop_compliant,
        case when needs_txt then txt(r.oop_total) else nullif(r.oop_total, '') end as t_oop_total,
        case when needs_txt then txt(r.insured_identity) else nullif(r.insured_identity, '') end as t_insured_identity,
        case when needs_txt then txt(r.reverses) else nullif(r.reverses, '') end as t_reverses,
        id_clean(r.id_number) as id_c
    from delivered r
),

-- IDs in steps over columns, not nested macros: the check-character macro reads its argument 17
-- times, and nesting would expand the expression tree exponentially; each ID is checked once
widened_ids as (
    select *, id_widen(id_c) as id_w from src r
),

checked_ids as (
    select *, id_issue(id_w, r.delivered_on) as id_w_issue from widened_ids r
),

-- the natural key as text, ID-bearing parts cleaned so that exports can mask them
keyed as (
    select *, concat_ws('|', r.t_settlement_id) as record_key
    from checked_ids r
),

final as (
    select
        r.delivery_id,
        r.row_number,
        r.delivered_on,
        r.record_key,
        r.id_number as raw_id_number,
        id_w as id_number,
        case when id_w_issue is null then 'id_number' end as id_source,
        id_w_issue as id_issue,
        name_norm(r.name) as name_norm,
        r.t_settlement_id as settlement_id,
        r.t_name as name,
        r.t_insurance_type as insurance_type,
        r.t_medical_category as medical_category,
        r.t_hospital as hospital,
        date_of_text(r.t_admitted_on) as admitted_on,
        date_of_text(r.t_discharged_on) as discharged_on,
        date_of_text(r.t_settled_on) as settled_on,
        amount_of_text(r.t_total_cost) as total_cost,
        amount_of_text(r.t_compliant_cost) as compliant_cost,
        amount_of_text(r.t_fund_paid) as fund_paid,
        amount_of_text(r.t_critical_illness_paid) as critical_illness_paid,
        amount_of_text(r.t_assistance_paid) as assistance_paid,
        amount_of_text(r.t_other_paid) as other_paid,
        amount_of_text(r.t_oop_compliant) as oop_compliant,
        amount_of_text(r.t_oop_total) as oop_total,
        r.t_insured_identity as insured_identity,
        r.t_reverses as reverses,
        r.t_settlement_id,
        r.t_id_number,
        r.t_name,
        r.t_insurance_type,
        r.t_medical_category,
        r.t_hospital,
        r.t_admitted_on,
        r.t_discharged_on,
        r.t_settled_on,
        r.t_total_cost,
        r.t_compliant_cost,
        r.t_fund_paid,
        r.t_critical_illness_paid,
        r.t_assistance_paid,
        r.t_other_paid,
        r.t_oop_compliant,
        r.t_oop_total,
        r.t_insured_identity,
        r.t_reverses,
        length(r.settlement_id) as len_settlement_id,
        length(r.id_number) as len_id_number,
        length(r.name) as len_name,
        length(r.insurance_type) as len_insurance_type,
        length(r.medical_category) as len_medical_category,
        length(r.hospital) as len_hospital,
        length(r.admitted_on) as len_admitted_on,
        length(r.discharged_on) as len_discharged_on,
        length(r.settled_on) as len_settled_on,
        length(r.total_cost) as len_total_cost,
        length(r.compliant_cost) as len_compliant_cost,
        length(r.fund_paid) as len_fund_paid,
        length(r.critical_illness_paid) as len_critical_illness_paid,
        length(r.assistance_paid) as len_assistance_paid,
        length(r.other_paid) as len_other_paid,
        length(r.oop_compliant) as len_oop_compliant,
        length(r.oop_total) as len_oop_total,
        length(r.insured_identity) as len_insured_identity,
        length(r.reverses) as len_reverses
    from keyed r
)

select * from final

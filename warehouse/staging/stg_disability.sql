-- stg_disability: 残疾人证 (残联), rendered from warehouse/staging/_stg.sql.j2
-- and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`: do not edit by hand.
-- Input: delivered (the rows of raw.disability to stage, with delivered_on and needs_txt: whether a
-- value of the row needs txt()'s careful path). Output: one row per delivered row: its key, its ID
-- number normalised and checked once, each value as normalised text (t_<column>), typed, and its
-- delivered length (the quarantine layer judges them).
with src as (
    -- every delivered value read as text once; the typing and every check work on that text
    select r.* exclude (needs_txt),
        case when needs_txt then txt(r.certificate_no) else nullif(r.certificate_no, '') end as t_certificate_no,
        case when needs_txt then txt(r.id_number) else nullif(r.id_number, '') end as t_id_number,
        case when needs_txt then txt(r.name) else nullif(r.name, '') end as t_name,
        case when needs_txt then txt(r.disability_type) else nullif(r.disability_type, '') end as t_disability_type,
        case when needs_txt then txt(r.grade) else nullif(r.grade, '') end as t_grade,
        case when needs_txt then txt(r.issued_on) else nullif(r.issued_on, '') end as t_issued_on,
        case when needs_txt then txt(r.living_subsidy) else nullif(r.living_subsidy, '') end as t_living_subsidy,
        case when needs_txt then txt(r.care_subsidy) else nullif(r.care_subsidy, '') end as t_care_subsidy,
        case when needs_txt then txt(r.status) else nullif(r.status, '') end as t_status,
        -- 残疾人证号 = the 18-character ID + type digit + grade digit: the ID may be derived from it
        id_clean(r.id_number) as id_c,
        id_clean(left(id_clean(r.certificate_no), 18)) as cert_c
    from delivered r
),

-- IDs in steps over columns, not nested macros: the check-character macro reads its argument 17
-- times, and nesting would expand the expression tree exponentially; each ID is checked once
widened_ids as (
    select *, id_widen(id_c) as id_w, id_widen(cert_c) as cert_w from src r
),

checked_ids as (
    select *,
        id_issue(id_w, r.delivered_on) as id_w_issue,
        id_issue(cert_w, r.delivered_on) as cert_w_issue
    from widened_ids r
),

-- the natural key as text, ID-bearing parts cleaned so that exports can mask them
keyed as (
    select *, concat_ws('|', id_clean(r.certificate_no)) as record_key
    from checked_ids r
),

final as (
    select
        r.delivery_id,
        r.row_number,
        r.delivered_on,
        r.record_key,
        r.id_number as raw_id_number,
        case when id_w_issue is null then id_w when cert_w_issue is null then cert_w
             else coalesce(id_w, cert_w) end as id_number,
        case when id_w_issue is null then 'id_number'
             when cert_w_issue is null then 'certificate' end as id_source,
        case when id_w_issue is null or cert_w_issue is null then null
             when id_w is not null then id_w_issue else cert_w_issue end as id_issue,
        name_norm(r.name) as name_norm,
        r.t_certificate_no as certificate_no,
        r.t_name as name,
        r.t_disability_type as disability_type,
        r.t_grade as grade,
        date_of_text(r.t_issued_on) as issued_on,
        amount_of_text(r.t_living_subsidy) as living_subsidy,
        amount_of_text(r.t_care_subsidy) as care_subsidy,
        r.t_status as status,
        r.t_certificate_no,
        r.t_id_number,
        r.t_name,
        r.t_disability_type,
        r.t_grade,
        r.t_issued_on,
        r.t_living_subsidy,
        r.t_care_subsidy,
        r.t_status,
        length(r.certificate_no) as len_certificate_no,
        length(r.id_number) as len_id_number,
        length(r.name) as len_name,
        length(r.disability_type) as len_disability_type,
        length(r.grade) as len_grade,
        length(r.issued_on) as len_issued_on,
        length(r.living_subsidy) as len_living_subsidy,
        length(r.care_subsidy) as len_care_subsidy,
        length(r.status) as len_status
    from keyed r
)

select * from final

-- stg_medical_enrollment: 医保参保登记 (医保), rendered from warehouse/staging/_stg.sql.j2
-- and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`: do not edit by hand.
-- Input: delivered (the rows of raw.medical_enrollment to stage, with delivered_on and needs_txt: whether a
-- value of the row needs txt()'s careful path). Output: one row per delivered row: its key, its ID
-- number normalised and checked once, each value as normalised text (t_<column>), typed, and its
-- delivered length (the quarantine layer judges them).
with src as (
    -- every delivered value read as text once; the typing and every check work on that text
    select r.* exclude (needs_txt),
        case when needs_txt then txt(r.id_number) else nullif(r.id_number, '') end as t_id_number,
        case when needs_txt then txt(r.name) else nullif(r.name, '') end as t_name,
        case when needs_txt then txt(r.insurance_type) else nullif(r.insurance_type, '') end as t_insurance_type,
        case when needs_txt then txt(r.year) else nullif(r.year, '') end as t_year,
        case when needs_txt then txt(r.status) else nullif(r.status, '') end as t_status,
        case when needs_txt then txt(r.subsidized) else nullif(r.subsidized, '') end as t_subsidized,
        case when needs_txt then txt(r.region_code) else nullif(r.region_code, '') end as t_region_code,
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
    select *, concat_ws('|', r.id_w, r.t_insurance_type, r.t_year) as record_key
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
        r.t_name as name,
        r.t_insurance_type as insurance_type,
        try_cast(r.t_year as integer) as year,
        r.t_status as status,
        r.t_subsidized as subsidized,
        r.t_region_code as region_code,
        r.t_id_number,
        r.t_name,
        r.t_insurance_type,
        r.t_year,
        r.t_status,
        r.t_subsidized,
        r.t_region_code,
        length(r.id_number) as len_id_number,
        length(r.name) as len_name,
        length(r.insurance_type) as len_insurance_type,
        length(r.year) as len_year,
        length(r.status) as len_status,
        length(r.subsidized) as len_subsidized,
        length(r.region_code) as len_region_code
    from keyed r
)

select * from final

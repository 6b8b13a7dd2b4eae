-- stg_education: 学籍及资助 (教育), rendered from warehouse/staging/_stg.sql.j2
-- and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`: do not edit by hand.
-- Input: delivered (the rows of raw.education to stage, with delivered_on and needs_txt: whether a
-- value of the row needs txt()'s careful path). Output: one row per delivered row: its key, its ID
-- number normalised and checked once, each value as normalised text (t_<column>), typed, and its
-- delivered length (the quarantine layer judges them).
with src as (
    -- every delivered value read as text once; the typing and every check work on that text
    select r.* exclude (needs_txt),
        case when needs_txt then txt(r.id_number) else nullif(r.id_number, '') end as t_id_number,
        case when needs_txt then txt(r.name) else nullif(r.name, '') end as t_name,
        case when needs_txt then txt(r.birth_date) else nullif(r.birth_date, '') end as t_birth_date,
        case when needs_txt then txt(r.school) else nullif(r.school, '') end as t_school,
        case when needs_txt then txt(r.region_code) else nullif(r.region_code, '') end as t_region_code,
        case when needs_txt then txt(r.stage) else nullif(r.stage, '') end as t_stage,
        case when needs_txt then txt(r.status) else nullif(r.status, '') end as t_status,
        case when needs_txt then txt(r.school_year) else nullif(r.school_year, '') end as t_school_year,
        case when needs_txt then txt(r.aid_items) else nullif(r.aid_items, '') end as t_aid_items,
        case when needs_txt then txt(r.aid_amount) else nullif(r.aid_amount, '') end as t_aid_amount,
        case when needs_txt then txt(r.guardian_id_number) else nullif(r.guardian_id_number, '') end as t_guardian_id_number,
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
    select *, concat_ws('|', r.id_w, r.t_school_year) as record_key
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
        date_of_text(r.t_birth_date) as birth_date,
        r.t_school as school,
        r.t_region_code as region_code,
        r.t_stage as stage,
        r.t_status as status,
        r.t_school_year as school_year,
        r.t_aid_items as aid_items,
        amount_of_text(r.t_aid_amount) as aid_amount,
        id_norm(r.guardian_id_number) as guardian_id_number,
        r.t_id_number,
        r.t_name,
        r.t_birth_date,
        r.t_school,
        r.t_region_code,
        r.t_stage,
        r.t_status,
        r.t_school_year,
        r.t_aid_items,
        r.t_aid_amount,
        r.t_guardian_id_number,
        length(r.id_number) as len_id_number,
        length(r.name) as len_name,
        length(r.birth_date) as len_birth_date,
        length(r.school) as len_school,
        length(r.region_code) as len_region_code,
        length(r.stage) as len_stage,
        length(r.status) as len_status,
        length(r.school_year) as len_school_year,
        length(r.aid_items) as len_aid_items,
        length(r.aid_amount) as len_aid_amount,
        length(r.guardian_id_number) as len_guardian_id_number
    from keyed r
)

select * from final

-- stg_household_registry: 户籍人口 (公安), rendered from warehouse/staging/_stg.sql.j2
-- and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`: do not edit by hand.
-- Input: delivered (the rows of raw.household_registry to stage, with delivered_on and needs_txt: whether a
-- value of the row needs txt()'s careful path). Output: one row per delivered row: its key, its ID
-- number normalised and checked once, each value as normalised text (t_<column>), typed, and its
-- delivered length (the quarantine layer judges them).
with src as (
    -- every delivered value read as text once; the typing and every check work on that text
    select r.* exclude (needs_txt),
        case when needs_txt then txt(r.hukou_number) else nullif(r.hukou_number, '') end as t_hukou_number,
        case when needs_txt then txt(r.id_number) else nullif(r.id_number, '') end as t_id_number,
        case when needs_txt then txt(r.name) else nullif(r.name, '') end as t_name,
        case when needs_txt then txt(r.sex) else nullif(r.sex, '') end as t_sex,
        case when needs_txt then txt(r.birth_date) else nullif(r.birth_date, '') end as t_birth_date,
        case when needs_txt then txt(r.relation) else nullif(r.relation, '') end as t_relation,
        case when needs_txt then txt(r.region_code) else nullif(r.region_code, '') end as t_region_code,
        case when needs_txt then txt(r.address) else nullif(r.address, '') end as t_address,
        case when needs_txt then txt(r.status) else nullif(r.status, '') end as t_status,
        case when needs_txt then txt(r.status_on) else nullif(r.status_on, '') end as t_status_on,
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
    select *, concat_ws('|', r.id_w) as record_key
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
        r.t_hukou_number as hukou_number,
        r.t_name as name,
        r.t_sex as sex,
        date_of_text(r.t_birth_date) as birth_date,
        r.t_relation as relation,
        r.t_region_code as region_code,
        r.t_address as address,
        r.t_status as status,
        date_of_text(r.t_status_on) as status_on,
        r.t_hukou_number,
        r.t_id_number,
        r.t_name,
        r.t_sex,
        r.t_birth_date,
        r.t_relation,
        r.t_region_code,
        r.t_address,
        r.t_status,
        r.t_status_on,
        length(r.hukou_number) as len_hukou_number,
        length(r.id_number) as len_id_number,
        length(r.name) as len_name,
        length(r.sex) as len_sex,
        length(r.birth_date) as len_birth_date,
        length(r.relation) as len_relation,
        length(r.region_code) as len_region_code,
        length(r.address) as len_address,
        length(r.status) as len_status,
        length(r.status_on) as len_status_on
    from keyed r
)

select * from final

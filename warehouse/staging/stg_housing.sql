-- stg_housing: 住房安全与保障 (住建), rendered from warehouse/staging/_stg.sql.j2
-- and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`: do not edit by hand.
-- Input: delivered (the rows of raw.housing to stage, with delivered_on and needs_txt: whether a
-- value of the row needs txt()'s careful path). Output: one row per delivered row: its key, its ID
-- number normalised and checked once, each value as normalised text (t_<column>), typed, and its
-- delivered length (the quarantine layer judges them).
with src as (
    -- every delivered value read as text once; the typing and every check work on that text
    select r.* exclude (needs_txt),
        case when needs_txt then txt(r.id_number) else nullif(r.id_number, '') end as t_id_number,
        case when needs_txt then txt(r.name) else nullif(r.name, '') end as t_name,
        case when needs_txt then txt(r.region_code) else nullif(r.region_code, '') end as t_region_code,
        case when needs_txt then txt(r.address) else nullif(r.address, '') end as t_address,
        case when needs_txt then txt(r.safety_rating) else nullif(r.safety_rating, '') end as t_safety_rating,
        case when needs_txt then txt(r.renovation) else nullif(r.renovation, '') end as t_renovation,
        case when needs_txt then txt(r.housing_needy) else nullif(r.housing_needy, '') end as t_housing_needy,
        case when needs_txt then txt(r.public_rental) else nullif(r.public_rental, '') end as t_public_rental,
        case when needs_txt then txt(r.rent_subsidy) else nullif(r.rent_subsidy, '') end as t_rent_subsidy,
        case when needs_txt then txt(r.assessed_on) else nullif(r.assessed_on, '') end as t_assessed_on,
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
        r.t_name as name,
        r.t_region_code as region_code,
        r.t_address as address,
        r.t_safety_rating as safety_rating,
        r.t_renovation as renovation,
        r.t_housing_needy as housing_needy,
        r.t_public_rental as public_rental,
        amount_of_text(r.t_rent_subsidy) as rent_subsidy,
        date_of_text(r.t_assessed_on) as assessed_on,
        r.t_id_number,
        r.t_name,
        r.t_region_code,
        r.t_address,
        r.t_safety_rating,
        r.t_renovation,
        r.t_housing_needy,
        r.t_public_rental,
        r.t_rent_subsidy,
        r.t_assessed_on,
        length(r.id_number) as len_id_number,
        length(r.name) as len_name,
        length(r.region_code) as len_region_code,
        length(r.address) as len_address,
        length(r.safety_rating) as len_safety_rating,
        length(r.renovation) as len_renovation,
        length(r.housing_needy) as len_housing_needy,
        length(r.public_rental) as len_public_rental,
        length(r.rent_subsidy) as len_rent_subsidy,
        length(r.assessed_on) as len_assessed_on
    from keyed r
)

select * from final

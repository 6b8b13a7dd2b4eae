-- stg_civil_affairs: 救助对象及低收入人口名册 (民政), rendered from warehouse/staging/_stg.sql.j2
-- and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`: do not edit by hand.
-- Input: delivered (the rows of raw.civil_affairs to stage, with delivered_on and needs_txt: whether a
-- value of the row needs txt()'s careful path). Output: one row per delivered row: its key, its ID
-- number normalised and checked once, each value as normalised text (t_<column>), typed, and its
-- delivered length (the quarantine layer judges them).
with src as (
    -- every delivered value read as text once; the typing and every check work on that text
    select r.* exclude (needs_txt),
        case when needs_txt then txt(r.household_code) else nullif(r.household_code, '') end as t_household_code,
        case when needs_txt then txt(r.id_number) else nullif(r.id_number, '') end as t_id_number,
        case when needs_txt then txt(r.name) else nullif(r.name, '') end as t_name,
        case when needs_txt then txt(r.sex) else nullif(r.sex, '') end as t_sex,
        case when needs_txt then txt(r.birth_date) else nullif(r.birth_date, '') end as t_birth_date,
        case when needs_txt then txt(r.relation) else nullif(r.relation, '') end as t_relation,
        case when needs_txt then txt(r.category) else nullif(r.category, '') end as t_category,
        case when needs_txt then txt(r.dibao_class) else nullif(r.dibao_class, '') end as t_dibao_class,
        case when needs_txt then txt(r.support_mode) else nullif(r.support_mode, '') end as t_support_mode,
        case when needs_txt then txt(r.self_care) else nullif(r.self_care, '') end as t_self_care,
        case when needs_txt then txt(r.labor_ability) else nullif(r.labor_ability, '') end as t_labor_ability,
        case when needs_txt then txt(r.employment) else nullif(r.employment, '') end as t_employment,
        case when needs_txt then txt(r.health) else nullif(r.health, '') end as t_health,
        case when needs_txt then txt(r.income_per_capita) else nullif(r.income_per_capita, '') end as t_income_per_capita,
        case when needs_txt then txt(r.monthly_benefit) else nullif(r.monthly_benefit, '') end as t_monthly_benefit,
        case when needs_txt then txt(r.enrolled_on) else nullif(r.enrolled_on, '') end as t_enrolled_on,
        case when needs_txt then txt(r.last_review_on) else nullif(r.last_review_on, '') end as t_last_review_on,
        case when needs_txt then txt(r.phase_out_until) else nullif(r.phase_out_until, '') end as t_phase_out_until,
        case when needs_txt then txt(r.region_code) else nullif(r.region_code, '') end as t_region_code,
        case when needs_txt then txt(r.township) else nullif(r.township, '') end as t_township,
        case when needs_txt then txt(r.village) else nullif(r.village, '') end as t_village,
        case when needs_txt then txt(r.address) else nullif(r.address, '') end as t_address,
        case when needs_txt then txt(r.phone) else nullif(r.phone, '') end as t_phone,
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
    select *, concat_ws('|', r.t_household_code, r.id_w) as record_key
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
        r.t_household_code as household_code,
        r.t_name as name,
        r.t_sex as sex,
        date_of_text(r.t_birth_date) as birth_date,
        r.t_relation as relation,
        r.t_category as category,
        r.t_dibao_class as dibao_class,
        r.t_support_mode as support_mode,
        r.t_self_care as self_care,
        r.t_labor_ability as labor_ability,
        r.t_employment as employment,
        r.t_health as health,
        amount_of_text(r.t_income_per_capita) as income_per_capita,
        amount_of_text(r.t_monthly_benefit) as monthly_benefit,
        date_of_text(r.t_enrolled_on) as enrolled_on,
        date_of_text(r.t_last_review_on) as last_review_on,
        date_of_text(r.t_phase_out_until) as phase_out_until,
        r.t_region_code as region_code,
        r.t_township as township,
        r.t_village as village,
        r.t_address as address,
        r.t_phone as phone,
        r.t_household_code,
        r.t_id_number,
        r.t_name,
        r.t_sex,
        r.t_birth_date,
        r.t_relation,
        r.t_category,
        r.t_dibao_class,
        r.t_support_mode,
        r.t_self_care,
        r.t_labor_ability,
        r.t_employment,
        r.t_health,
        r.t_income_per_capita,
        r.t_monthly_benefit,
        r.t_enrolled_on,
        r.t_last_review_on,
        r.t_phase_out_until,
        r.t_region_code,
        r.t_township,
        r.t_village,
        r.t_address,
        r.t_phone,
        length(r.household_code) as len_household_code,
        length(r.id_number) as len_id_number,
        length(r.name) as len_name,
        length(r.sex) as len_sex,
        length(r.birth_date) as len_birth_date,
        length(r.relation) as len_relation,
        length(r.category) as len_category,
        length(r.dibao_class) as len_dibao_class,
        length(r.support_mode) as len_support_mode,
        length(r.self_care) as len_self_care,
        length(r.labor_ability) as len_labor_ability,
        length(r.employment) as len_employment,
        length(r.health) as len_health,
        length(r.income_per_capita) as len_income_per_capita,
        length(r.monthly_benefit) as len_monthly_benefit,
        length(r.enrolled_on) as len_enrolled_on,
        length(r.last_review_on) as len_last_review_on,
        length(r.phase_out_until) as len_phase_out_until,
        length(r.region_code) as len_region_code,
        length(r.township) as len_township,
        length(r.village) as len_village,
        length(r.address) as len_address,
        length(r.phone) as len_phone
    from keyed r
)

select * from final

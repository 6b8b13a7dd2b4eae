-- qua_civil_affairs: the row-level checks of 救助对象及低收入人口名册 (民政), rendered from
-- warehouse/quarantine/_qua.sql.j2 and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`:
-- do not edit by hand. Reason codes: pipelines/transform/standardize.py.
-- Inputs: deduped (staged rows with key_seq, intermediate/int_staged__key_seq.sql), settings (one row:
-- max_value_length). Output: the rows with issues (reason codes; any: quarantined) and warnings.
with checked as (
    select
        r.*,
        concat_ws(',',
            case when r.len_household_code > s.max_value_length then 'value_too_long:household_code' end,
            case when r.t_household_code is null then 'required_missing:household_code' end,
            case when r.len_id_number > s.max_value_length then 'value_too_long:id_number' end,
            case when r.t_id_number is null then 'required_missing:id_number' end,
            case when r.len_name > s.max_value_length then 'value_too_long:name' end,
            case when r.t_name is null then 'required_missing:name' end,
            case when r.len_sex > s.max_value_length then 'value_too_long:sex' end,
            case when r.len_birth_date > s.max_value_length then 'value_too_long:birth_date' end,
            case when r.len_relation > s.max_value_length then 'value_too_long:relation' end,
            case when r.len_category > s.max_value_length then 'value_too_long:category' end,
            case when r.t_category is null then 'required_missing:category'
                 when not list_contains(['低保', '特困', '低收入', '监测对象'], r.t_category) then 'value_not_allowed:category' end,
            case when r.len_dibao_class > s.max_value_length then 'value_too_long:dibao_class' end,
            case when r.len_support_mode > s.max_value_length then 'value_too_long:support_mode' end,
            case when r.len_self_care > s.max_value_length then 'value_too_long:self_care' end,
            case when r.len_labor_ability > s.max_value_length then 'value_too_long:labor_ability' end,
            case when r.len_employment > s.max_value_length then 'value_too_long:employment' end,
            case when r.len_health > s.max_value_length then 'value_too_long:health' end,
            case when r.len_income_per_capita > s.max_value_length then 'value_too_long:income_per_capita' end,
            case when r.len_monthly_benefit > s.max_value_length then 'value_too_long:monthly_benefit' end,
            case when r.len_enrolled_on > s.max_value_length then 'value_too_long:enrolled_on' end,
            case when r.len_last_review_on > s.max_value_length then 'value_too_long:last_review_on' end,
            case when r.len_phase_out_until > s.max_value_length then 'value_too_long:phase_out_until' end,
            case when r.len_region_code > s.max_value_length then 'value_too_long:region_code' end,
            case when r.t_region_code is null then 'required_missing:region_code' end,
            case when r.len_township > s.max_value_length then 'value_too_long:township' end,
            case when r.len_village > s.max_value_length then 'value_too_long:village' end,
            case when r.len_address > s.max_value_length then 'value_too_long:address' end,
            case when r.len_phone > s.max_value_length then 'value_too_long:phone' end,
            case when coalesce(r.t_household_code, r.t_id_number, r.t_name, r.t_sex, r.t_birth_date, r.t_relation, r.t_category, r.t_dibao_class, r.t_support_mode, r.t_self_care, r.t_labor_ability, r.t_employment, r.t_health, r.t_income_per_capita, r.t_monthly_benefit, r.t_enrolled_on, r.t_last_review_on, r.t_phase_out_until, r.t_region_code, r.t_township, r.t_village, r.t_address, r.t_phone) is null then 'empty_row' end,
            -- a totals line (合计/总计/小计) exported below the data
            case when list_has_any(['合计', '总计', '小计', '合 计', '总 计'], [r.t_household_code, r.t_id_number, r.t_name, r.t_sex]) then 'summary_row' end,
            case when r.key_seq > 1 then 'duplicate_key' end
        ) as issue_text,
        concat_ws(',',
            case when r.t_sex is not null and not list_contains(['男', '女'], r.t_sex)
                 then 'value_not_allowed:sex' end,
            case when r.t_birth_date is not null and r.birth_date is null
                 then 'unparseable_date:birth_date' end,
            case when r.t_relation is not null and not list_contains(['户主', '配偶', '子女', '父母', '孙子女', '兄弟姐妹', '其他'], r.t_relation)
                 then 'value_not_allowed:relation' end,
            case when r.t_dibao_class is not null and not list_contains(['A', 'B'], r.t_dibao_class)
                 then 'value_not_allowed:dibao_class' end,
            case when r.t_support_mode is not null and not list_contains(['集中', '分散'], r.t_support_mode)
                 then 'value_not_allowed:support_mode' end,
            case when r.t_self_care is not null and not list_contains(['全自理', '半失能', '全失能'], r.t_self_care)
                 then 'value_not_allowed:self_care' end,
            case when r.t_labor_ability is not null and not list_contains(['有', '部分丧失', '无'], r.t_labor_ability)
                 then 'value_not_allowed:labor_ability' end,
            case when r.t_employment is not null and not list_contains(['在业', '灵活就业', '失业', '在校', '学龄前', '退休', '无'], r.t_employment)
                 then 'value_not_allowed:employment' end,
            case when r.t_health is not null and not list_contains(['健康', '慢性病', '重病', '残疾'], r.t_health)
                 then 'value_not_allowed:health' end,
            case when r.t_income_per_capita is not null and r.income_per_capita is null
                 then 'unparseable_amount:income_per_capita' end,
            case when r.t_monthly_benefit is not null and r.monthly_benefit is null
                 then 'unparseable_amount:monthly_benefit' end,
            case when r.t_enrolled_on is not null and r.enrolled_on is null
                 then 'unparseable_date:enrolled_on' end,
            case when r.t_last_review_on is not null and r.last_review_on is null
                 then 'unparseable_date:last_review_on' end,
            case when r.t_phase_out_until is not null and r.phase_out_until is null
                 then 'unparseable_date:phase_out_until' end
        ) as warning_text
    from deduped r
    cross join settings s
),

-- reason codes never contain a comma: the text split is cheaper than filtering a list of mostly nulls
listed as (
    select * exclude (issue_text, warning_text),
        case when issue_text = '' then []::varchar[] else string_split(issue_text, ',') end as all_issues,
        case when warning_text = '' then []::varchar[] else string_split(warning_text, ',') end as warnings
    from checked
),

final as (
    select * exclude (all_issues),
        -- an empty or totals line is that and nothing else
        case when list_contains(all_issues, 'empty_row') then ['empty_row']
             when list_contains(all_issues, 'summary_row') then ['summary_row']
             else all_issues end as issues,
        len(all_issues) > 0 as quarantined
    from listed
)

select * from final

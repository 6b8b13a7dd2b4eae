-- qua_education: the row-level checks of 学籍及资助 (教育), rendered from
-- warehouse/quarantine/_qua.sql.j2 and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`:
-- do not edit by hand. Reason codes: pipelines/transform/standardize.py.
-- Inputs: deduped (staged rows with key_seq, intermediate/int_staged__key_seq.sql), settings (one row:
-- max_value_length). Output: the rows with issues (reason codes; any: quarantined) and warnings.
with checked as (
    select
        r.*,
        concat_ws(',',
            case when r.len_id_number > s.max_value_length then 'value_too_long:id_number' end,
            case when r.t_id_number is null then 'required_missing:id_number' end,
            case when r.len_name > s.max_value_length then 'value_too_long:name' end,
            case when r.t_name is null then 'required_missing:name' end,
            case when r.len_birth_date > s.max_value_length then 'value_too_long:birth_date' end,
            case when r.len_school > s.max_value_length then 'value_too_long:school' end,
            case when r.t_school is null then 'required_missing:school' end,
            case when r.len_region_code > s.max_value_length then 'value_too_long:region_code' end,
            case when r.len_stage > s.max_value_length then 'value_too_long:stage' end,
            case when r.t_stage is null then 'required_missing:stage'
                 when not list_contains(['学前', '小学', '初中', '高中', '中职', '高职', '本科', '研究生'], r.t_stage) then 'value_not_allowed:stage' end,
            case when r.len_status > s.max_value_length then 'value_too_long:status' end,
            case when r.t_status is null then 'required_missing:status'
                 when not list_contains(['在读', '休学', '辍学', '毕业', '送教上门'], r.t_status) then 'value_not_allowed:status' end,
            case when r.len_school_year > s.max_value_length then 'value_too_long:school_year' end,
            case when r.t_school_year is null then 'required_missing:school_year' end,
            case when r.len_aid_items > s.max_value_length then 'value_too_long:aid_items' end,
            case when r.len_aid_amount > s.max_value_length then 'value_too_long:aid_amount' end,
            case when r.len_guardian_id_number > s.max_value_length then 'value_too_long:guardian_id_number' end,
            case when coalesce(r.t_id_number, r.t_name, r.t_birth_date, r.t_school, r.t_region_code, r.t_stage, r.t_status, r.t_school_year, r.t_aid_items, r.t_aid_amount, r.t_guardian_id_number) is null then 'empty_row' end,
            -- a totals line (合计/总计/小计) exported below the data
            case when list_has_any(['合计', '总计', '小计', '合 计', '总 计'], [r.t_id_number, r.t_name, r.t_birth_date, r.t_school]) then 'summary_row' end,
            case when r.key_seq > 1 then 'duplicate_key' end
        ) as issue_text,
        concat_ws(',',
            case when r.t_birth_date is not null and r.birth_date is null
                 then 'unparseable_date:birth_date' end,
            case when r.t_aid_amount is not null and r.aid_amount is null
                 then 'unparseable_amount:aid_amount' end
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

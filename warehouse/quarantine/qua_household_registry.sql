-- qua_household_registry: the row-level checks of 户籍人口 (公安), rendered from
-- warehouse/quarantine/_qua.sql.j2 and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`:
-- do not edit by hand. Reason codes: pipelines/transform/standardize.py.
-- Inputs: deduped (staged rows with key_seq, intermediate/int_staged__key_seq.sql), settings (one row:
-- max_value_length). Output: the rows with issues (reason codes; any: quarantined) and warnings.
with checked as (
    select
        r.*,
        concat_ws(',',
            case when r.len_hukou_number > s.max_value_length then 'value_too_long:hukou_number' end,
            case when r.t_hukou_number is null then 'required_missing:hukou_number' end,
            case when r.len_id_number > s.max_value_length then 'value_too_long:id_number' end,
            case when r.t_id_number is null then 'required_missing:id_number' end,
            case when r.len_name > s.max_value_length then 'value_too_long:name' end,
            case when r.t_name is null then 'required_missing:name' end,
            case when r.len_sex > s.max_value_length then 'value_too_long:sex' end,
            case when r.len_birth_date > s.max_value_length then 'value_too_long:birth_date' end,
            case when r.len_relation > s.max_value_length then 'value_too_long:relation' end,
            case when r.len_region_code > s.max_value_length then 'value_too_long:region_code' end,
            case when r.t_region_code is null then 'required_missing:region_code' end,
            case when r.len_address > s.max_value_length then 'value_too_long:address' end,
            case when r.len_status > s.max_value_length then 'value_too_long:status' end,
            case when r.t_status is null then 'required_missing:status'
                 when not list_contains(['正常', '死亡', '迁出'], r.t_status) then 'value_not_allowed:status' end,
            case when r.len_status_on > s.max_value_length then 'value_too_long:status_on' end,
            case when coalesce(r.t_hukou_number, r.t_id_number, r.t_name, r.t_sex, r.t_birth_date, r.t_relation, r.t_region_code, r.t_address, r.t_status, r.t_status_on) is null then 'empty_row' end,
            -- a totals line (合计/总计/小计) exported below the data
            case when list_has_any(['合计', '总计', '小计', '合 计', '总 计'], [r.t_hukou_number, r.t_id_number, r.t_name, r.t_sex]) then 'summary_row' end,
            case when r.key_seq > 1 then 'duplicate_key' end
        ) as issue_text,
        concat_ws(',',
            case when r.t_sex is not null and not list_contains(['男', '女'], r.t_sex)
                 then 'value_not_allowed:sex' end,
            case when r.t_birth_date is not null and r.birth_date is null
                 then 'unparseable_date:birth_date' end,
            case when r.t_relation is not null and not list_contains(['户主', '配偶', '子女', '父母', '孙子女', '兄弟姐妹', '其他'], r.t_relation)
                 then 'value_not_allowed:relation' end,
            case when r.t_status_on is not null and r.status_on is null
                 then 'unparseable_date:status_on' end
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

-- qua_medical_enrollment: the row-level checks of 医保参保登记 (医保), rendered from
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
            case when r.len_insurance_type > s.max_value_length then 'value_too_long:insurance_type' end,
            case when r.t_insurance_type is null then 'required_missing:insurance_type'
                 when not list_contains(['城乡居民', '职工'], r.t_insurance_type) then 'value_not_allowed:insurance_type' end,
            case when r.len_year > s.max_value_length then 'value_too_long:year' end,
            case when r.t_year is null then 'required_missing:year'
                 when r.year is null then 'unparseable_int:year' end,
            case when r.len_status > s.max_value_length then 'value_too_long:status' end,
            case when r.t_status is null then 'required_missing:status'
                 when not list_contains(['参保缴费', '未缴费', '暂停', '终止'], r.t_status) then 'value_not_allowed:status' end,
            case when r.len_subsidized > s.max_value_length then 'value_too_long:subsidized' end,
            case when r.len_region_code > s.max_value_length then 'value_too_long:region_code' end,
            case when coalesce(r.t_id_number, r.t_name, r.t_insurance_type, r.t_year, r.t_status, r.t_subsidized, r.t_region_code) is null then 'empty_row' end,
            -- a totals line (合计/总计/小计) exported below the data
            case when list_has_any(['合计', '总计', '小计', '合 计', '总 计'], [r.t_id_number, r.t_name, r.t_insurance_type, r.t_year]) then 'summary_row' end,
            case when r.key_seq > 1 then 'duplicate_key' end
        ) as issue_text,
        concat_ws(',',
            case when r.t_subsidized is not null and not list_contains(['是', '否'], r.t_subsidized)
                 then 'value_not_allowed:subsidized' end
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

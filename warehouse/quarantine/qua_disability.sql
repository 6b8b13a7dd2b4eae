-- qua_disability: the row-level checks of 残疾人证 (残联), rendered from
-- warehouse/quarantine/_qua.sql.j2 and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`:
-- do not edit by hand. Reason codes: pipelines/transform/standardize.py.
-- Inputs: deduped (staged rows with key_seq, intermediate/int_staged__key_seq.sql), settings (one row:
-- max_value_length). Output: the rows with issues (reason codes; any: quarantined) and warnings.
with checked as (
    select
        r.*,
        concat_ws(',',
            case when r.len_certificate_no > s.max_value_length then 'value_too_long:certificate_no' end,
            case when r.t_certificate_no is null then 'required_missing:certificate_no' end,
            case when r.len_id_number > s.max_value_length then 'value_too_long:id_number' end,
            case when r.len_name > s.max_value_length then 'value_too_long:name' end,
            case when r.t_name is null then 'required_missing:name' end,
            case when r.len_disability_type > s.max_value_length then 'value_too_long:disability_type' end,
            case when r.t_disability_type is null then 'required_missing:disability_type'
                 when not list_contains(['视力', '听力', '言语', '肢体', '智力', '精神', '多重'], r.t_disability_type) then 'value_not_allowed:disability_type' end,
            case when r.len_grade > s.max_value_length then 'value_too_long:grade' end,
            case when r.t_grade is null then 'required_missing:grade'
                 when not list_contains(['一级', '二级', '三级', '四级', '1', '2', '3', '4'], r.t_grade) then 'value_not_allowed:grade' end,
            case when r.len_issued_on > s.max_value_length then 'value_too_long:issued_on' end,
            case when r.len_living_subsidy > s.max_value_length then 'value_too_long:living_subsidy' end,
            case when r.len_care_subsidy > s.max_value_length then 'value_too_long:care_subsidy' end,
            case when r.len_status > s.max_value_length then 'value_too_long:status' end,
            case when coalesce(r.t_certificate_no, r.t_id_number, r.t_name, r.t_disability_type, r.t_grade, r.t_issued_on, r.t_living_subsidy, r.t_care_subsidy, r.t_status) is null then 'empty_row' end,
            -- a totals line (合计/总计/小计) exported below the data
            case when list_has_any(['合计', '总计', '小计', '合 计', '总 计'], [r.t_certificate_no, r.t_id_number, r.t_name, r.t_disability_type]) then 'summary_row' end,
            case when r.key_seq > 1 then 'duplicate_key' end
        ) as issue_text,
        concat_ws(',',
            case when r.t_issued_on is not null and r.issued_on is null
                 then 'unparseable_date:issued_on' end,
            case when r.t_living_subsidy is not null and r.living_subsidy is null
                 then 'unparseable_amount:living_subsidy' end,
            case when r.t_care_subsidy is not null and r.care_subsidy is null
                 then 'unparseable_amount:care_subsidy' end,
            case when r.t_status is not null and not list_contains(['有效', '注销'], r.t_status)
                 then 'value_not_allowed:status' end
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

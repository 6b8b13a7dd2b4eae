-- qua_housing: the row-level checks of 住房安全与保障 (住建), rendered from
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
            case when r.len_region_code > s.max_value_length then 'value_too_long:region_code' end,
            case when r.t_region_code is null then 'required_missing:region_code' end,
            case when r.len_address > s.max_value_length then 'value_too_long:address' end,
            case when r.len_safety_rating > s.max_value_length then 'value_too_long:safety_rating' end,
            case when r.t_safety_rating is null then 'required_missing:safety_rating'
                 when not list_contains(['A', 'B', 'C', 'D'], r.t_safety_rating) then 'value_not_allowed:safety_rating' end,
            case when r.len_renovation > s.max_value_length then 'value_too_long:renovation' end,
            case when r.len_housing_needy > s.max_value_length then 'value_too_long:housing_needy' end,
            case when r.len_public_rental > s.max_value_length then 'value_too_long:public_rental' end,
            case when r.len_rent_subsidy > s.max_value_length then 'value_too_long:rent_subsidy' end,
            case when r.len_assessed_on > s.max_value_length then 'value_too_long:assessed_on' end,
            case when coalesce(r.t_id_number, r.t_name, r.t_region_code, r.t_address, r.t_safety_rating, r.t_renovation, r.t_housing_needy, r.t_public_rental, r.t_rent_subsidy, r.t_assessed_on) is null then 'empty_row' end,
            -- a totals line (合计/总计/小计) exported below the data
            case when list_has_any(['合计', '总计', '小计', '合 计', '总 计'], [r.t_id_number, r.t_name, r.t_region_code, r.t_address]) then 'summary_row' end,
            case when r.key_seq > 1 then 'duplicate_key' end
        ) as issue_text,
        concat_ws(',',
            case when r.t_renovation is not null and not list_contains(['未改造', '改造中', '已改造'], r.t_renovation)
                 then 'value_not_allowed:renovation' end,
            case when r.t_housing_needy is not null and not list_contains(['是', '否'], r.t_housing_needy)
                 then 'value_not_allowed:housing_needy' end,
            case when r.t_public_rental is not null and not list_contains(['是', '否'], r.t_public_rental)
                 then 'value_not_allowed:public_rental' end,
            case when r.t_rent_subsidy is not null and r.rent_subsidy is null
                 then 'unparseable_amount:rent_subsidy' end,
            case when r.t_assessed_on is not null and r.assessed_on is null
                 then 'unparseable_date:assessed_on' end
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

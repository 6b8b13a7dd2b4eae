-- qua_medical_settlements: the row-level checks of 医保结算明细 (医保), rendered from
-- warehouse/quarantine/_qua.sql.j2 and pipelines/core/feeds.py by `python -m pipelines.transform.sql_layers`:
-- do not edit by hand. Reason codes: pipelines/transform/standardize.py.
-- Inputs: deduped (staged rows with key_seq, intermediate/int_staged__key_seq.sql), settings (one row:
-- max_value_length), known_settlements (the settlement IDs a
-- reversal may point at). Output: the rows with issues (reason codes; any: quarantined) and warnings.
with checked as (
    select
        r.*,
        concat_ws(',',
            case when r.len_settlement_id > s.max_value_length then 'value_too_long:settlement_id' end,
            case when r.t_settlement_id is null then 'required_missing:settlement_id' end,
            case when r.len_id_number > s.max_value_length then 'value_too_long:id_number' end,
            case when r.t_id_number is null then 'required_missing:id_number' end,
            case when r.len_name > s.max_value_length then 'value_too_long:name' end,
            case when r.t_name is null then 'required_missing:name' end,
            case when r.len_insurance_type > s.max_value_length then 'value_too_long:insurance_type' end,
            case when r.t_insurance_type is null then 'required_missing:insurance_type'
                 when not list_contains(['城乡居民', '职工'], r.t_insurance_type) then 'value_not_allowed:insurance_type' end,
            case when r.len_medical_category > s.max_value_length then 'value_too_long:medical_category' end,
            case when r.len_hospital > s.max_value_length then 'value_too_long:hospital' end,
            case when r.len_admitted_on > s.max_value_length then 'value_too_long:admitted_on' end,
            case when r.len_discharged_on > s.max_value_length then 'value_too_long:discharged_on' end,
            case when r.len_settled_on > s.max_value_length then 'value_too_long:settled_on' end,
            case when r.t_settled_on is null then 'required_missing:settled_on'
                 when r.settled_on is null then 'unparseable_date:settled_on' end,
            case when r.len_total_cost > s.max_value_length then 'value_too_long:total_cost' end,
            case when r.t_total_cost is null then 'required_missing:total_cost'
                 when r.total_cost is null then 'unparseable_amount:total_cost' end,
            case when r.len_compliant_cost > s.max_value_length then 'value_too_long:compliant_cost' end,
            case when r.len_fund_paid > s.max_value_length then 'value_too_long:fund_paid' end,
            case when r.len_critical_illness_paid > s.max_value_length then 'value_too_long:critical_illness_paid' end,
            case when r.len_assistance_paid > s.max_value_length then 'value_too_long:assistance_paid' end,
            case when r.len_other_paid > s.max_value_length then 'value_too_long:other_paid' end,
            case when r.len_oop_compliant > s.max_value_length then 'value_too_long:oop_compliant' end,
            case when r.t_oop_compliant is null then 'required_missing:oop_compliant'
                 when r.oop_compliant is null then 'unparseable_amount:oop_compliant' end,
            case when r.len_oop_total > s.max_value_length then 'value_too_long:oop_total' end,
            case when r.len_insured_identity > s.max_value_length then 'value_too_long:insured_identity' end,
            case when r.len_reverses > s.max_value_length then 'value_too_long:reverses' end,
            case when coalesce(r.t_settlement_id, r.t_id_number, r.t_name, r.t_insurance_type, r.t_medical_category, r.t_hospital, r.t_admitted_on, r.t_discharged_on, r.t_settled_on, r.t_total_cost, r.t_compliant_cost, r.t_fund_paid, r.t_critical_illness_paid, r.t_assistance_paid, r.t_other_paid, r.t_oop_compliant, r.t_oop_total, r.t_insured_identity, r.t_reverses) is null then 'empty_row' end,
            -- a totals line (合计/总计/小计) exported below the data
            case when list_has_any(['合计', '总计', '小计', '合 计', '总 计'], [r.t_settlement_id, r.t_id_number, r.t_name, r.t_insurance_type]) then 'summary_row' end,
            case when r.key_seq > 1 then 'duplicate_key' end,
            case when r.t_reverses is null and r.total_cost < 0 then 'negative_amount:total_cost' end,
            case when r.t_reverses is null and r.compliant_cost < 0 then 'negative_amount:compliant_cost' end,
            case when r.t_reverses is null and r.fund_paid < 0 then 'negative_amount:fund_paid' end,
            case when r.t_reverses is null and r.critical_illness_paid < 0 then 'negative_amount:critical_illness_paid' end,
            case when r.t_reverses is null and r.assistance_paid < 0 then 'negative_amount:assistance_paid' end,
            case when r.t_reverses is null and r.other_paid < 0 then 'negative_amount:other_paid' end,
            case when r.t_reverses is null and r.oop_compliant < 0 then 'negative_amount:oop_compliant' end,
            case when r.t_reverses is null and r.oop_total < 0 then 'negative_amount:oop_total' end,
            case when r.t_reverses is not null
                  and r.t_reverses not in (select settlement_id from known_settlements) then 'unknown_reversal' end
        ) as issue_text,
        concat_ws(',',
            case when r.t_medical_category is not null and not list_contains(['住院', '门诊慢特病', '普通门诊'], r.t_medical_category)
                 then 'value_not_allowed:medical_category' end,
            case when r.t_admitted_on is not null and r.admitted_on is null
                 then 'unparseable_date:admitted_on' end,
            case when r.t_discharged_on is not null and r.discharged_on is null
                 then 'unparseable_date:discharged_on' end,
            case when r.t_compliant_cost is not null and r.compliant_cost is null
                 then 'unparseable_amount:compliant_cost' end,
            case when r.t_fund_paid is not null and r.fund_paid is null
                 then 'unparseable_amount:fund_paid' end,
            case when r.t_critical_illness_paid is not null and r.critical_illness_paid is null
                 then 'unparseable_amount:critical_illness_paid' end,
            case when r.t_assistance_paid is not null and r.assistance_paid is null
                 then 'unparseable_amount:assistance_paid' end,
            case when r.t_other_paid is not null and r.other_paid is null
                 then 'unparseable_amount:other_paid' end,
            case when r.t_oop_total is not null and r.oop_total is null
                 then 'unparseable_amount:oop_total' end,
            case when r.t_insured_identity is not null and not list_contains(['普通', '特困', '低保', '低收入', '监测对象'], r.t_insured_identity)
                 then 'value_not_allowed:insured_identity' end
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

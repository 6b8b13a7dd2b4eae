-- Medical settlements (医保结算) as they stand tonight: one row per original settlement, with the
-- reversals (冲销) that point at it netted in, and the person its row is linked to.
-- A reversal row carries negative amounts and `reverses` = the settlement it cancels; a re-bill
-- is an ordinary new settlement and stands on its own.
-- referred_to: the county of the file this settlement was sent to by the province exchange
-- (pipelines/outputs/exchange.py; int.referral): the patient lives there and that county judges it.
create or replace temp table fct_settlement as
with settlements as (
    select s.*, d.source_file
    from stg.medical_settlements s
    join meta.delivery d using (delivery_id)
    where not s.quarantined and s.delivered_on <= getvariable('as_of')
    -- a settlement delivered again counts once, in its latest version
    qualify row_number() over (
        partition by s.settlement_id order by s.delivered_on desc, s.delivery_id desc, s.row_number desc
    ) = 1
),
reversals as (
    select reverses as settlement_id,
           sum(oop_compliant) as reversed_oop_compliant,
           list(settlement_id order by settlement_id) as reversal_ids
    from settlements
    where reverses is not null
    group by reverses
),
linked as (
    select s.*, l.person_id, l.method as link_method, l.score as link_score
    from settlements s
    left join int.link l
        on l.feed = 'medical_settlements' and l.delivery_id = s.delivery_id and l.row_number = s.row_number
),
final as (
    select s.*,
           coalesce(r.reversed_oop_compliant, 0) as reversed_oop_compliant,
           r.reversal_ids,
           s.oop_compliant + coalesce(r.reversed_oop_compliant, 0) as net_oop_compliant,
           f.referred_to
    from linked s
    left join reversals r using (settlement_id)
    left join (select settlement_id, min(referred_to) as referred_to from int.referral
               where exchanged_on <= getvariable('as_of') group by settlement_id) f using (settlement_id)
    where s.reverses is null
)
select * from final;

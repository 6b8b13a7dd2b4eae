-- Alerts of the report's counties with the days that matter to the month: raised (首次预警), condition
-- cleared (已消除), closed by casework (已办结, with its outcome), and the casework deadline
-- (首次预警 + the deadline days of pipelines/policy/casework.yaml: rpt_deadline). An alert closed
-- before closing days were recorded counts as closed on the last night that saw it.
-- Open at the report's day (月末未办结): raised by then, not closed by casework by then, and its
-- condition not cleared by then; an alert whose condition cleared but whose case is not closed is
-- counted apart (条件消除未办结), so that the two together are the cases casework has not closed.
-- (marts.alert keeps an alert's latest clearing only: for an earlier month, an alert cleared then
-- and opened again since counts as open.)
create or replace temp table rpt_alert as
with scoped as (
    select a.*,
           left(a.region_code, 6) as county_code,
           left(a.region_code, 9) as township_code,
           case when a.status = 'closed' then coalesce(a.closed_on, a.last_seen_on) end as closed_day
    from marts.alert a
    where getvariable('rpt_county') = '' or left(a.region_code, 6) = getvariable('rpt_county')
),
final as (
    select s.*, coalesce(s.township, '(未知乡镇)') as township_name,
           s.first_raised_on + coalesce(d.days, getvariable('rpt_deadline_default'))::integer as deadline,
           s.first_raised_on <= getvariable('rpt_end')
               and (s.closed_day is null or s.closed_day > getvariable('rpt_end'))
               and (s.cleared_on is null or s.cleared_on > getvariable('rpt_end')) as open_at_end,
           s.first_raised_on <= getvariable('rpt_end')
               and (s.closed_day is null or s.closed_day > getvariable('rpt_end'))
               and s.cleared_on <= getvariable('rpt_end') as cleared_not_closed
    from scoped s
    left join rpt_deadline d using (rule_id)
)
select * from final;

-- Rules that did not run on nights of the month because a feed they need was not in force (never
-- delivered, or older than its freshness limit: pipelines/policy/delivery.yaml): per rule, feed and
-- reason, how many nights, the first and last of them, and whether the report's last night was one
-- (then the rule's alerts in this report stand as that feed last left them).
with skips as (
    select * from meta.rule_skip
    where as_of between getvariable('rpt_start') and getvariable('rpt_end')
),
last_night as (
    select max(as_of) as as_of from meta.run
    where status = 'succeeded' and as_of <= getvariable('rpt_end')
),
final as (
    select s.rule_id, s.feed, s.reason,
           count(*) as nights,
           min(s.as_of) as first_night,
           max(s.as_of) as last_night,
           arg_max(s.last_delivered_on, s.as_of) as last_delivered_on,
           arg_max(s.freshness_days, s.as_of) as freshness_days,
           bool_or(s.as_of = l.as_of) as on_report_day
    from skips s
    cross join last_night l
    group by s.rule_id, s.feed, s.reason
)
select * from final
order by rule_id, feed, reason

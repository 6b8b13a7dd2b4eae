-- Data quality of the month's deliveries: quarantined rows (and warnings: rows used, an odd optional
-- value ignored) by feed and reason (the message names the column, never a value), and each file that
-- was not used (rejected or held) with why.
with month_deliveries as (
    select * from meta.delivery
    where delivered_on between getvariable('rpt_start') and getvariable('rpt_end') and outcome <> 'duplicate'
),
row_reasons as (
    select d.feed, 'row' as kind, i.severity, i.reason_code, i.message as reason, null as source_file,
           count(distinct (i.delivery_id, i.row_number)) as rows
    from meta.row_issue i
    join month_deliveries d using (delivery_id)
    where d.outcome in ('loaded', 'loaded_with_quarantine')
    group by all
),
files as (
    select feed, 'file' as kind, outcome as severity, outcome as reason_code, reason, source_file,
           rows_delivered as rows
    from month_deliveries
    where outcome in ('rejected', 'held')
)
select * from row_reasons
union all
select * from files
order by feed, kind desc, rows desc, reason_code, reason

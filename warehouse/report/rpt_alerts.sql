-- Alerts by county, township and rule during the month: raised, condition cleared, closed by outcome,
-- still open at the month's end (not closed by casework, condition not cleared: rpt__alert.sql), of
-- which overdue, and cleared but not closed by casework.
select county_code, township_code, township_name as township, rule_id,
       count(*) filter (where first_raised_on between getvariable('rpt_start') and getvariable('rpt_end')) as raised,
       count(*) filter (where cleared_on between getvariable('rpt_start') and getvariable('rpt_end')) as cleared,
       count(*) filter (where closed_day between getvariable('rpt_start') and getvariable('rpt_end')) as closed,
       count(*) filter (where closed_day between getvariable('rpt_start') and getvariable('rpt_end')
                        and outcome = 'assisted') as closed_assisted,
       count(*) filter (where closed_day between getvariable('rpt_start') and getvariable('rpt_end')
                        and outcome = 'referred') as closed_referred,
       count(*) filter (where closed_day between getvariable('rpt_start') and getvariable('rpt_end')
                        and outcome = 'not_eligible') as closed_not_eligible,
       count(*) filter (where closed_day between getvariable('rpt_start') and getvariable('rpt_end')
                        and outcome = 'false_alarm') as closed_false_alarm,
       count(*) filter (where open_at_end) as open_at_end,
       count(*) filter (where open_at_end and deadline < getvariable('rpt_end')) as overdue,
       count(*) filter (where cleared_not_closed) as cleared_not_closed
from rpt_alert
where first_raised_on <= getvariable('rpt_end')
group by all
having raised + cleared + closed + open_at_end + cleared_not_closed > 0
order by county_code, township_code, rule_id

-- Alerts not closed by casework at the month's end and past their deadline, oldest first; the
-- subject masked (ID: first 6 and last 4; name: its first character).
select a.county_code, a.township_code, a.township_name as township, a.rule_id, a.alert_id,
       mask_ids_in(coalesce(hp.household_code, case when a.household_key like 'CA:%' then substr(a.household_key, 4) end))
           as household_code,
       mask_id(p.id_number) as id_number, mask_name(p.name) as name,
       a.first_raised_on, a.deadline,
       (getvariable('rpt_end') - a.deadline)::integer as days_overdue,
       a.status
from rpt_alert a
left join int.person p on p.person_id = a.person_id
left join marts.household_profile hp on hp.household_key = a.household_key
where a.open_at_end and a.deadline < getvariable('rpt_end')
order by a.deadline, a.alert_id

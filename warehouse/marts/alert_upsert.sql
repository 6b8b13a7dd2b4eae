-- Alerts behave like records, one per rule, subject and period: tonight's hits raise new alerts,
-- update the live ones (last seen, figure, evidence, rule version) and clear the live ones whose
-- condition no longer holds (marked with the date, not deleted). A cleared alert whose condition
-- returns within its period is opened again. A closed alert (casework done, with an outcome) stays
-- closed for its period: the same condition in a new period is a new alert (the period is part of
-- the alert's id). Live = any status but cleared and closed (casework statuses stay as they are).
-- A night older than an alert's last sighting (a backfill) neither rewrites nor clears it.
create or replace temp table alert_change as
select h.alert_id,
       case when a.alert_id is null then 'new'
            when a.status = 'closed' then 'unchanged'
            when a.last_seen_on > getvariable('as_of') or a.cleared_on > getvariable('as_of') then 'unchanged'
            when a.status = 'cleared' or a.figure <> h.figure or a.last_seen_on < getvariable('as_of')
                 or a.evidence::varchar <> h.evidence::varchar or a.rule_version <> h.rule_version
                 or a.evidence_omitted is distinct from h.evidence_omitted
                then 'updated'
            else 'unchanged' end as change
from marts.rule_hit h
left join marts.alert a using (alert_id);

update marts.alert a set
    rule_version = h.rule_version,
    household_key = h.household_key,
    figure = h.figure,
    threshold = h.threshold,
    status = case when a.status = 'cleared' then 'open' else a.status end,
    cleared_on = null,
    last_seen_on = getvariable('as_of'),
    region_code = h.region_code,
    township = h.township,
    evidence = h.evidence,
    evidence_omitted = h.evidence_omitted
from marts.rule_hit h
join alert_change c using (alert_id)
where a.alert_id = h.alert_id and c.change = 'updated';

insert into marts.alert (alert_id, rule_id, rule_version, subject_type, person_id, household_key, period,
                         figure, threshold, status, first_raised_on, last_seen_on, cleared_on,
                         region_code, township, evidence, evidence_omitted)
select h.alert_id, h.rule_id, h.rule_version, h.subject_type, h.person_id, h.household_key, h.period,
       h.figure, h.threshold, 'open', getvariable('as_of'), getvariable('as_of'), null,
       h.region_code, h.township, h.evidence, h.evidence_omitted
from marts.rule_hit h
join alert_change c using (alert_id)
where c.change = 'new';

insert into alert_change
select a.alert_id, 'cleared'
from marts.alert a
where a.status not in ('cleared', 'closed')
  and list_contains(getvariable('rules_run'), a.rule_id)
  and a.last_seen_on < getvariable('as_of')
  and a.alert_id not in (select alert_id from marts.rule_hit);

update marts.alert set status = 'cleared', cleared_on = getvariable('as_of')
where alert_id in (select alert_id from alert_change where change = 'cleared');

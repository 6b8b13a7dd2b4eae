-- Alerts behave like records: tonight's hits raise new alerts, update the open ones (last seen,
-- figure, evidence) and clear the ones whose condition no longer holds (marked, not deleted).
-- A night older than an alert's last sighting (a backfill) neither rewrites nor clears it.
create or replace temp table alert_change as
select h.alert_id,
       case when a.alert_id is null then 'new'
            when a.last_seen_on > getvariable('as_of') or a.cleared_on > getvariable('as_of') then 'unchanged'
            when a.status <> 'open' or a.figure <> h.figure or a.last_seen_on < getvariable('as_of')
                 or a.evidence::varchar <> h.evidence::varchar or a.rule_version <> h.rule_version
                then 'updated'
            else 'unchanged' end as change
from marts.rule_hit h
left join marts.alert a using (alert_id);

update marts.alert a set
    rule_version = h.rule_version,
    household_key = h.household_key,
    figure = h.figure,
    threshold = h.threshold,
    status = 'open',
    cleared_on = null,
    last_seen_on = getvariable('as_of'),
    region_code = h.region_code,
    township = h.township,
    evidence = h.evidence
from marts.rule_hit h
join alert_change c using (alert_id)
where a.alert_id = h.alert_id and c.change = 'updated';

insert into marts.alert
select h.alert_id, h.rule_id, h.rule_version, h.subject_type, h.person_id, h.household_key, h.period,
       h.figure, h.threshold, 'open', getvariable('as_of'), getvariable('as_of'), null,
       h.region_code, h.township, h.evidence
from marts.rule_hit h
join alert_change c using (alert_id)
where c.change = 'new';

insert into alert_change
select a.alert_id, 'cleared'
from marts.alert a
where a.status = 'open'
  and list_contains(getvariable('rules_run'), a.rule_id)
  and a.last_seen_on < getvariable('as_of')
  and a.alert_id not in (select alert_id from marts.rule_hit);

update marts.alert set status = 'cleared', cleared_on = getvariable('as_of')
where alert_id in (select alert_id from alert_change where change = 'cleared');

-- Disability certificates in force tonight: the latest disability snapshot on or before the night,
-- valid ones only (not 注销), each with the person its row is linked to and the row it came from,
-- for the disability rules, their evidence and the household profile.
create or replace temp table dim_certificate as
select l.person_id, c.certificate_no, c.disability_type, c.grade, grade_num(c.grade) as grade_n, c.issued_on,
       c.living_subsidy, c.care_subsidy, d.source_file, c.row_number, c.record_key, l.method, l.score
from stg.disability c
join meta.delivery d using (delivery_id)
join int.link l on l.feed = 'disability' and l.delivery_id = c.delivery_id and l.row_number = c.row_number
where not c.quarantined and coalesce(c.status, '有效') <> '注销'
  and c.delivered_on = (select max(delivered_on) from stg.disability where delivered_on <= getvariable('as_of'));

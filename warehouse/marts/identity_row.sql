-- Rows whose own ID number is their person's (linked exact, normalised or by certificate) and that
-- differ from the person in name, birth date or sex, with the reference name of the person: the latest
-- household-registry name (公安 holds the identity), else the latest roster name. Input of IDENTITY_CONFLICT; the distinct (name, reference name) pairs that differ
-- are judged in Python (traditional characters, homophones: matchers/names.py) into
-- marts.name_judgement before hit__identity_conflict.sql runs.
create or replace table marts.identity_row as
with rows as (
    select r.feed, r.delivery_id, r.row_number, r.record_key, r.name_norm, r.birth_date, r.sex, r.delivered_on,
           l.person_id, l.method, l.score
    from int.feed_row r
    join int.link l using (feed, delivery_id, row_number)
    where not r.quarantined and r.delivered_on <= getvariable('as_of')
      and list_contains(getvariable('ic_methods'), l.method)
),
reference as (
    select person_id, name_norm as reference_name, feed as reference_feed, delivery_id as reference_delivery_id,
           row_number as reference_row_number, record_key as reference_record_key
    from rows
    where feed in ('household_registry', 'civil_affairs') and name_norm is not null
    qualify row_number() over (
        partition by person_id order by feed = 'household_registry' desc, delivered_on desc, row_number desc
    ) = 1
)
select r.*, p.id_number, f.reference_name, f.reference_feed, f.reference_delivery_id, f.reference_row_number,
       f.reference_record_key
from rows r
join int.person p using (person_id)
left join reference f using (person_id)
-- only rows that can conflict: a name other than the reference, or a birth date or sex other than
-- the ID's (nearly every row agrees on all three, and need not be written out every night)
where r.name_norm <> f.reference_name or r.birth_date <> id_birth_date(p.id_number) or r.sex <> id_sex(p.id_number);

create or replace table marts.name_pair as
select distinct name_norm as name, reference_name
from marts.identity_row
where name_norm <> reference_name;

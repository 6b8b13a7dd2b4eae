-- Rows whose own ID number is their person's (linked exact, normalised or by certificate) and that
-- differ from the person in name, birth date or sex, with the reference name of the person: the latest
-- household-registry name (公安 holds the identity), else the latest roster name. Input of IDENTITY_CONFLICT; the distinct (name, reference name) pairs that differ
-- are judged in Python (traditional characters, homophones: matchers/names.py) into
-- marts.name_judgement before hit__identity_conflict.sql runs. Input: identity_links, the links of
-- the persons to (re)build: every link, or those of the persons the night's linkage changed
-- (int.person_change): a person's rows here depend on that person's rows, links and record alone,
-- so pipelines/rules/engine.py replaces the rows of those persons.
with rows as (
    select r.feed, r.delivery_id, r.row_number, r.record_key, r.name_norm, r.birth_date, r.sex, r.delivered_on,
           l.person_id, l.method, l.score
    from int.feed_row r
    join identity_links l using (feed, delivery_id, row_number)
    where not r.quarantined and r.delivered_on <= getvariable('as_of')
      and list_contains(getvariable('ic_methods'), l.method)
),
reference as (
    -- the person's latest registry row, else latest roster row (a grouping, not a sort of every row)
    select person_id,
           arg_max({name: name_norm, feed: feed, delivery_id: delivery_id, row_number: row_number,
                    record_key: record_key},
                   (feed = 'household_registry', delivered_on, row_number, delivery_id)) as ref
    from rows
    where feed in ('household_registry', 'civil_affairs') and name_norm is not null
    group by person_id
)
select r.*, p.id_number, f.ref.name as reference_name, f.ref.feed as reference_feed,
       f.ref.delivery_id as reference_delivery_id, f.ref.row_number as reference_row_number,
       f.ref.record_key as reference_record_key
from rows r
join int.person p using (person_id)
left join reference f using (person_id)
-- only rows that can conflict: a name other than the reference, or a birth date or sex other than
-- the ID's (int.person's birth_date and sex are the ID's; nearly every row agrees on all three)
where r.name_norm <> f.ref.name or r.birth_date <> p.birth_date or r.sex <> p.sex

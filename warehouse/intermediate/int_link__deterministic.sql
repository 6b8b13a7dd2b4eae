-- Deterministic linkage: a row whose normalised ID number is valid belongs to that person.
-- method: exact (delivered as the canonical ID), normalised (spaces, full-width digits, lower-case
-- x or a 15-digit legacy number were folded), certificate (a disability row without an ID,
-- derived from its certificate number). Rows already linked on an earlier night keep their link.
-- Input: link_scope, the rows the night has to look at (see int_person_key.sql).
insert into int.link
with candidates as (
    select r.* from link_scope r
    anti join int.link l
        on l.feed = r.feed and l.delivery_id = r.delivery_id and l.row_number = r.row_number
    where r.id_issue is null and not r.quarantined
),
final as (
    select c.feed, c.delivery_id, c.row_number, k.person_id,
           case when c.id_source = 'certificate' then 'certificate'
                when c.raw_id_number = c.id_number then 'exact'
                else 'normalised' end as method,
           1.0 as score,
           'deterministic' as matcher,
           to_json({id_source: c.id_source, normalised: c.raw_id_number is distinct from c.id_number}) as compared,
           getvariable('as_of') as linked_on
    from candidates c
    join int.person_key k on k.id_number = c.id_number
)
select * from final;

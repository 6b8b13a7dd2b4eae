-- Person master keys: every valid ID number seen in any feed becomes a person, once. An ID seen
-- before keeps its person_id forever; new IDs are numbered after the highest one in ID order,
-- so the same deliveries give the same person_ids on any machine. Input: link_scope, the rows the
-- night has to look at (every row, or the rows of deliveries new since the last night: IDs of
-- the others have their person already; see pipelines/transform/link.py).
insert into int.person_key
with seen as (
    select distinct id_number from link_scope where id_issue is null and not quarantined
),
new as (
    select s.id_number from seen s anti join int.person_key k on k.id_number = s.id_number
),
final as (
    select id_number,
           (select coalesce(max(person_id), 0) from int.person_key)
               + row_number() over (order by id_number) as person_id,
           getvariable('as_of') as first_seen_on
    from new
)
select * from final;

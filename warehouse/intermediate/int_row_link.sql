-- Every feed row with its link, or the reason it has none yet: what `doudi links export` shows.
create or replace view int.row_link as
select r.feed, d.source_file, r.row_number, r.record_key, r.raw_id_number, r.delivery_id,
       r.delivered_on, l.person_id, k.id_number, l.method, l.score, l.matcher, l.compared,
       case when r.quarantined then 'quarantined:' || array_to_string(r.issues, ',')
            when l.person_id is null then coalesce(r.id_issue, 'no_match') end as unlinked_reason
from int.feed_row r
join meta.delivery d using (delivery_id)
left join int.link l
    on l.feed = r.feed and l.delivery_id = r.delivery_id and l.row_number = r.row_number
left join int.person_key k on k.person_id = l.person_id;

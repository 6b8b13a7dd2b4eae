-- Every delivered row with its link, or the reason it has none yet: what `doudi links export`
-- shows. Rows that could not even be split into columns (malformed CSV lines) are listed too.
create or replace view int.row_link as
with feed_rows as (
    select r.feed, d.source_file, r.row_number, r.record_key, r.raw_id_number, r.delivery_id,
           r.delivered_on, l.person_id, k.id_number, l.method, l.score, l.matcher, l.compared,
           case when r.quarantined then 'quarantined:' || array_to_string(r.issues, ',')
                when l.person_id is null then coalesce(r.id_issue, 'no_match') end as unlinked_reason,
           r.record_key_masked, r.raw_id_masked
    from int.feed_row r
    join meta.delivery d using (delivery_id)
    left join int.link l
        on l.feed = r.feed and l.delivery_id = r.delivery_id and l.row_number = r.row_number
    left join int.person_key k on k.person_id = l.person_id
),
malformed as (
    select i.feed, d.source_file, i.row_number, null as record_key, null as raw_id_number, i.delivery_id,
           d.delivered_on, null::bigint as person_id, null as id_number, null as method, null::double as score,
           null as matcher, null::json as compared, 'quarantined:malformed_row' as unlinked_reason,
           null as record_key_masked, null as raw_id_masked
    from meta.row_issue i
    join meta.delivery d using (delivery_id)
    where i.reason_code = 'malformed_row' and d.outcome in ('loaded', 'loaded_with_quarantine')
      and d.delivered_on <= (select as_of from int.night)
),
final as (
    select * from feed_rows
    union all
    select * from malformed
)
select * from final;

-- A person's links over time: current links are valid from the night that made them; replaced ones
-- (a data officer's decision, a corrected file) carry the night they ended.
create or replace view int.person_link as
select person_id, feed, delivery_id, row_number, method, score, linked_on as valid_from, null::date as valid_to
from int.link
union all
select person_id, feed, delivery_id, row_number, method, score, linked_on, valid_to
from int.link_history;

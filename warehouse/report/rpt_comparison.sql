-- The cross-department comparison (数据比对结果) per feed and month of delivery, over the trend window:
-- files and rows delivered, loaded and quarantined (meta.delivery: delivered = loaded + quarantined,
-- a rejected file counting all its rows; a duplicate file is the same rows again and is left out),
-- and what became of the rows in linkage (int.row_link): linked exactly (own ID, normalised ID,
-- certificate, or confirmed by a data officer), linked fuzzily (the probabilistic matcher), unmatched
-- (no person), quarantined; conflicting: rows cited as evidence by an IDENTITY_CONFLICT alert (one ID
-- with another name, or an ID contradicting the row's birth date or sex).
with months as (  -- the trend window, from the first month with a delivery
    select strftime(m, '%Y-%m') as month
    from range(greatest(date_trunc('month', getvariable('rpt_trend_start')),
                        (select date_trunc('month', min(delivered_on)) from meta.delivery)),
               getvariable('rpt_end') + 1, interval 1 month) t(m)
),
feeds as (
    select unnest(getvariable('rpt_feeds')) as feed
),
deliveries as (
    select feed, strftime(delivered_on, '%Y-%m') as month,
           count(*) as files,
           count(*) filter (where outcome in ('rejected', 'held')) as files_not_used,
           sum(rows_delivered)::bigint as rows_delivered, sum(rows_loaded)::bigint as rows_loaded,
           sum(rows_quarantined)::bigint as rows_quarantined
    from meta.delivery
    where outcome <> 'duplicate'
      and delivered_on between date_trunc('month', getvariable('rpt_trend_start')) and getvariable('rpt_end')
    group by all
),
conflict_rows as (
    select distinct e ->> 'feed' as feed, e ->> 'source_file' as source_file, (e ->> 'row_number')::bigint as row_number
    from (select unnest(evidence::json[]) as e from marts.alert where rule_id = 'IDENTITY_CONFLICT')
),
rows as (
    select l.feed, strftime(l.delivered_on, '%Y-%m') as month,
           count(*) filter (where l.person_id is not null and l.method <> 'probabilistic') as linked_exact,
           count(*) filter (where l.method = 'probabilistic') as linked_fuzzy,
           count(*) filter (where l.person_id is null and l.unlinked_reason not like 'quarantined%') as unmatched,
           count(*) filter (where l.unlinked_reason like 'quarantined%') as rows_quarantined_in_force,
           count(c.row_number) as conflicting
    from int.row_link l
    left join conflict_rows c using (feed, source_file, row_number)
    where l.delivered_on between date_trunc('month', getvariable('rpt_trend_start')) and getvariable('rpt_end')
    group by all
),
final as (
    select f.feed, m.month,
           coalesce(d.files, 0) as files, coalesce(d.files_not_used, 0) as files_not_used,
           coalesce(d.rows_delivered, 0) as rows_delivered, coalesce(d.rows_loaded, 0) as rows_loaded,
           coalesce(d.rows_quarantined, 0) as rows_quarantined,
           coalesce(r.linked_exact, 0) as linked_exact, coalesce(r.linked_fuzzy, 0) as linked_fuzzy,
           coalesce(r.unmatched, 0) as unmatched, coalesce(r.conflicting, 0) as conflicting
    from feeds f cross join months m
    left join deliveries d using (feed, month)
    left join rows r using (feed, month)
)
select * from final
order by month, list_position(getvariable('rpt_feeds'), feed)

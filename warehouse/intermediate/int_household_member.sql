-- Household membership and roster status over time, from the snapshots of the civil-affairs
-- roster (家庭编号) and the household registry (户号). A spell is a run of consecutive snapshots
-- in which a person sits in the same household with the same category; it is valid from its
-- first snapshot (or, on the roster, from 纳入日期 when that is given) until the first snapshot
-- without it (valid_to, exclusive; null while it lasts). Each feed's spells depend on that feed
-- alone: this select gives those of the feeds in getvariable('hm_feeds'), and pipelines/transform/link.py
-- rebuilds a feed's part only when its snapshots changed.
with snapshots as (
    select feed, delivered_on,
           dense_rank() over (partition by feed order by delivered_on) as snap_idx
    from (
        select distinct 'civil_affairs' as feed, delivered_on from stg.civil_affairs
        union
        select distinct 'household_registry', delivered_on from stg.household_registry
    )
    where delivered_on <= getvariable('as_of') and list_contains(getvariable('hm_feeds'), feed)
),
members as (
    select 'civil_affairs' as feed, 'CA:' || household_code as household_key, household_code as code,
           id_number, delivered_on, category, dibao_class, support_mode, relation, region_code,
           township, village, enrolled_on, null as registry_status, delivery_id, row_number
    from stg.civil_affairs where not quarantined and id_issue is null
      and list_contains(getvariable('hm_feeds'), 'civil_affairs')
    union all
    select 'household_registry', 'HK:' || hukou_number, hukou_number,
           id_number, delivered_on, null, null, null, relation, region_code,
           null, null, null, status, delivery_id, row_number
    from stg.household_registry where not quarantined and id_issue is null
      and list_contains(getvariable('hm_feeds'), 'household_registry')
),
numbered as (
    select m.*, s.snap_idx,
           s.snap_idx - row_number() over (
               partition by m.feed, m.id_number, m.household_key, m.category order by s.snap_idx
           ) as island
    from members m join snapshots s using (feed, delivered_on)
    -- a person listed twice in one snapshot of one household counts once: the first listing
    qualify row_number() over (
        partition by m.feed, m.id_number, m.household_key, m.delivered_on order by m.delivery_id, m.row_number
    ) = 1
),
spells as (
    select feed, household_key, min(code) as code, id_number, category,
           min(delivered_on) as valid_from,
           max(snap_idx) as last_idx,
           min(enrolled_on) as enrolled_on,
           arg_max(dibao_class, snap_idx) as dibao_class,
           arg_max(support_mode, snap_idx) as support_mode,
           arg_max(relation, snap_idx) as relation,
           arg_max(region_code, snap_idx) as region_code,
           arg_max(township, snap_idx) as township,
           arg_max(village, snap_idx) as village,
           arg_max(registry_status, snap_idx) as registry_status
    from numbered
    group by feed, household_key, id_number, category, island
),
final as (
    select k.person_id, s.feed, s.household_key, s.code, s.id_number, s.category, s.dibao_class,
           s.support_mode, s.relation, s.region_code, s.township, s.village, s.registry_status,
           s.valid_from,
           nxt.delivered_on as valid_to,
           -- on the roster, status holds from 纳入日期 when the department gives it
           case when s.feed = 'civil_affairs' then coalesce(s.enrolled_on, s.valid_from)
                else s.valid_from end as status_from
    from spells s
    join int.person_key k using (id_number)
    left join snapshots nxt on nxt.feed = s.feed and nxt.snap_idx = s.last_idx + 1
)
select * from final

-- The monitored population (低收入人口) as the civil-affairs roster stood on given days: one row per
-- person and day. The roster in force on a day is its latest snapshot delivered on or before it (the
-- same spells int.household_member keeps with valid_from/valid_to), every usable row of it: a row
-- whose ID is mistyped but linked by the probabilistic matcher is its person; a row linked to nobody
-- is a person of its own, known by its record key (so it is the same person in the next snapshot).
-- A person listed twice on one day counts once. Input of every population section of the monthly
-- report (低收入人口动态监测).
--   rpt_days: the days (the month's end, the previous month's end, the trend's month ends)
--   rpt_county: a county code (6 digits), or '' for every county in the warehouse
create or replace temp table rpt_roster as
with days as (
    select unnest(getvariable('rpt_days')) as day
),
snapshot_of_day as (
    select d.day, max(s.delivered_on) as delivered_on
    from days d
    join (select distinct delivered_on from stg.civil_affairs) s on s.delivered_on <= d.day
    group by d.day
),
roster_rows as (
    select r.delivered_on, r.row_number,
           coalesce('p:' || l.person_id, 'rk:' || r.record_key) as person,
           'CA:' || r.household_code as household_key,
           left(r.region_code, 6) as county_code,
           left(r.region_code, 9) as township_code,
           coalesce(r.township, '(未知乡镇)') as township,
           case r.category
               when '低保' then case r.dibao_class when 'A' then '低保A类' when 'B' then '低保B类' else '低保(未分类)' end
               when '特困' then case r.support_mode when '集中' then '特困(集中供养)' when '分散' then '特困(分散供养)'
                                                  else '特困(未注明)' end
               else r.category
           end as category
    from stg.civil_affairs r
    left join int.link l on l.feed = 'civil_affairs' and l.delivery_id = r.delivery_id and l.row_number = r.row_number
    where not r.quarantined
      and (getvariable('rpt_county') = '' or left(r.region_code, 6) = getvariable('rpt_county'))
),
final as (
    select d.day, r.person, r.household_key, r.county_code, r.township_code, r.township, r.category
    from snapshot_of_day d
    join roster_rows r using (delivered_on)
    qualify row_number() over (partition by d.day, r.person order by r.delivered_on desc, r.row_number) = 1
)
select * from final;

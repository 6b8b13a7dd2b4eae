-- Entries and exits during the month (纳入 / 退出) by county, township and category: a person is in
-- (township, category) at the month's start (the roster on the previous month's end) and/or at its end
-- (the roster on the report day). entered: in it at the end, not at the start; exited: the reverse;
-- so at_end - at_start = entered - exited. Of those, new_to_roster were on no roster at the start and
-- left_roster are on none at the end; the rest changed category or township.
with start_state as (
    select * from rpt_roster where day = getvariable('rpt_prev_end')
),
end_state as (
    select * from rpt_roster where day = getvariable('rpt_end')
),
cells as (
    select county_code, township_code, township, category, person, 'start' as side from start_state
    union all
    select county_code, township_code, township, category, person, 'end' from end_state
),
per_person as (
    select county_code, township_code, township, category, person,
           bool_or(side = 'start') as at_start, bool_or(side = 'end') as at_end
    from cells group by all
),
final as (
    select p.county_code, p.township_code, p.township, p.category,
           count(*) filter (where p.at_start) as at_start,
           count(*) filter (where p.at_end) as at_end,
           count(*) filter (where p.at_end and not p.at_start) as entered,
           count(*) filter (where p.at_start and not p.at_end) as exited,
           count(*) filter (where p.at_end and not p.at_start
                            and p.person not in (select person from start_state)) as new_to_roster,
           count(*) filter (where p.at_start and not p.at_end
                            and p.person not in (select person from end_state)) as left_roster
    from per_person p
    group by all
)
select * from final
order by county_code, township_code, category

-- Monitored population at each month's end of the trend window, by county and category. A month
-- end before the first roster snapshot has no figure (it is not zero: nobody knew).
with known as (
    select day from unnest(getvariable('rpt_days')) t(day)
    where day >= (select min(delivered_on) from stg.civil_affairs)
      and day >= getvariable('rpt_trend_start')
)
select strftime(k.day, '%Y-%m') as month, k.day, r.county_code, r.category, count(r.person) as persons
from known k
join rpt_roster r using (day)
group by all
order by month, county_code, category

-- Monitored population at the month's end by county, township and category: persons and households.
select county_code, township_code, township, category,
       count(*) as persons, count(distinct household_key) as households
from rpt_roster
where day = getvariable('rpt_end')
group by all
order by county_code, township_code, category
